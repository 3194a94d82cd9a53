package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/metric"

	"github.com/zpipe/zpipe/internal/testutil"
)

func TestPrometheusZeekBrokerCounters(t *testing.T) {
	tel := newPrometheusTelemetry(t, Config{ZeekNode: "manager"})
	feed := &socketFeed{}
	feed.set(
		brokerFrontend(40, 1200, 6, 180, map[string]uint64{"malformed": 2}),
		brokerBackend(3, 90, 36, 1100, map[string]uint64{"hwm": 1, "no_peer": 4}),
	)
	if _, err := tel.RegisterSockets(feed.observe); err != nil {
		t.Fatalf("RegisterSockets: %v", err)
	}

	body, fams := scrape(t, tel, "/metrics")
	node := map[string]string{"node": "manager"}
	want := map[string]float64{
		"zeek_cluster_zeromq_proxy_frontend_messages_received_total": 40,
		"zeek_cluster_zeromq_proxy_frontend_bytes_received_total":    1200,
		"zeek_cluster_zeromq_proxy_frontend_messages_sent_total":     6,
		"zeek_cluster_zeromq_proxy_frontend_bytes_sent_total":        180,
		"zeek_cluster_zeromq_proxy_backend_messages_received_total":  3,
		"zeek_cluster_zeromq_proxy_backend_bytes_received_total":     90,
		"zeek_cluster_zeromq_proxy_backend_messages_sent_total":      36,
		"zeek_cluster_zeromq_proxy_backend_bytes_sent_total":         1100,
		"zeek_cluster_zeromq_xpub_drops_total":                       1,
		"zeek_cluster_zeromq_msg_errors_total":                       2,
	}
	for name, v := range want {
		got, ok := sample(fams, name, node)
		if !ok {
			t.Errorf("%s{node=\"manager\"} missing from scrape:\n%s", name, body)
			continue
		}
		if got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
		// The exact line Zeek would render.
		line := fmt.Sprintf("%s{node=\"manager\"} %v\n", name, v)
		if !strings.Contains(body, line) {
			t.Errorf("scrape lacks the line %q", line)
		}
	}
	if !strings.Contains(body, "# HELP zeek_cluster_zeromq_proxy_frontend_messages_received_total Number of messages received by the frontend socket\n") {
		t.Errorf("frontend messages counter lacks Zeek's help text:\n%s", body)
	}
	if !strings.Contains(body, "# TYPE zeek_cluster_zeromq_xpub_drops_total counter\n") {
		t.Errorf("xpub drops is not a counter:\n%s", body)
	}

	src := map[string]string{"pipeline": "broker", "component": "source.xsub.nodes", "kind": "xsub"}
	sink := map[string]string{"pipeline": "broker", "component": "sink.xpub.nodes", "kind": "xpub"}
	zpipe := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"zpipe_messages_received_total", src, 40},
		{"zpipe_bytes_received_total", src, 1200},
		{"zpipe_subscriptions_sent_total", src, 6},
		{"zpipe_messages_sent_total", sink, 36},
		{"zpipe_bytes_sent_total", sink, 1100},
		{"zpipe_subscriptions_received_total", sink, 3},
		{"zpipe_messages_dropped_total", with(src, "error_type", "malformed"), 2},
		{"zpipe_messages_dropped_total", with(sink, "error_type", "hwm"), 1},
		{"zpipe_messages_dropped_total", with(sink, "error_type", "no_peer"), 4},
	}
	for _, c := range zpipe {
		got, ok := sample(fams, c.name, c.labels)
		if !ok {
			t.Errorf("%s%v missing from scrape:\n%s", c.name, c.labels, body)
			continue
		}
		if got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for name, mf := range fams {
		if strings.HasPrefix(name, "zpipe_") {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "node" || strings.HasPrefix(l.GetName(), "otel_scope") {
						t.Errorf("%s carries label %s", name, l.GetName())
					}
				}
			}
		}
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		out[a] = b
	}
	return out
}

