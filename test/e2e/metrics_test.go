package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// zeekCounters are the eight counters Zeek's proxy exports.
var zeekCounters = []string{
	"zeek_cluster_zeromq_proxy_frontend_messages_received_total",
	"zeek_cluster_zeromq_proxy_frontend_bytes_received_total",
	"zeek_cluster_zeromq_proxy_frontend_messages_sent_total",
	"zeek_cluster_zeromq_proxy_frontend_bytes_sent_total",
	"zeek_cluster_zeromq_proxy_backend_messages_received_total",
	"zeek_cluster_zeromq_proxy_backend_bytes_received_total",
	"zeek_cluster_zeromq_proxy_backend_messages_sent_total",
	"zeek_cluster_zeromq_proxy_backend_bytes_sent_total",
}

// TestBrokerMetrics: the zpipe broker's /metrics shows Zeek's eight proxy
// counters (whole messages and payload bytes, as libzmq's proxy counts
// them for Zeek), and they move by exactly the traffic that crossed it.
func TestBrokerMetrics(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) { testBrokerMetrics(t, StartBroker(t, kind)) })
}

func testBrokerMetrics(t *testing.T, b *brokerproc.Process) {
	ctx := waitCtx(t, 2*waitTimeout)
	before := metrics(t, b)
	for _, name := range zeekCounters {
		if _, ok := before[name]; !ok {
			t.Fatalf("/metrics lacks %s", name)
		}
	}
	manager := startNode(t, b, zeektest.Config{Name: "manager", Role: "manager", Topics: []string{"zeek.test.events"}, KnownNodes: cluster})
	worker := startNode(t, b, zeektest.Config{Name: "worker-1", KnownNodes: cluster})
	for _, pair := range [][2]*zeektest.Node{{manager, worker}, {worker, manager}} {
		if _, err := pair[0].WaitNodeUp(ctx, pair[1].Name()); err != nil {
			t.Fatal(err)
		}
	}
	if err := worker.WaitSubscriptionSeen(ctx, "zeek.test.events"); err != nil {
		t.Fatal(err)
	}
	handshake := stableMetrics(t, b)
	if handshake["zeek_cluster_zeromq_proxy_frontend_messages_received_total"] < 4 ||
		handshake["zeek_cluster_zeromq_proxy_backend_messages_received_total"] < 2 {
		t.Fatalf("the handshake did not move the counters: %v", metricsMatching(handshake, "zeek_cluster"))
	}

	// N events of a known size, worker → manager; then one subscription.
	const n = 250
	payload := bytes.Repeat([]byte{0x42}, 100)
	eventBytes := float64(len("zeek.test.events") + len(worker.ID()) + len(zeektest.FormatBrokerBinV1) + len(payload))
	received := len(manager.Received())
	for range n {
		if err := worker.Publish("zeek.test.events", payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := manager.WaitReceived(ctx, received+n); err != nil {
		t.Fatal(err)
	}
	const extra = "zeek.metrics.probe"
	if err := manager.Subscribe(extra); err != nil {
		t.Fatal(err)
	}
	if err := worker.WaitSubscriptionSeen(ctx, extra); err != nil {
		t.Fatal(err)
	}
	subBytes := float64(1 + len(extra))
	want := map[string]float64{
		"zeek_cluster_zeromq_proxy_frontend_messages_received_total": n,
		"zeek_cluster_zeromq_proxy_frontend_bytes_received_total":    n * eventBytes,
		"zeek_cluster_zeromq_proxy_backend_messages_sent_total":      n,
		"zeek_cluster_zeromq_proxy_backend_bytes_sent_total":         n * eventBytes,
		"zeek_cluster_zeromq_proxy_backend_messages_received_total":  1,
		"zeek_cluster_zeromq_proxy_backend_bytes_received_total":     subBytes,
		"zeek_cluster_zeromq_proxy_frontend_messages_sent_total":     1,
		"zeek_cluster_zeromq_proxy_frontend_bytes_sent_total":        subBytes,
		"zeek_cluster_zeromq_xpub_drops_total":                       0,
		"zeek_cluster_zeromq_msg_errors_total":                       0,
	}
	after := stableMetrics(t, b)
	for name, w := range want {
		if got := after[name] - handshake[name]; got != w {
			t.Errorf("%s moved by %v, want %v", name, got, w)
		}
	}
	if got := after["zpipe_plugin_up"]; got != 1 {
		t.Errorf("zpipe_plugin_up = %v, want 1", got)
	}
	if got := after["zpipe_pipeline_up"]; got != 1 {
		t.Errorf("zpipe_pipeline_up = %v, want 1", got)
	}
}

// stableMetrics scrapes until two scrapes in a row agree on the Zeek
// counters, so no forwarded message is still being counted.
func stableMetrics(t *testing.T, b *brokerproc.Process) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	prev := metrics(t, b)
	for {
		time.Sleep(100 * time.Millisecond)
		cur := metrics(t, b)
		same := true
		for _, name := range zeekCounters {
			if cur[name] != prev[name] {
				same = false
			}
		}
		if same {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters still moving after %s: %v", waitTimeout, fmt.Sprint(metricsMatching(cur, "zeek_cluster")))
		}
		prev = cur
	}
}

// TestMetricsWithAHungPlugin: a transport plugin that stops answering
// (SIGSTOP: alive, but never replying) does not take the metrics endpoint
// down with it: /metrics answers within a few seconds, still showing the
// broker's counters at their last readings, and everything resumes when
// the plugin does.
func TestMetricsWithAHungPlugin(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		b := StartBroker(t, kind)
		before := metrics(t, b)
		plugin := pluginPID(t, b.PID())
		if err := syscall.Kill(plugin, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		resumed := false
		resume := func() {
			if !resumed {
				resumed = true
				if err := syscall.Kill(plugin, syscall.SIGCONT); err != nil {
					t.Error(err)
				}
			}
		}
		defer resume()
		client := &http.Client{Timeout: 10 * time.Second}
		for i := range 2 {
			start := time.Now()
			resp, err := client.Get("http://" + b.Endpoints().Metrics + "/metrics")
			if err != nil {
				t.Fatalf("%s: scrape %d with the plugin stopped: %v", kind, i, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: scrape %d with the plugin stopped: %s, %v", kind, i, resp.Status, err)
			}
			t.Logf("%s: scrape %d with the plugin stopped took %v", kind, i, time.Since(start).Round(time.Millisecond))
			for _, name := range zeekCounters {
				if !bytes.Contains(body, []byte(name)) {
					t.Errorf("%s: /metrics lost %s while the plugin was stopped", kind, name)
				}
			}
		}
		resume()
		after := metrics(t, b)
		if after["zeek_cluster_zeromq_proxy_backend_messages_received_total"] < before["zeek_cluster_zeromq_proxy_backend_messages_received_total"] {
			t.Errorf("%s: counters went back after the plugin resumed", kind)
		}
	})
}
