//go:build e2eotel

// The tests of this file run against a real OpenTelemetry Collector,
// built by `make e2e-otel` (scripts/build-otelcol.sh) and named by
// $ZPIPE_OTELCOL; they are not part of `make test`.

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/zpipe/zpipe/internal/syncbuf"
	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// collector is a running OpenTelemetry Collector: an OTLP receiver (gRPC
// and HTTP) whose logs a file exporter writes as OTLP JSON lines.
type collector struct {
	grpc, http string // host:port
	out        string // the file exporter's output of logs
	metricsOut string // and of metrics
	output     *syncbuf.Buffer
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	bin := os.Getenv("ZPIPE_OTELCOL")
	if bin == "" {
		t.Fatal("ZPIPE_OTELCOL is not set: run these tests with `make e2e-otel`, which builds the collector")
	}
	ports, err := brokerproc.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &collector{
		grpc:       "127.0.0.1:" + strconv.Itoa(ports[0]),
		http:       "127.0.0.1:" + strconv.Itoa(ports[1]),
		out:        filepath.Join(dir, "logs.jsonl"),
		metricsOut: filepath.Join(dir, "metrics.jsonl"),
		output:     &syncbuf.Buffer{},
	}
	config := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
exporters:
  file:
    path: %s
    flush_interval: 50ms
  file/metrics:
    path: %s
    flush_interval: 50ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file]
    metrics:
      receivers: [otlp]
      exporters: [file/metrics]