func TestPrometheusCountersStayMonotonicAcrossReset(t *testing.T) {
	tel := newPrometheusTelemetry(t, Config{})
	feed := &socketFeed{}
	feed.set(
		brokerFrontend(40, 1200, 6, 180, map[string]uint64{"malformed": 2}),
		brokerBackend(3, 90, 36, 1100, map[string]uint64{"hwm": 5}),
	)
	if _, err := tel.RegisterSockets(feed.observe); err != nil {
		t.Fatalf("RegisterSockets: %v", err)
	}
	_, fams := scrape(t, tel, "/metrics")
	if v, ok := sample(fams, "zeek_cluster_zeromq_proxy_frontend_messages_received_total", nil); !ok || v != 40 {
		t.Fatalf("before reset: frontend messages = %v (present %v), want 40 without labels", v, ok)
	}

	// The transport plugin restarts: every count starts again, the drop
	// reasons it has not seen yet are gone from its map.
	feed.set(
		brokerFrontend(8, 240, 2, 60, nil),
		brokerBackend(1, 30, 4, 120, map[string]uint64{"hwm": 1}),
	)
	src := map[string]string{"pipeline": "broker", "component": "source.xsub.nodes", "kind": "xsub"}
	want := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"zeek_cluster_zeromq_proxy_frontend_messages_received_total", nil, 48},
		{"zeek_cluster_zeromq_proxy_frontend_bytes_received_total", nil, 1440},
		{"zeek_cluster_zeromq_proxy_frontend_messages_sent_total", nil, 8},
		{"zeek_cluster_zeromq_proxy_backend_messages_sent_total", nil, 40},
		{"zeek_cluster_zeromq_proxy_backend_bytes_sent_total", nil, 1220},
		{"zeek_cluster_zeromq_xpub_drops_total", nil, 6},
		{"zeek_cluster_zeromq_msg_errors_total", nil, 2},
		{"zpipe_messages_received_total", src, 48},
		{"zpipe_messages_dropped_total", with(src, "error_type", "malformed"), 2},
	}
	// Collections within 10 ms share one reading, so poll.
	testutil.EventuallyWhy(t, waitTimeout, "counters continue after the reset", func() string {
		_, fams := scrape(t, tel, "/metrics")
		for _, w := range want {
			got, ok := sample(fams, w.name, w.labels)
			if !ok || got != w.want {
				return fmt.Sprintf("%s%v = %v (present %v), want %v", w.name, w.labels, got, ok, w.want)
			}
		}
		return ""
	})

	// Counting resumes on the new base.
	feed.set(
		brokerFrontend(20, 600, 2, 60, nil),
		brokerBackend(1, 30, 4, 120, map[string]uint64{"hwm": 1}),
	)
	testutil.EventuallyWhy(t, waitTimeout, "counters grow after the reset", func() string {
		_, fams := scrape(t, tel, "/metrics")
		if got, _ := sample(fams, "zeek_cluster_zeromq_proxy_frontend_messages_received_total", nil); got != 60 {
			return fmt.Sprintf("frontend messages = %v, want 60", got)
		}
		return ""
	})
}

func TestPrometheusKeepsLastValuesWhenStatsFail(t *testing.T) {
	tel := newPrometheusTelemetry(t, Config{ZeekNode: "manager"})
	feed := &socketFeed{}
	feed.set(brokerFrontend(40, 1200, 6, 180, nil))
	if _, err := tel.RegisterSockets(feed.observe); err != nil {
		t.Fatalf("RegisterSockets: %v", err)
	}
	_, fams := scrape(t, tel, "/metrics")
	if v, _ := sample(fams, "zeek_cluster_zeromq_proxy_frontend_messages_received_total", map[string]string{"node": "manager"}); v != 40 {
		t.Fatalf("frontend messages = %v, want 40", v)
	}
	calls := feed.callCount()
	feed.fail(errors.New("plugin unavailable"))
	testutil.EventuallyWhy(t, waitTimeout, "a collection that meets the failure", func() string {
		_, fams := scrape(t, tel, "/metrics")
		if feed.callCount() == calls {
			return "observation function not called again"
		}
		if v, _ := sample(fams, "zeek_cluster_zeromq_proxy_frontend_messages_received_total", map[string]string{"node": "manager"}); v != 40 {
			return fmt.Sprintf("frontend messages = %v during failure, want 40", v)
		}
		src := map[string]string{"pipeline": "broker", "component": "source.xsub.nodes", "kind": "xsub"}
		if v, _ := sample(fams, "zpipe_messages_received_total", src); v != 40 {
			return fmt.Sprintf("zpipe messages = %v during failure, want 40", v)
		}
		return ""
	})
}

