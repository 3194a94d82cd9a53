package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// series is one Prometheus series: its labels and value.
type series struct {
	labels map[string]string
	value  float64
}

// metricSeries scrapes the broker's metrics and returns every series of
// the metric called name.
func metricSeries(t *testing.T, b *brokerproc.Process, name string) []series {
	t.Helper()
	var out []series
	for _, m := range scrapeFamilies(t, b)[name].GetMetric() {
		s := series{labels: map[string]string{}, value: metricValue(m)}
		for _, l := range m.GetLabel() {
			s.labels[l.GetName()] = l.GetValue()
		}
		out = append(out, s)
	}
	return out
}

// warnLines returns the broker's log lines at warning level that contain
// substr.
func warnLines(b *brokerproc.Process, substr string) []string {
	var out []string
	for _, line := range strings.Split(b.Output(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// TestStalledSubscriber: pipelines/zeek-broker.hcl with its defaults, one
// subscriber that stops reading and one that reads at full speed, 200,000
// events on one topic. The stalled subscriber costs only itself: the
// healthy one gets at least 99 % of the events (the broker waits for the
// stalled one once, for slow_subscriber_timeout_ms), the stalled one's
// losses are exported per peer (zpipe_peer_messages_dropped_total with its
// Zeek node id and address, exactly with transport-purego), the stall is
// named in one warning line with its node id and address, and once it
// reads again it gets what it did not miss.
func TestStalledSubscriber(t *testing.T) {
	const (
		topic = "zeek.test.stall"
		count = 200000
	)
	payload, err := zeektest.EncodeEvent("Test::tick", uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		b := StartBroker(t, kind)
		ctx := waitCtx(t, 120*time.Second)
		pub := startNode(t, b, zeektest.Config{Name: "worker-1", NoStartupSubscriptions: true, NoHello: true, XPubSndHWM: zeektest.Unlimited})
		healthy := startNode(t, b, zeektest.Config{Name: "worker-2", NoHello: true, Topics: []string{topic}})
		stalled := startNode(t, b, zeektest.Config{Name: "worker-3", NoHello: true, Topics: []string{topic}})
		for _, n := range []*zeektest.Node{healthy, stalled} {
			if err := n.Ready(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := pub.WaitSubscriptionSeen(ctx, topic); err != nil {
			t.Fatal(err)
		}
		if err := stalled.PauseEvents(); err != nil {
			t.Fatal(err)
		}
		for range count {
			if err := pub.Publish(topic, payload); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := waitQuiet(ctx, t, healthy, topic, count, 5*time.Second)
		t.Logf("%s: the healthy subscriber got %d of %d events (%.2f %%) while the other was stalled", kind, got, count, 100*float64(got)/count)
		const scenario = "stalled subscriber (200,000 events)"
		recordFigure(t, scenario, kind, "events the healthy subscriber got", percent(float64(got), count), "≥ 99 %", got >= count*99/100)
		if got < count*99/100 {
			t.Errorf("%s: the healthy subscriber got %d of %d events; want at least 99 %%", kind, got, count)
		}
		if d := pub.XPubDrops(); d != 0 {
			t.Fatalf("the publisher dropped %d events itself", d)
		}

		// The stalled peer's losses, by node id and address.
		var dropped float64
		var address string
		for _, s := range metricSeries(t, b, "zpipe_peer_messages_dropped_total") {
			switch s.labels["zeek_node_id"] {
			case stalled.ID():
				dropped, address = dropped+s.value, s.labels["network_peer_address"]
			case healthy.ID():
				if s.value != 0 {
					t.Errorf("%s: the healthy subscriber's losses counted as %v", kind, s.value)
				}
			}
		}
		if dropped == 0 || address == "" {
			t.Fatalf("%s: no losses exported for the stalled subscriber %s: %v", kind, stalled.ID(),
				metricSeries(t, b, "zpipe_peer_messages_dropped_total"))
		}
		stalledGauge := 0.0
		for _, s := range metricSeries(t, b, "zpipe_peer_stalled") {
			if s.labels["zeek_node_id"] == stalled.ID() {
				stalledGauge = s.value
			}
		}
		if stalledGauge != 1 {
			t.Errorf("%s: zpipe_peer_stalled of the stalled subscriber is %v, want 1", kind, stalledGauge)
		}

		// One warning names it, by node id and address; none names the
		// healthy one.
		lines := warnLines(b, stalled.ID())
		named := len(lines) == 1 && strings.Contains(lines[0], address)
		recordFigure(t, scenario, kind, "WARN lines naming the stalled node", fmt.Sprint(len(lines)), "1, with its node id and address", named)
		if !named {
			t.Errorf("%s: %d warning lines name the stalled subscriber %s (address %s); want one:\n%s",
				kind, len(lines), stalled.ID(), address, strings.Join(lines, "\n"))
		}
		if lines := warnLines(b, healthy.ID()); len(lines) != 0 {
			t.Errorf("%s: warnings name the healthy subscriber:\n%s", kind, strings.Join(lines, "\n"))
		}

		// It reads again: it gets what it did not miss, and with exact
		// per-peer counts the two add up to every event.
		if err := stalled.ResumeEvents(); err != nil {
			t.Fatal(err)
		}
		received, _ := waitQuiet(ctx, t, stalled, topic, count, 3*time.Second)
		t.Logf("%s: the stalled subscriber got %d, %v counted as lost", kind, received, dropped)
		accounted := fmt.Sprintf("%d received + %.0f counted = %.0f of %d", received, dropped, float64(received)+dropped, count)
		if kind == brokerproc.ZpipePurego {
			recordFigure(t, scenario, kind, "the stalled node's events", accounted, "= published (exact)", float64(received)+dropped == count)
		} else {
			recordFigure(t, scenario, kind, "the stalled node's events", accounted, "≤ published (a lower bound)", float64(received)+dropped <= count && dropped > 0)
		}
		if float64(received)+dropped > count {
			t.Errorf("%s: the stalled subscriber got %d and %v were counted as lost, more than the %d published", kind, received, dropped, count)
		}
		if kind == brokerproc.ZpipePurego && float64(received)+dropped != count {
			t.Errorf("%s: the stalled subscriber got %d and %v were counted as lost; want %d together", kind, received, dropped, count)
		}
		if t.Failed() {
			t.Log(fmt.Sprint(healthy.Summary(), "\n", stalled.Summary()))
		}
	})
}
