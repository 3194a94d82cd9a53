package telemetry

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/zpipe/zpipe/core/transport"
)

// manualClock is a clock the test moves by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// collectPoints collects reader once and returns every int64 data point by
// metric name and attribute set.
func collectPoints(t *testing.T, reader sdkmetric.Reader) (map[string]map[attribute.Distinct]int64, error) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	err := reader.Collect(context.Background(), &rm)
	out := map[string]map[attribute.Distinct]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			points := map[attribute.Distinct]int64{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !d.IsMonotonic {
					t.Errorf("%s is not monotonic", m.Name)
				}
				for _, p := range d.DataPoints {
					points[p.Attributes.Equivalent()] = p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					points[p.Attributes.Equivalent()] = p.Value
				}
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
			out[m.Name] = points
		}
	}
	return out, err
}

func attrs(kv ...string) attribute.Distinct {
	var list []attribute.KeyValue
	for i := 0; i+1 < len(kv); i += 2 {
		list = append(list, attribute.String(kv[i], kv[i+1]))
	}
	s := attribute.NewSet(list...)
	return s.Equivalent()
}

func TestSocketObservationsAreCachedBriefly(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	clock := &manualClock{t: time.Unix(1000, 0)}
	feed := &socketFeed{}
	feed.set(brokerFrontend(4, 100, 0, 0, nil))
	if _, err := registerSockets(mp, "", feed.observe, clock.now); err != nil {
		t.Fatalf("registerSockets: %v", err)
	}

	if _, err := collectPoints(t, reader); err != nil {
		t.Fatalf("collect: %v", err)
	}
	if n := feed.callCount(); n != 1 {
		t.Fatalf("one collection of 17 instruments called the function %d times, want 1", n)
	}
	feed.set(brokerFrontend(8, 200, 0, 0, nil))
	clock.advance(5 * time.Millisecond)
	points, _ := collectPoints(t, reader)
	if n := feed.callCount(); n != 1 {
		t.Errorf("collection 5 ms later called the function again (%d calls)", n)
	}
	if v := points[MetricZeekProxyFrontendMessagesReceived][attrs()]; v != 4 {
		t.Errorf("cached frontend messages = %d, want 4", v)
	}
	clock.advance(10 * time.Millisecond)
	points, _ = collectPoints(t, reader)
	if n := feed.callCount(); n != 2 {
		t.Errorf("collection 15 ms later: %d calls, want 2", n)
	}
	if v := points[MetricZeekProxyFrontendMessagesReceived][attrs()]; v != 8 {
		t.Errorf("fresh frontend messages = %d, want 8", v)
	}
}

// TestPeersAndEvents: per-peer drops and stalls and connection events of a
// socket become their own series; peer counters stay monotonic when the
// plugin restarts, a stalled_peer drop counts in Zeek's xpub drops, and
// a peer missing from a reading stops being exported.
func TestPeersAndEvents(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	clock := &manualClock{t: time.Unix(1000, 0)}
	feed := &socketFeed{}
	backend := func(dropped uint64, stalled bool, events map[string]uint64, drops map[string]uint64) SocketObservation {
		o := brokerBackend(1, 10, 5, 50, drops)
		o.Stats.Events = events
		o.Stats.Peers = []transport.PeerStats{
			{Address: "127.0.0.1:4000", NodeID: "n1", Dropped: dropped, Stalled: stalled},
			{Address: "127.0.0.1:4001"},
		}
		return o
	}
	feed.set(backend(7, true, map[string]uint64{transport.EventPeerStalled: 1}, map[string]uint64{transport.DropStalledPeer: 7, transport.DropHWM: 2}))
	if _, err := registerSockets(mp, "", feed.observe, clock.now); err != nil {
		t.Fatalf("registerSockets: %v", err)
	}
	peer := attrs(AttrComponent, "sink.xpub.nodes", AttrKind, "xpub", AttrPeerAddress, "127.0.0.1:4000", AttrPipeline, "broker", AttrZeekNodeID, "n1")
	other := attrs(AttrComponent, "sink.xpub.nodes", AttrKind, "xpub", AttrPeerAddress, "127.0.0.1:4001", AttrPipeline, "broker", AttrZeekNodeID, "")
	event := attrs(AttrComponent, "sink.xpub.nodes", AttrEvent, transport.EventPeerStalled, AttrKind, "xpub", AttrPipeline, "broker")
	points, err := collectPoints(t, reader)
	if err != nil {
		t.Fatal(err)
	}
	if v := points[MetricPeerMessagesDropped][peer]; v != 7 {
		t.Errorf("peer drops = %d, want 7", v)
	}
	if v, ok := points[MetricPeerMessagesDropped][other]; !ok || v != 0 {
		t.Errorf("second peer drops = %d (present %v), want 0", v, ok)
	}
	if v := points[MetricPeerStalled][peer]; v != 1 {
		t.Errorf("peer stalled = %d, want 1", v)
	}
	if v := points[MetricSocketEvents][event]; v != 1 {
		t.Errorf("peer_stalled events = %d, want 1", v)
	}
	if v := points[MetricZeekXPUBDrops][attrs()]; v != 9 {
		t.Errorf("Zeek xpub drops = %d, want 9 (hwm + stalled_peer)", v)
	}

	// The plugin restarted: its counters start again; ours do not go down.
	// The second peer has left.
	o := backend(3, false, map[string]uint64{transport.EventPeerStalled: 1}, nil)
	o.Stats.Peers = o.Stats.Peers[:1]
	feed.set(o)
	clock.advance(time.Second)
	points, err = collectPoints(t, reader)
	if err != nil {
		t.Fatal(err)
	}
	if v := points[MetricPeerMessagesDropped][peer]; v != 10 {
		t.Errorf("peer drops after a restart = %d, want 7+3", v)
	}
	if v := points[MetricPeerStalled][peer]; v != 0 {
		t.Errorf("peer stalled = %d, want 0", v)
	}
	if v := points[MetricSocketEvents][event]; v != 1 {
		t.Errorf("peer_stalled events = %d, want 1", v)
	}
	if _, ok := points[MetricPeerMessagesDropped][other]; ok {
		t.Errorf("a peer that left is still exported")
	}
}