`, c.grpc, c.http, c.out, c.metricsOut)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = c.output, c.output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("collector output:\n%s", c.output.String())
		}
	})
	deadline := time.Now().Add(waitTimeout)
	for !strings.Contains(c.output.String(), "Everything is ready") {
		if time.Now().After(deadline) {
			t.Fatalf("the collector did not start:\n%s", c.output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// records returns every log record the collector wrote so far, with the
// resource attributes of its batch.
func (c *collector) records(t *testing.T) []exported {
	t.Helper()
	data, err := os.ReadFile(c.out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []exported
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var req collogspb.ExportLogsServiceRequest
		if err := protojson.Unmarshal(sc.Bytes(), &req); err != nil {
			if !bytes.HasSuffix(data, []byte("\n")) {
				break // being written
			}
			t.Fatalf("collector output %q: %v", sc.Text(), err)
		}
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, r := range sl.LogRecords {
					out = append(out, exported{resource: attrMap(rl.GetResource().GetAttributes()), record: r})
				}
			}
		}
	}
	return out
}

// waitRecords waits until the collector has written at least n records.
func (c *collector) waitRecords(t *testing.T, n int) []exported {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		recs := c.records(t)
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector has %d records, want %d", len(recs), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metricNames waits until the collector has written metrics from the
// service called service, and returns their names.
func (c *collector) metricNames(t *testing.T, service string) map[string]bool {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		names := map[string]bool{}
		data, _ := os.ReadFile(c.metricsOut)
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var req colmetricspb.ExportMetricsServiceRequest
			if err := protojson.Unmarshal(sc.Bytes(), &req); err != nil {
				break // a line being written
			}
			for _, rm := range req.ResourceMetrics {
				if attrMap(rm.GetResource().GetAttributes())["service.name"].GetStringValue() != service {
					continue
				}
				for _, sm := range rm.ScopeMetrics {
					for _, m := range sm.Metrics {
						names[m.Name] = true
					}
				}
			}
		}
		if len(names) > 0 {
			return names
		}
		if time.Now().After(deadline) {
			t.Fatalf("no metrics from %s reached the collector", service)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type exported struct {
	resource map[string]*commonpb.AnyValue
	record   *logspb.LogRecord
}

func attrMap(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := make(map[string]*commonpb.AnyValue, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestOTelLogs: pipelines/zeek-logs-to-otel.hcl, fed Zeek's captured log
// batches by a libzmq node, writes Zeek's files and exports one OTLP log
// record per Zeek record to a real collector, over gRPC and over HTTP, and
// pushes zpipe's own metrics to the same collector.
func TestOTelLogs(t *testing.T) {
	for _, protocol := range []string{"grpc", "http"} {
		t.Run(protocol, func(t *testing.T) {
			col := startCollector(t)
			endpoint := col.grpc
			if protocol == "http" {
				endpoint = "http://" + col.http
			}
			ports, err := brokerproc.FreePorts(2)
			if err != nil {
				t.Fatal(err)
			}
			listen := "tcp://127.0.0.1:" + strconv.Itoa(ports[0])
			dir := t.TempDir()
			p := runPipeline(t, brokerproc.Zpipe, "zeek-logs-to-otel.hcl", "listen_log_endpoint="+listen,
				"metrics_listen=127.0.0.1:"+strconv.Itoa(ports[1]), "log_dir="+dir,
				"otlp_endpoint="+endpoint, "otlp_protocol="+protocol)
			push := pushSocket(t, listen)
			want := map[string]int{"conn": 9, "dns": 8}
			for _, name := range []string{"zeek-log-conn-7rec.hex", "zeek-log-conn-1rec-a.hex", "zeek-log-conn-1rec-b.hex", "zeek-log-dns-8rec.hex"} {
				frames, err := zeektest.LoadVector(name)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := push.SendMessage(frames); err != nil {
					t.Fatal(err)
				}
			}
			recs := col.waitRecords(t, want["conn"]+want["dns"])
			p.stop(t)
			got := map[string]int{}
			for _, r := range recs {
				path, ok := strings.CutPrefix(r.record.EventName, "zeek.log.")
				if !ok {
					t.Fatalf("record with EventName %q", r.record.EventName)
				}
				got[path]++
				attrs := attrMap(r.record.Attributes)
				if path == "conn" {
					if attrs["id.orig_h"].GetStringValue() == "" || attrs["uid"].GetStringValue() == "" {
						t.Fatalf("conn record without id.orig_h or uid: %v", r.record)
					}
					if _, ok := attrs["id.resp_p"].GetValue().(*commonpb.AnyValue_IntValue); !ok {
						t.Fatalf("id.resp_p is not an int: %v", attrs["id.resp_p"])
					}
				}
				if r.record.TimeUnixNano == 0 {
					t.Fatalf("record without a time: %v", r.record)
				}
				if r.resource["service.name"].GetStringValue() == "" {
					t.Fatalf("resource without service.name: %v", r.resource)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("records per path %v, want %v", got, want)
			}
			for _, file := range []string{"conn.log", "dns.log"} {
				if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
					t.Errorf("the log files were not written beside the export: %v", err)
				}
			}
			// zpipe's own metrics went to the same collector (flushed at
			// the latest when zpipe stopped).
			names := col.metricNames(t, "zpipe-logs-to-otel")
			for _, want := range []string{"zpipe.messages.received", "zpipe.messages.sent", "zeek.cluster.zeromq.onloop.drops"} {
				if !names[want] {
					t.Errorf("metric %s did not reach the collector; it has %v", want, names)
				}
			}
		})
	}
}

// TestOTelEvents: pipelines/zeek-to-otel.hcl joins a cluster of Zeek-like
// nodes on a zpipe broker invisibly and exports their events to a real
// collector; the nodes see no node-id subscription from it.
func TestOTelEvents(t *testing.T) {
	col := startCollector(t)
	b := StartBroker(t, brokerproc.Zpipe)
	ctx := waitCtx(t, 2*waitTimeout)
	ports, err := brokerproc.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	p := runPipeline(t, brokerproc.Zpipe, "zeek-to-otel.hcl", "connect_xsub_endpoint="+b.Endpoints().XPub,
		`topics=["zeek.test."]`, "otlp_endpoint="+col.grpc, "metrics_listen=127.0.0.1:"+strconv.Itoa(ports[0]))
	worker := startNode(t, b, zeektest.Config{Name: "worker-1", KnownNodes: cluster})
	if err := worker.WaitSubscriptionSeen(ctx, "zeek.test."); err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		if err := worker.PublishEvent("zeek.test.bridge", "Test::ping", "hello", uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	recs := col.waitRecords(t, n)
	p.stop(t)
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		attrs := attrMap(r.record.Attributes)
		if r.record.EventName != "Test::ping" || attrs["messaging.system"].GetStringValue() != "zeromq" ||
			attrs["messaging.destination.name"].GetStringValue() != "zeek.test.bridge" ||
			attrs["zeek.node_id"].GetStringValue() != worker.ID() {
			t.Fatalf("record %d: %v", i, r.record)
		}
		args := r.record.Body.GetArrayValue().GetValues()
		if len(args) != 2 || args[0].GetStringValue() != "hello" || args[1].GetIntValue() != int64(i) {
			t.Fatalf("record %d body %v, want [hello %d]", i, r.record.Body, i)
		}
	}
	for _, s := range worker.Subscriptions() {
		if strings.HasPrefix(s.Prefix, zeektest.NodeIDTopicPrefix) && !strings.Contains(s.Prefix, worker.ID()) {
			// other node-id subscriptions would be the bridge showing itself
			t.Fatalf("the worker saw a node-id subscription %s: the bridge is not invisible", s)
		}
	}
}
