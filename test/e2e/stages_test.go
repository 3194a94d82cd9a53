package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/brokerjson"
	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
	"github.com/zpipe/zpipe/internal/zmqtest"
)

// transcodePipeline is a relay through the core: events arrive on a PULL
// socket, wait in an onloop queue, are re-encoded as broker-json-v1 by the
// codec plugins and leave through a PUSH socket.
const transcodePipeline = `
telemetry {
  prometheus { listen = "%s" }
}

pipeline "relay" {
  source "pull" "in" {
    bind = ["%s"]
  }
  stage "onloop" "queue" {
    hwm = 1000
  }
  stage "transcode" "json" {
    to        = "broker-json-v1"
    unhandled = "drop"
  }
  sink "push" "out" {
    connect = ["%s"]
  }
}
`

// TestTranscodeRelay runs a pipeline with stages as real processes (zpipe,
// the transport plugin, the codec plugins): captured Zeek events come out
// as Broker JSON, an unknown format is dropped and counted, and the stage
// counters reach /metrics. On every zpipe transport.
func TestTranscodeRelay(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		ports, err := brokerproc.FreePorts(2)
		if err != nil {
			t.Fatal(err)
		}
		metricsAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
		inEP := "tcp://127.0.0.1:" + strconv.Itoa(ports[1])
		zctx, err := zmq.NewContext()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = zctx.Term() })
		out, err := zctx.NewSocket(zmq.PULL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { out.Close() })
		if err := out.Bind("tcp://127.0.0.1:*"); err != nil {
			t.Fatal(err)
		}
		outEP, _ := out.GetLastEndpoint()
		file := filepath.Join(t.TempDir(), "relay.hcl")
		if err := os.WriteFile(file, fmt.Appendf(nil, transcodePipeline, metricsAddr, inEP, outEP), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"run", "--plugin-dir", brokers.pluginDir, file}
		if kind == brokerproc.ZpipePurego {
			args = append(args, "--transport", "purego")
		}
		var output bytes.Buffer
		cmd := exec.Command(brokers.zpipeBin, args...)
		cmd.Stdout, cmd.Stderr = &output, &output
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("zpipe did not exit cleanly on SIGTERM: %v", err)
				}
			case <-time.After(20 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Error("zpipe did not exit within 20s of SIGTERM")
			}
			if t.Failed() {
				t.Logf("zpipe output:\n%s", output.String())
			}
		})

		in, err := zctx.NewSocket(zmq.PUSH)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close() })
		if err := in.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		if err := in.Connect(inEP); err != nil {
			t.Fatal(err)
		}
		events := []string{"zeek-event-test_event.hex", "zeek-event-zeromq-hello.hex", "zeek-event-cluster-hello.hex"}
		var sent [][][]byte
		for _, name := range events {
			frames, err := zeektest.LoadVector(name)
			if err != nil {
				t.Fatal(err)
			}
			sent = append(sent, frames)
		}
		// An unknown format between the events: dropped, counted.
		if _, err := in.SendMessage("zeek.test", "node", "no-such-format", "x"); err != nil {
			t.Fatal(err)
		}
		for _, frames := range sent {
			if _, err := in.SendMessage(frames); err != nil {
				t.Fatal(err)
			}
		}
		for i, frames := range sent {
			got := zmqtest.Recv(t, waitTimeout, out, in)
			ev, err := brokerbin.Codec{}.DecodeEvent(frames[3])
			if err != nil {
				t.Fatal(err)
			}
			want, err := brokerjson.Codec{}.AppendEvent(nil, &ev)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 4 || !bytes.Equal(got[0], frames[0]) || !bytes.Equal(got[1], frames[1]) ||
				string(got[2]) != "broker-json-v1" || !bytes.Equal(got[3], want) {
				t.Fatalf("event %d (%s) arrived as %q, want payload %s", i, events[i], got, want)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		for {
			m := scrapeURL(t, "http://"+metricsAddr+"/metrics")
			drop := m[`zpipe_messages_dropped_total{component="stage.transcode.json",error_type="no_codec",kind="transcode",pipeline="relay"}`]
			sentJSON := m[`zpipe_messages_sent_total{component="stage.transcode.json",kind="transcode",pipeline="relay"}`]
			_, gauge := m[`zpipe_queue_capacity{component="stage.onloop.queue",kind="onloop",pipeline="relay"}`]
			if drop == 1 && sentJSON == 3 && gauge {
				if m["zeek_cluster_zeromq_onloop_drops_total"] != 0 {
					t.Fatalf("onloop drops %v", m["zeek_cluster_zeromq_onloop_drops_total"])
				}
				break
			}
			if ctx.Err() != nil {
				var lines []string
				for k, v := range m {
					if strings.Contains(k, "stage.") || strings.Contains(k, "onloop") {
						lines = append(lines, fmt.Sprintf("%s %v", k, v))
					}
				}
				t.Fatalf("stage metrics never showed 1 no_codec drop and 3 sent:\n%s", strings.Join(lines, "\n"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// scrapeURL reads a Prometheus endpoint into a map keyed by
// name{label="value",…} (labels sorted; the bare name for unlabelled
// series). An endpoint that is not up yet gives an empty map.
func scrapeURL(t *testing.T, url string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return out
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}