func TestSocketObservationsSumAndValidate(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	feed := &socketFeed{}
	feed.set(
		// Two XSUB sources of two broker pipelines add up in Zeek's
		// frontend counters.
		brokerFrontend(40, 400, 0, 0, nil),
		SocketObservation{Pipeline: "broker-b", Component: "source.xsub.b", Kind: "xsub", ZeekProxyRole: ZeekProxyFrontend,
			Stats: transport.SocketStats{MessagesReceived: 8, FramesReceived: 32, BytesReceived: 80, Drops: map[string]uint64{"": 3}}},
		// The same socket reported twice is summed.
		SocketObservation{Pipeline: "p", Component: "sink.xpub.out", Kind: "xpub",
			Stats: transport.SocketStats{MessagesSent: 1, Drops: map[string]uint64{"hwm": 2}}},
		SocketObservation{Pipeline: "p", Component: "sink.xpub.out", Kind: "xpub",
			Stats: transport.SocketStats{MessagesSent: 2, Drops: map[string]uint64{"hwm": 5}}},
		// A PUSH sink's HWM drops are not Zeek's XPUB drops.
		SocketObservation{Pipeline: "p", Component: "sink.push.logs", Kind: "push",
			Stats: transport.SocketStats{Drops: map[string]uint64{"hwm": 100}}},
		// A role the runtime should never send.
		SocketObservation{Pipeline: "p", Component: "source.pull.x", Kind: "pull", ZeekProxyRole: "sideways",
			Stats: transport.SocketStats{FramesReceived: 1000}},
	)
	if _, err := RegisterSockets(mp, "worker-1", feed.observe); err != nil {
		t.Fatalf("RegisterSockets: %v", err)
	}
	points, err := collectPoints(t, reader)
	if err == nil || !strings.Contains(err.Error(), `unknown Zeek proxy role "sideways"`) {
		t.Errorf("collect error = %v, want one naming the unknown role", err)
	}
	node := attrs("node", "worker-1")
	if v := points[MetricZeekProxyFrontendMessagesReceived][node]; v != 48 {
		t.Errorf("frontend messages = %d, want 48 (two sources, not the invalid role)", v)
	}
	if v := points[MetricZeekProxyFrontendBytesReceived][node]; v != 480 {
		t.Errorf("frontend bytes = %d, want 480", v)
	}
	if _, ok := points[MetricZeekProxyBackendMessagesSent]; ok {
		t.Errorf("backend counters exported although no backend was observed")
	}
	if v := points[MetricZeekXPUBDrops][node]; v != 7 {
		t.Errorf("xpub drops = %d, want 7", v)
	}
	if v := points[MetricZeekMsgErrors][node]; v != 0 {
		t.Errorf("msg errors = %d, want 0", v)
	}
	out := attrs("pipeline", "p", "component", "sink.xpub.out", "kind", "xpub")
	if v := points[MetricMessagesSent][out]; v != 3 {
		t.Errorf("summed messages sent = %d, want 3", v)
	}
	other := attrs("pipeline", "broker-b", "component", "source.xsub.b", "kind", "xsub", "error.type", "_OTHER")
	if v := points[MetricMessagesDropped][other]; v != 3 {
		t.Errorf("drops without a reason = %d, want 3 under error.type _OTHER", v)
	}
	invalid := attrs("pipeline", "p", "component", "source.pull.x", "kind", "pull")
	if _, ok := points[MetricMessagesReceived][invalid]; !ok {
		t.Errorf("observation with an invalid role lost its own series")
	}
}

