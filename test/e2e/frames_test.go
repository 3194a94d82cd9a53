package e2e

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// TestOversizeMessages: pipelines/zeek-broker.hcl with its defaults
// (max_message_bytes 64 MiB, max_message_frames 1024). One publisher
// sends a frame of 70 MiB, another a message of 200,000 empty frames,
// while a third publishes numbered events to a subscriber. Both offenders
// are disconnected, each message is counted (oversize) and the event too
// (peer_oversize), and every event of the good publisher arrives, in
// order. With cgo, libzmq refuses the huge frame itself (ZMQ_MAXMSGSIZE)
// and reports only a disconnect, so only the flood is counted there
// (README, "Limits on what peers send").
func TestOversizeMessages(t *testing.T) {
	const (
		topic = "zeek.test.frames"
		count = 20000
	)
	// make stress sends the sizes that used to take gigabytes.
	hugeBytes, floodFrames := stressSize(70<<20, 800<<20), stressSize(200000, 20000000)
	huge := [][]byte{[]byte(topic), []byte("huge"), []byte(zeektest.FormatBrokerBinV1), bytes.Repeat([]byte{'h'}, hugeBytes)}
	flood := append([][]byte{[]byte(topic)}, slices.Repeat([][]byte{{}}, floodFrames)...)
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		b := StartBroker(t, kind)
		ctx := waitCtx(t, 90*time.Second)
		sub := startNode(t, b, zeektest.Config{Name: "manager", Role: "manager", NoHello: true, Topics: []string{topic}})
		if err := sub.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		var pubs []*zeektest.Node
		for _, name := range []string{"worker-1", "worker-2", "worker-3"} {
			n := startNode(t, b, zeektest.Config{Name: name, NoStartupSubscriptions: true, NoHello: true, XPubSndHWM: zeektest.Unlimited})
			if err := n.WaitSubscriptionSeen(ctx, topic); err != nil {
				t.Fatal(err)
			}
			pubs = append(pubs, n)
		}
		good, big, many := pubs[0], pubs[1], pubs[2]
		rss := watchRSS(t, b.PID())
		cpuBefore, err := b.CPUTime()
		if err != nil {
			t.Fatal(err)
		}

		for i := range count {
			if i == count/4 {
				if err := big.PublishRaw(huge...); err != nil {
					t.Fatal(err)
				}
			}
			if i == count/2 {
				if err := many.PublishRaw(flood...); err != nil {
					t.Fatal(err)
				}
			}
			if err := good.PublishEvent(topic, "Test::seq", uint64(i)); err != nil {
				t.Fatal(err)
			}
		}

		// Both offenders were disconnected.
		disconnectCtx := waitCtx(t, waitTimeout)
		for _, n := range []*zeektest.Node{big, many} {
			for !slices.ContainsFunc(n.SocketEvents(), func(e string) bool { return strings.HasPrefix(e, "xpub EVENT_DISCONNECTED") }) {
				select {
				case <-disconnectCtx.Done():
					t.Fatalf("%s: %s was not disconnected; socket events %q", kind, n.Name(), n.SocketEvents())
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
		// Counted as drops and as events.
		counted := 2.0
		if kind == brokerproc.Zpipe {
			counted = 1
		}
		if err := waitSeries(ctx, t, b, "zpipe_messages_dropped_total", "error_type", "oversize", counted); err != nil {
			t.Fatal(err)
		}
		if err := waitSeries(ctx, t, b, "zpipe_socket_events_total", "event", "peer_oversize", counted); err != nil {
			t.Fatal(err)
		}
		// The good publisher's events all arrive, in order.
		got, _ := waitQuiet(ctx, t, sub, topic, count, 5*time.Second)
		seqs := sequence(t, sub, topic)
		for i, seq := range seqs {
			if seq != uint64(i) {
				t.Fatalf("%s: event %d arrived as %d", kind, i, seq)
			}
		}
		peak := rss.Peak()
		cpu, err := b.CPUTime()
		if err != nil {
			t.Fatal(err)
		}
		scenario := fmt.Sprintf("a %s frame and a message of %d empty frames", mib(int64(hugeBytes)), floodFrames)
		recordFigure(t, scenario, kind, "zpipe and plugins, peak RSS", mib(peak), "≤ 1024 MiB", peak <= 1<<30)
		recordFigure(t, scenario, kind, "broker CPU for the whole run", (cpu - cpuBefore).Round(time.Millisecond).String(), "–", true)
		recordFigure(t, scenario, kind, "a good publisher's events delivered, in order", fmt.Sprintf("%d of %d", got, count), "all", got == count)
		if got != count {
			t.Fatalf("%s: the subscriber got %d of %d events", kind, got, count)
		}
		if lines := warnLines(b, "peer"); len(lines) == 0 {
			t.Errorf("%s: no warning about the disconnected peers", kind)
		}
	})
}

// waitSeries waits until the series of metric name whose label has value
// add up to want, and fails if they go beyond it.
func waitSeries(ctx context.Context, t *testing.T, b *brokerproc.Process, name, label, value string, want float64) error {
	t.Helper()
	for {
		total := 0.0
		for _, s := range metricSeries(t, b, name) {
			if s.labels[label] == value {
				total += s.value
			}
		}
		if total == want {
			return nil
		}
		if total > want {
			t.Fatalf("%s{%s=%q} is %v, want %v", name, label, value, total, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