func TestPrometheusPluginsAndPipelines(t *testing.T) {
	tel := newPrometheusTelemetry(t, Config{ZeekNode: "manager"})
	var (
		plugins   = []PluginObservation{{Name: "transport-cgo", Up: true, Restarts: 2}, {Name: "codec-json", Up: false, Restarts: 0}}
		pipelines = []PipelineObservation{{Name: "broker", Up: true}, {Name: "logger", Up: false}}
	)
	feed := &pluginFeed{obs: plugins}
	if _, err := tel.RegisterPlugins(feed.observe); err != nil {
		t.Fatalf("RegisterPlugins: %v", err)
	}
	if _, err := tel.RegisterPipelines(func() []PipelineObservation { return pipelines }); err != nil {
		t.Fatalf("RegisterPipelines: %v", err)
	}

	body, fams := scrape(t, tel, "/metrics")
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"zpipe_plugin_up", map[string]string{"plugin": "transport-cgo"}, 1},
		{"zpipe_plugin_up", map[string]string{"plugin": "codec-json"}, 0},
		{"zpipe_plugin_restarts_total", map[string]string{"plugin": "transport-cgo"}, 2},
		{"zpipe_plugin_restarts_total", map[string]string{"plugin": "codec-json"}, 0},
		{"zpipe_pipeline_up", map[string]string{"pipeline": "broker"}, 1},
		{"zpipe_pipeline_up", map[string]string{"pipeline": "logger"}, 0},
	}
	for _, c := range checks {
		got, ok := sample(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v\n%s", c.name, c.labels, got, ok, c.want, body)
		}
	}
	if fams["zpipe_plugin_up"].GetType() != dto.MetricType_GAUGE {
		t.Errorf("zpipe_plugin_up is %v, want gauge", fams["zpipe_plugin_up"].GetType())
	}

	// The core lost its restart count (say, the supervisor was rebuilt):
	// the exported counter keeps growing from where it was.
	feed.set([]PluginObservation{{Name: "transport-cgo", Up: true, Restarts: 1}})
	_, fams = scrape(t, tel, "/metrics")
	if got, _ := sample(fams, "zpipe_plugin_restarts_total", map[string]string{"plugin": "transport-cgo"}); got != 3 {
		t.Errorf("restarts after a lower reading = %v, want 3", got)
	}
	if _, ok := sample(fams, "zpipe_plugin_up", map[string]string{"plugin": "codec-json"}); ok {
		t.Errorf("zpipe_plugin_up of a plugin no longer observed is still exported")
	}
}

// TestPrometheusStages: stage counters under their component, queue
// gauges in messages and bytes, and Zeek's onloop drops as the sum of the onloop stages'
// queue_full drops (node label as configured).
func TestPrometheusStages(t *testing.T) {
	tel := newPrometheusTelemetry(t, Config{ZeekNode: "logger-1"})
	if _, err := tel.RegisterStages(func() []StageObservation {
		return []StageObservation{
			{Pipeline: "logger", Component: "stage.onloop.a", Kind: "onloop", Received: 100, Sent: 90,
				Dropped: map[string]uint64{"queue_full": 7}, HasDepth: true, Depth: 3, Capacity: 10, Bytes: 3000, MaxBytes: 1 << 20},
			{Pipeline: "logger", Component: "stage.onloop.b", Kind: "onloop",
				Dropped: map[string]uint64{"queue_full": 5}, HasDepth: true, Capacity: 0},
			{Pipeline: "logger", Component: "stage.transcode.t", Kind: "transcode", Received: 9, Sent: 8, Undecoded: 2,
				Dropped: map[string]uint64{"malformed": 1, "queue_full": 100}},
		}
	}); err != nil {
		t.Fatal(err)
	}
	body, fams := scrape(t, tel, "/metrics")
	a := map[string]string{"pipeline": "logger", "component": "stage.onloop.a", "kind": "onloop"}
	tc := map[string]string{"pipeline": "logger", "component": "stage.transcode.t", "kind": "transcode"}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"zpipe_messages_received_total", a, 100},
		{"zpipe_messages_sent_total", a, 90},
		{"zpipe_messages_dropped_total", map[string]string{"pipeline": "logger", "component": "stage.onloop.a", "kind": "onloop", "error_type": "queue_full"}, 7},
		{"zpipe_queue_depth", a, 3},
		{"zpipe_queue_capacity", a, 10},
		{"zpipe_queue_bytes", a, 3000},
		{"zpipe_queue_bytes_capacity", a, 1 << 20},
		{"zpipe_messages_undecoded_total", tc, 2},
		{"zpipe_messages_dropped_total", map[string]string{"pipeline": "logger", "component": "stage.transcode.t", "kind": "transcode", "error_type": "malformed"}, 1},
		// Only onloop stages count as Zeek's onloop drops.
		{"zeek_cluster_zeromq_onloop_drops_total", map[string]string{"node": "logger-1"}, 12},
	}
	for _, c := range checks {
		got, ok := sample(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v\n%s", c.name, c.labels, got, ok, c.want, body)
		}
	}
	for _, name := range []string{"zpipe_queue_depth", "zpipe_queue_bytes"} {
		if _, ok := sample(fams, name, tc); ok {
			t.Errorf("a stage without a queue exports %s", name)
		}
	}
}

