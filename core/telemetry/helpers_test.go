package telemetry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zpipe/zpipe/core/transport"
)

// waitTimeout bounds every wait for a condition.
const waitTimeout = 20 * time.Second

// socketFeed stands in for the pipeline runtime: it hands out whatever
// observations the test set last.
type socketFeed struct {
	mu    sync.Mutex
	obs   []SocketObservation
	err   error
	calls int
}

func (f *socketFeed) set(obs ...SocketObservation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.obs, f.err = obs, nil
}

func (f *socketFeed) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *socketFeed) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *socketFeed) observe(context.Context) ([]SocketObservation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	out := make([]SocketObservation, len(f.obs))
	for i, o := range f.obs {
		drops := make(map[string]uint64, len(o.Stats.Drops))
		for k, v := range o.Stats.Drops {
			drops[k] = v
		}
		o.Stats.Drops = drops
		out[i] = o
	}
	return out, nil
}

// brokerFrontend is the XSUB source of a broker-shaped pipeline.
func brokerFrontend(msgsIn, bytesIn, framesOut, bytesOut uint64, drops map[string]uint64) SocketObservation {
	return SocketObservation{
		Pipeline: "broker", Component: "source.xsub.nodes", Kind: "xsub",
		ZeekProxyRole: ZeekProxyFrontend,
		Stats: transport.SocketStats{
			ID:               "src",
			MessagesReceived: msgsIn, FramesReceived: 4 * msgsIn, BytesReceived: bytesIn,
			MessagesSent: framesOut, FramesSent: framesOut, BytesSent: bytesOut,
			SubscriptionsSent: framesOut,
			Drops:             drops,
		},
	}
}

// brokerBackend is the XPUB sink of a broker-shaped pipeline.
func brokerBackend(framesIn, bytesIn, msgsOut, bytesOut uint64, drops map[string]uint64) SocketObservation {
	return SocketObservation{
		Pipeline: "broker", Component: "sink.xpub.nodes", Kind: "xpub",
		ZeekProxyRole: ZeekProxyBackend,
		Stats: transport.SocketStats{
			ID:               "sink",
			MessagesReceived: framesIn, FramesReceived: framesIn, BytesReceived: bytesIn,
			MessagesSent: msgsOut, FramesSent: 4 * msgsOut, BytesSent: bytesOut,
			SubscriptionsReceived: framesIn,
			Drops:                 drops,
		},
	}
}

// newPrometheusTelemetry starts a Telemetry serving Prometheus on a free
// loopback port and shuts it down when the test ends.
func newPrometheusTelemetry(t *testing.T, cfg Config) *Telemetry {
	t.Helper()
	if cfg.Prometheus == nil {
		cfg.Prometheus = &PrometheusConfig{Listen: "127.0.0.1:0"}
	}
	tel, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel
}

// get fetches url and returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// scrape reads the metrics endpoint of tel and parses it.
func scrape(t *testing.T, tel *Telemetry, path string) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	url := fmt.Sprintf("http://%s%s", tel.PrometheusAddr(), path)
	status, body := get(t, url)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d, body:\n%s", url, status, body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape of %s: %v\n%s", url, err, body)
	}
	return body, families
}

// sample finds the value of the series of family name whose labels are
// exactly labels.
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf, ok := families[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if !labelsEqual(m.GetLabel(), labels) {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func labelsEqual(pairs []*dto.LabelPair, want map[string]string) bool {
	if len(pairs) != len(want) {
		return false
	}
	for _, p := range pairs {
		if v, ok := want[p.GetName()]; !ok || v != p.GetValue() {
			return false
		}
	}
	return true
}

func labelNames(pairs []*dto.LabelPair) []string {
	out := make([]string, 0, len(pairs))
	for _, p := range pairs {
		out = append(out, p.GetName())
	}
	sort.Strings(out)
	return out
}
