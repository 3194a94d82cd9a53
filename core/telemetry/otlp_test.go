package telemetry

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/zpipe/zpipe/internal/testutil"
)

// otlpSink records what an OTLP metrics receiver got.
type otlpSink struct {
	mu       sync.Mutex
	requests []*colmetricpb.ExportMetricsServiceRequest
	headers  []map[string]string
	paths    []string
}

func (s *otlpSink) add(req *colmetricpb.ExportMetricsServiceRequest, headers map[string]string, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	s.headers = append(s.headers, headers)
	s.paths = append(s.paths, path)
}

// snapshot returns the requests received so far.
func (s *otlpSink) snapshot() ([]*colmetricpb.ExportMetricsServiceRequest, []map[string]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*colmetricpb.ExportMetricsServiceRequest(nil), s.requests...),
		append([]map[string]string(nil), s.headers...),
		append([]string(nil), s.paths...)
}

// grpcCollector is an OTLP/gRPC metrics receiver.
type grpcCollector struct {
	colmetricpb.UnimplementedMetricsServiceServer
	sink *otlpSink
}

func (c *grpcCollector) Export(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	headers := map[string]string{}
	for k, v := range md {
		headers[k] = strings.Join(v, ",")
	}
	c.sink.add(req, headers, "")
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

// startGRPCCollector serves an OTLP/gRPC metrics receiver on a free
// loopback port until the test ends.
func startGRPCCollector(t *testing.T) (string, *otlpSink) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	sink := &otlpSink{}
	srv := grpc.NewServer()
	colmetricpb.RegisterMetricsServiceServer(srv, &grpcCollector{sink: sink})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return ln.Addr().String(), sink
}

// startHTTPCollector serves an OTLP/HTTP (protobuf) metrics receiver on a
// free loopback port until the test ends.
func startHTTPCollector(t *testing.T) (string, *otlpSink) {
	t.Helper()
	sink := &otlpSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want a protobuf POST", http.StatusUnsupportedMediaType)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := &colmetricpb.ExportMetricsServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		headers := map[string]string{}
		for k := range r.Header {
			headers[strings.ToLower(k)] = r.Header.Get(k)
		}
		sink.add(req, headers, r.URL.Path)
		resp, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), sink
}

// otlpPoint finds the int64 value of metric name whose attributes are
// exactly want, in the latest request holding it.
func otlpPoint(reqs []*colmetricpb.ExportMetricsServiceRequest, name string, want map[string]string) (value int64, unit string, found bool) {
	for _, req := range reqs {
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() != name {
						continue
					}
					var points []*metricpb.NumberDataPoint
					if s := m.GetSum(); s != nil {
						points = s.GetDataPoints()
					} else if g := m.GetGauge(); g != nil {
						points = g.GetDataPoints()
					}
					for _, p := range points {
						if kvEqual(p.GetAttributes(), want) {
							value, unit, found = p.GetAsInt(), m.GetUnit(), true
						}
					}
				}
			}
		}
	}
	return value, unit, found
}

func kvEqual(kvs []*commonpb.KeyValue, want map[string]string) bool {
	if len(kvs) != len(want) {
		return false
	}
	for _, kv := range kvs {
		if v, ok := want[kv.GetKey()]; !ok || v != kv.GetValue().GetStringValue() {
			return false
		}
	}
	return true
}