func TestVanishedSocketStaysInZeekTotals(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	clock := &manualClock{t: time.Unix(1000, 0)}
	feed := &socketFeed{}
	second := SocketObservation{Pipeline: "broker-b", Component: "source.xsub.b", Kind: "xsub", ZeekProxyRole: ZeekProxyFrontend,
		Stats: transport.SocketStats{MessagesReceived: 8, FramesReceived: 32}}
	feed.set(brokerFrontend(40, 0, 0, 0, nil), second)
	if _, err := registerSockets(mp, "", feed.observe, clock.now); err != nil {
		t.Fatalf("registerSockets: %v", err)
	}
	if _, err := collectPoints(t, reader); err != nil {
		t.Fatalf("collect: %v", err)
	}

	feed.set(brokerFrontend(44, 0, 0, 0, nil))
	clock.advance(time.Second)
	points, err := collectPoints(t, reader)
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	if v := points[MetricZeekProxyFrontendMessagesReceived][attrs()]; v != 52 {
		t.Errorf("frontend messages after one source closed = %d, want 52", v)
	}
	gone := attrs("pipeline", "broker-b", "component", "source.xsub.b", "kind", "xsub")
	if _, ok := points[MetricMessagesReceived][gone]; ok {
		t.Errorf("closed socket still exported under its own attributes")
	}

	// It comes back with fresh counts: its own series continues.
	second.Stats.FramesReceived = 1
	second.Stats.MessagesReceived = 1
	feed.set(brokerFrontend(44, 0, 0, 0, nil), second)
	clock.advance(time.Second)
	points, _ = collectPoints(t, reader)
	if v := points[MetricZeekProxyFrontendMessagesReceived][attrs()]; v != 53 {
		t.Errorf("frontend messages after the source came back = %d, want 53", v)
	}
}

func TestMonotonic(t *testing.T) {
	var m monotonic
	steps := []struct{ raw, want uint64 }{
		{10, 10}, {15, 15}, {3, 18}, {3, 18}, {0, 18}, {7, 25}, {30, 48},
	}
	for i, s := range steps {
		m.update(s.raw)
		if got := m.value(); got != s.want {
			t.Fatalf("step %d: after reading %d value = %d, want %d", i, s.raw, got, s.want)
		}
	}
	m = monotonic{base: ^uint64(0) - 1}
	m.update(5)
	if m.value() != ^uint64(0) {
		t.Errorf("value did not saturate: %d", m.value())
	}
	if toInt64(^uint64(0)) != int64(^uint64(0)>>1) {
		t.Errorf("toInt64 does not clamp")
	}
}

func TestRegisterRejectsNil(t *testing.T) {
	mp := sdkmetric.NewMeterProvider()
	defer mp.Shutdown(context.Background())
	feed := &socketFeed{}
	if _, err := RegisterSockets(nil, "", feed.observe); err == nil {
		t.Error("RegisterSockets accepted a nil provider")
	}
	if _, err := RegisterSockets(mp, "", nil); err == nil {
		t.Error("RegisterSockets accepted a nil function")
	}
	if _, err := RegisterPlugins(mp, nil); err == nil {
		t.Error("RegisterPlugins accepted a nil function")
	}
	if _, err := RegisterPipelines(nil, func() []PipelineObservation { return nil }); err == nil {
		t.Error("RegisterPipelines accepted a nil provider")
	}
}

func TestUnregisterStopsCollection(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	clock := &manualClock{t: time.Unix(1000, 0)}
	feed := &socketFeed{}
	feed.set(brokerFrontend(4, 100, 0, 0, nil))
	reg, err := registerSockets(mp, "", feed.observe, clock.now)
	if err != nil {
		t.Fatalf("registerSockets: %v", err)
	}
	if _, err := collectPoints(t, reader); err != nil {
		t.Fatalf("collect: %v", err)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	clock.advance(time.Second)
	points, _ := collectPoints(t, reader)
	if n := feed.callCount(); n != 1 {
		t.Errorf("function called %d times, want 1 (none after Unregister)", n)
	}
	if len(points[MetricZeekProxyFrontendMessagesReceived]) != 0 {
		t.Errorf("metrics still exported after Unregister: %v", points[MetricZeekProxyFrontendMessagesReceived])
	}
}