// pluginFeed hands out the plugin states the test set last.
type pluginFeed struct {
	mu  sync.Mutex
	obs []PluginObservation
}

func (f *pluginFeed) set(obs []PluginObservation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.obs = obs
}

func (f *pluginFeed) observe() []PluginObservation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]PluginObservation(nil), f.obs...)
}

func TestPrometheusHealthzAndPath(t *testing.T) {
	tel := newPrometheusTelemetry(t, Config{Prometheus: &PrometheusConfig{Listen: "127.0.0.1:0", Path: "/custom"}})
	if addr, ok := tel.PrometheusAddr().(*net.TCPAddr); !ok || addr.Port == 0 {
		t.Fatalf("PrometheusAddr = %v, want a bound TCP address", tel.PrometheusAddr())
	}
	status, body := get(t, fmt.Sprintf("http://%s/healthz", tel.PrometheusAddr()))
	if status != http.StatusOK || body != "ok" {
		t.Errorf("GET /healthz = %d %q, want 200 \"ok\"", status, body)
	}
	if status, _ := get(t, fmt.Sprintf("http://%s/metrics", tel.PrometheusAddr())); status != http.StatusNotFound {
		t.Errorf("GET /metrics with Path /custom = %d, want 404", status)
	}
	body, fams := scrape(t, tel, "/custom")
	if _, ok := fams["target_info"]; !ok {
		t.Errorf("scrape lacks target_info:\n%s", body)
	}
}

func TestPrometheusResourceInTargetInfo(t *testing.T) {
	tel := newPrometheusTelemetry(t, Config{
		ServiceName:        "zpipe-broker",
		InstanceID:         "broker-1",
		ResourceAttributes: map[string]string{"deployment.environment.name": "test"},
	})
	body, fams := scrape(t, tel, "/metrics")
	mf, ok := fams["target_info"]
	if !ok || len(mf.GetMetric()) != 1 {
		t.Fatalf("target_info missing:\n%s", body)
	}
	labels := map[string]string{}
	for _, l := range mf.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	for k, v := range map[string]string{
		"service_name":                "zpipe-broker",
		"service_instance_id":         "broker-1",
		"deployment_environment_name": "test",
	} {
		if labels[k] != v {
			t.Errorf("target_info %s = %q, want %q", k, labels[k], v)
		}
	}
	if labels["host_name"] == "" {
		t.Errorf("target_info has no host_name: %v", labels)
	}
}

func TestPrometheusDefaultResource(t *testing.T) {
	tel := newPrometheusTelemetry(t, Config{})
	_, fams := scrape(t, tel, "/metrics")
	labels := map[string]string{}
	for _, l := range fams["target_info"].GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["service_name"] != "zpipe" {
		t.Errorf("default service_name = %q, want zpipe", labels["service_name"])
	}
	if labels["service_instance_id"] == "" {
		t.Errorf("no default service_instance_id: %v", labels)
	}
}