// resourceAttrs returns the resource attributes of the first request.
func resourceAttrs(reqs []*colmetricpb.ExportMetricsServiceRequest) map[string]string {
	out := map[string]string{}
	if len(reqs) == 0 || len(reqs[0].GetResourceMetrics()) == 0 {
		return out
	}
	for _, kv := range reqs[0].GetResourceMetrics()[0].GetResource().GetAttributes() {
		out[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return out
}

func checkOTLPExport(t *testing.T, reqs []*colmetricpb.ExportMetricsServiceRequest, headers []map[string]string) {
	t.Helper()
	res := resourceAttrs(reqs)
	for k, v := range map[string]string{
		"service.name":                "zpipe-broker",
		"service.instance.id":         "broker-1",
		"deployment.environment.name": "test",
	} {
		if res[k] != v {
			t.Errorf("resource %s = %q, want %q (resource %v)", k, res[k], v, res)
		}
	}
	if res["host.name"] == "" {
		t.Errorf("resource has no host.name: %v", res)
	}
	for i, h := range headers {
		if h["x-zpipe-token"] != "s3cret" {
			t.Errorf("request %d lacks header x-zpipe-token: %v", i, h)
		}
	}
	v, unit, ok := otlpPoint(reqs, MetricZeekProxyFrontendMessagesReceived, map[string]string{"node": "manager"})
	if !ok || v != 40 || unit != "{message}" {
		t.Errorf("%s{node=manager} = %d %q (present %v), want 40 {message}", MetricZeekProxyFrontendMessagesReceived, v, unit, ok)
	}
	src := map[string]string{"pipeline": "broker", "component": "source.xsub.nodes", "kind": "xsub"}
	if v, unit, ok := otlpPoint(reqs, MetricBytesReceived, src); !ok || v != 1200 || unit != "By" {
		t.Errorf("%s%v = %d %q (present %v), want 1200 By", MetricBytesReceived, src, v, unit, ok)
	}
	if v, _, ok := otlpPoint(reqs, MetricPipelineUp, map[string]string{"pipeline": "broker"}); !ok || v != 1 {
		t.Errorf("%s{pipeline=broker} = %d (present %v), want 1", MetricPipelineUp, v, ok)
	}
}

func newOTLPTelemetry(t *testing.T, otlp *OTLPConfig) *Telemetry {
	t.Helper()
	otlp.Headers = map[string]string{"x-zpipe-token": "s3cret"}
	tel, err := New(context.Background(), Config{
		ServiceName:        "zpipe-broker",
		InstanceID:         "broker-1",
		ResourceAttributes: map[string]string{"deployment.environment.name": "test"},
		ZeekNode:           "manager",
		OTLP:               otlp,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	feed := &socketFeed{}
	feed.set(
		brokerFrontend(40, 1200, 6, 180, nil),
		brokerBackend(3, 90, 36, 1100, nil),
	)
	if _, err := tel.RegisterSockets(feed.observe); err != nil {
		t.Fatalf("RegisterSockets: %v", err)
	}
	if _, err := tel.RegisterPipelines(func() []PipelineObservation {
		return []PipelineObservation{{Name: "broker", Up: true}}
	}); err != nil {
		t.Fatalf("RegisterPipelines: %v", err)
	}
	return tel
}

func shutdown(t *testing.T, tel *Telemetry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestOTLPGRPCShutdownFlushes(t *testing.T) {
	addr, sink := startGRPCCollector(t)
	// An interval far beyond the test: only Shutdown can export.
	tel := newOTLPTelemetry(t, &OTLPConfig{Endpoint: addr, Protocol: OTLPProtocolGRPC, Insecure: true, Interval: time.Hour})
	if reqs, _, _ := sink.snapshot(); len(reqs) != 0 {
		t.Fatalf("exported %d requests before Shutdown", len(reqs))
	}
	shutdown(t, tel)
	reqs, headers, _ := sink.snapshot()
	if len(reqs) == 0 {
		t.Fatal("Shutdown did not flush to the gRPC collector")
	}
	checkOTLPExport(t, reqs, headers)
}

func TestOTLPGRPCPeriodic(t *testing.T) {
	addr, sink := startGRPCCollector(t)
	tel := newOTLPTelemetry(t, &OTLPConfig{Endpoint: "http://" + addr, Interval: 50 * time.Millisecond})
	defer shutdown(t, tel)
	testutil.EventuallyWhy(t, waitTimeout, "two periodic gRPC exports", func() string {
		if reqs, _, _ := sink.snapshot(); len(reqs) < 2 {
			return fmt.Sprintf("%d requests so far", len(reqs))
		}
		return ""
	})
	reqs, headers, _ := sink.snapshot()
	checkOTLPExport(t, reqs, headers)
}

func TestOTLPHTTPPeriodic(t *testing.T) {
	addr, sink := startHTTPCollector(t)
	tel := newOTLPTelemetry(t, &OTLPConfig{Endpoint: addr, Protocol: OTLPProtocolHTTP, Insecure: true, Interval: 50 * time.Millisecond})
	defer shutdown(t, tel)
	testutil.EventuallyWhy(t, waitTimeout, "a periodic HTTP export", func() string {
		if reqs, _, _ := sink.snapshot(); len(reqs) == 0 {
			return "no request yet"
		}
		return ""
	})
	reqs, headers, paths := sink.snapshot()
	for _, p := range paths {
		if p != DefaultOTLPHTTPPath {
			t.Errorf("posted to %q, want %q", p, DefaultOTLPHTTPPath)
		}
	}
	checkOTLPExport(t, reqs, headers)
}

func TestOTLPHTTPURLShutdownFlushes(t *testing.T) {
	addr, sink := startHTTPCollector(t)
	tel := newOTLPTelemetry(t, &OTLPConfig{Endpoint: "http://" + addr + "/collector/v1/metrics", Protocol: OTLPProtocolHTTP, Interval: time.Hour})
	shutdown(t, tel)
	reqs, headers, paths := sink.snapshot()
	if len(reqs) == 0 {
		t.Fatal("Shutdown did not flush to the HTTP collector")
	}
	if paths[0] != "/collector/v1/metrics" {
		t.Errorf("posted to %q, want the URL's path", paths[0])
	}
	checkOTLPExport(t, reqs, headers)
}

func TestOTLPWithPrometheus(t *testing.T) {
	addr, sink := startGRPCCollector(t)
	tel, err := New(context.Background(), Config{
		Prometheus: &PrometheusConfig{Listen: "127.0.0.1:0"},
		OTLP:       &OTLPConfig{Endpoint: addr, Insecure: true, Interval: time.Hour},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := tel.RegisterPipelines(func() []PipelineObservation {
		return []PipelineObservation{{Name: "broker", Up: true}}
	}); err != nil {
		t.Fatalf("RegisterPipelines: %v", err)
	}
	_, fams := scrape(t, tel, "/metrics")
	if v, ok := sample(fams, "zpipe_pipeline_up", map[string]string{"pipeline": "broker"}); !ok || v != 1 {
		t.Errorf("zpipe_pipeline_up = %v (present %v), want 1", v, ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := tel.ForceFlush(ctx); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
	reqs, _, _ := sink.snapshot()
	if v, _, ok := otlpPoint(reqs, MetricPipelineUp, map[string]string{"pipeline": "broker"}); !ok || v != 1 {
		t.Errorf("OTLP %s = %d (present %v), want 1", MetricPipelineUp, v, ok)
	}
	shutdown(t, tel)
}
