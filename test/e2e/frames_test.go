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
// while a third keeps publishing numbered events to a subscriber. Both
// offenders are disconnected, each message is counted (oversize) and the
// event too (peer_oversize), and every event of the good publisher
// arrives, in order. With cgo, libzmq refuses the huge frame itself
// (ZMQ_MAXMSGSIZE) and reports only a disconnect, so only the flood is
// counted there (README, "Limits on what peers send"). make stress sends
// an 800 MiB frame and 20 million empty frames, and records the broker's
// peak memory and the longest pause in the good publisher's events.
func TestOversizeMessages(t *testing.T) {
	const (
		topic = "zeek.test.frames"
		// The good publisher sends at least count events, in rounds of
		// round, until both offenders are disconnected.
		count = 20000
		round = 20
	)
	hugeBytes, floodFrames := stressSize(70<<20, 800<<20), stressSize(200000, 20000000)
	huge := [][]byte{[]byte(topic), []byte("huge"), []byte(zeektest.FormatBrokerBinV1), bytes.Repeat([]byte{'h'}, hugeBytes)}
	flood := append([][]byte{[]byte(topic)}, slices.Repeat([][]byte{{}}, floodFrames)...)
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		b := StartBroker(t, kind)
		ctx := waitCtx(t, stressSize(90*time.Second, 5*time.Minute))
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

		// The offenders send from their own nodes while the good
		// publisher goes on.
		if err := big.PublishRaw(huge...); err != nil {
			t.Fatal(err)
		}
		if err := many.PublishRaw(flood...); err != nil {
			t.Fatal(err)
		}
		disconnected := func(n *zeektest.Node) bool {
			return slices.ContainsFunc(n.SocketEvents(), func(e string) bool { return strings.HasPrefix(e, "xpub EVENT_DISCONNECTED") })
		}
		disconnectBy := time.Now().Add(stressSize(waitTimeout, 3*time.Minute))
		sent := 0
		for sent < count || !disconnected(big) || !disconnected(many) {
			if time.Now().After(disconnectBy) {
				for _, n := range []*zeektest.Node{big, many} {
					if !disconnected(n) {
						t.Fatalf("%s: %s was not disconnected; socket events %q", kind, n.Name(), n.SocketEvents())
					}
				}
			}
			for range round {
				if err := good.PublishEvent(topic, "Test::seq", uint64(sent)); err != nil {
					t.Fatal(err)
				}
				sent++
			}
			time.Sleep(time.Millisecond)
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
		got, _ := waitQuiet(ctx, t, sub, topic, sent, stressSize(5*time.Second, 20*time.Second))
		var pause time.Duration
		var last time.Time
		next := uint64(0)
		for _, m := range sub.Received() {
			if m.Topic() != topic {
				continue
			}
			if seq := seqOf(t, m); seq != next {
				t.Fatalf("%s: event %d arrived as %d", kind, next, seq)
			}
			next++
			if !last.IsZero() {
				pause = max(pause, m.At.Sub(last))
			}
			last = m.At
		}
		peak := rss.Peak()
		var after int64
		if procs, err := processTreeRSS(b.PID()); err == nil {
			for _, p := range procs {
				after += p.bytes
			}
		}
		cpu, err := b.CPUTime()
		if err != nil {
			t.Fatal(err)
		}
		scenario := fmt.Sprintf("a %s frame and a message of %d empty frames", mib(int64(hugeBytes)), floodFrames)
		recordFigure(t, scenario, kind, "zpipe and plugins, peak RSS", mib(peak), "≤ 1024 MiB", peak <= 1<<30)
		recordFigure(t, scenario, kind, "zpipe and plugins, RSS afterwards", mib(after), "≤ 256 MiB (returned)", after <= 256<<20)
		recordFigure(t, scenario, kind, "broker CPU for the whole run", (cpu - cpuBefore).Round(time.Millisecond).String(), "–", true)
		recordFigure(t, scenario, kind, "a good publisher's events delivered, in order", fmt.Sprintf("%d of %d", got, sent), "all", got == sent)
		recordFigure(t, scenario, kind, "longest pause in them (sent every ms)", pause.Round(time.Millisecond).String(), "≤ 100 ms", pause <= 100*time.Millisecond)
		if got != sent {
			t.Fatalf("%s: the subscriber got %d of %d events", kind, got, sent)
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