// TestPrometheusUnitRendering pins down how this exporter version renders
// the units the catalog avoids or relies on.
func TestPrometheusUnitRendering(t *testing.T) {
	tel := newPrometheusTelemetry(t, Config{})
	m := tel.MeterProvider().Meter("unit-probe")
	probe := func(make func() (metric.Int64Observable, error)) {
		inst, err := make()
		if err != nil {
			t.Fatalf("create probe instrument: %v", err)
		}
		if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			o.ObserveInt64(inst, 1)
			return nil
		}, inst); err != nil {
			t.Fatalf("register probe: %v", err)
		}
	}
	probe(func() (metric.Int64Observable, error) {
		return m.Int64ObservableGauge("probe.state", metric.WithUnit("1"))
	})
	probe(func() (metric.Int64Observable, error) {
		return m.Int64ObservableCounter("probe.payload", metric.WithUnit("By"))
	})
	probe(func() (metric.Int64Observable, error) {
		return m.Int64ObservableCounter("probe.payload.bytes.sent", metric.WithUnit("By"))
	})
	probe(func() (metric.Int64Observable, error) {
		return m.Int64ObservableCounter("probe.events", metric.WithUnit("{event}"))
	})
	body, fams := scrape(t, tel, "/metrics")
	for _, name := range []string{
		"probe_state_ratio",              // "1" on a gauge: why the up gauges have no unit
		"probe_payload_bytes_total",      // "By" adds _bytes ...
		"probe_payload_bytes_sent_total", // ... unless the name holds "bytes" already
		"probe_events_total",             // annotations add nothing
	} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s not rendered:\n%s", name, body)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer taken.Close()

	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"address in use", Config{Prometheus: &PrometheusConfig{Listen: taken.Addr().String()}}, taken.Addr().String()},
		{"bad address", Config{Prometheus: &PrometheusConfig{Listen: "no-port"}}, `"no-port"`},
		{"empty address", Config{Prometheus: &PrometheusConfig{}}, "listen address is empty"},
		{"relative path", Config{Prometheus: &PrometheusConfig{Listen: "127.0.0.1:0", Path: "metrics"}}, `"metrics" must start with "/"`},
		{"health path", Config{Prometheus: &PrometheusConfig{Listen: "127.0.0.1:0", Path: "/healthz"}}, "health check"},
		{"otlp protocol", Config{OTLP: &OTLPConfig{Endpoint: "127.0.0.1:4317", Protocol: "udp"}}, `protocol "udp"`},
		{"otlp empty endpoint", Config{OTLP: &OTLPConfig{}}, "endpoint is empty"},
		{"otlp endpoint without port", Config{OTLP: &OTLPConfig{Endpoint: "collector"}}, `"collector"`},
		{"otlp scheme", Config{OTLP: &OTLPConfig{Endpoint: "ftp://collector:21"}}, `scheme "ftp"`},
		{"otlp url without host", Config{OTLP: &OTLPConfig{Endpoint: "http:///v1/metrics", Protocol: "http"}}, "no host"},
		{"otlp grpc path", Config{OTLP: &OTLPConfig{Endpoint: "http://collector:4317/x"}}, "gRPC takes no path"},
		{"otlp negative interval", Config{OTLP: &OTLPConfig{Endpoint: "collector:4317", Interval: -1}}, "must not be negative"},
		{"empty resource key", Config{ResourceAttributes: map[string]string{"": "x"}}, "empty key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tel, err := New(context.Background(), c.cfg)
			if err == nil {
				_ = tel.Shutdown(context.Background())
				t.Fatalf("New accepted %+v", c.cfg)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestShutdownStopsServer(t *testing.T) {
	tel, err := New(context.Background(), Config{Prometheus: &PrometheusConfig{Listen: "127.0.0.1:0"}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	addr := tel.PrometheusAddr().String()
	if status, _ := get(t, "http://"+addr+"/healthz"); status != http.StatusOK {
		t.Fatalf("healthz before shutdown = %d", status)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Get("http://" + addr + "/healthz"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) == "ok" {
			t.Errorf("server still answers after Shutdown: %d %q", resp.StatusCode, body)
		}
	}
}

func TestWithoutExporters(t *testing.T) {
	tel, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if tel.PrometheusAddr() != nil {
		t.Errorf("PrometheusAddr = %v without Prometheus", tel.PrometheusAddr())
	}
	feed := &socketFeed{}
	if _, err := tel.RegisterSockets(feed.observe); err != nil {
		t.Errorf("RegisterSockets: %v", err)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
