package e2e

import (
	"fmt"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// TestSubscriptionBurst: a node subscribes to 100,000 topics at once (a
// large cluster's subscriptions replayed to a node that joins, or a
// hostile node). pipelines/zeek-broker.hcl passes every one of them on to
// the publishers, or counts what it could not pass (subscription_lost):
// none is lost without a trace. (libzmq's own proxy loses most of such a
// burst silently, at its xsub's send high-water mark.)
func TestSubscriptionBurst(t *testing.T) {
	const count = 100000
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		b := StartBroker(t, kind)
		ep := b.Endpoints()
		zctx, err := zmq.NewContext()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = zctx.Term() })
		socket := func(typ zmq.Type, endpoint string) *zmq.Socket {
			s, err := zctx.NewSocket(typ)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			// Unlimited queues on the test's side: whatever is lost is
			// lost in the broker.
			for _, err := range []error{s.SetLinger(0), s.SetSndhwm(0), s.SetRcvhwm(0), s.Connect(endpoint)} {
				if err != nil {
					t.Fatal(err)
				}
			}
			return s
		}
		pub := socket(zmq.XPUB, ep.XSub)
		if err := pub.SetXpubVerbose(1); err != nil {
			t.Fatal(err)
		}
		sub := socket(zmq.XSUB, ep.XPub)
		// The broker is ready when a first subscription goes through.
		ready := "zeek.test.burst.ready."
		deadline := time.Now().Add(waitTimeout)
		for got := ""; got != "\x01"+ready; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no subscription reached the publisher within %v", kind, waitTimeout)
			}
			if _, err := sub.SendBytes(append([]byte{1}, ready...), 0); err != nil {
				t.Fatal(err)
			}
			if err := pub.SetRcvtimeo(200 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if frame, err := pub.RecvBytes(0); err == nil {
				got = string(frame)
			}
		}
		drain := func(quiet time.Duration) {
			if err := pub.SetRcvtimeo(quiet); err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := pub.RecvBytes(0); err != nil {
					return
				}
			}
		}
		drain(200 * time.Millisecond)

		start := time.Now()
		for i := range count {
			if _, err := sub.SendBytes(fmt.Appendf([]byte{1}, "zeek.test.burst.%06d.", i), 0); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		if err := pub.SetRcvtimeo(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		for len(seen) < count {
			frame, err := pub.RecvBytes(0)
			if err != nil {
				break // five seconds without one: the rest is not coming
			}
			if len(frame) > 0 && frame[0] == 1 {
				seen[string(frame[1:])] = true
			}
		}
		elapsed := time.Since(start)
		lost := 0.0
		for _, s := range metricSeries(t, b, "zpipe_messages_dropped_total") {
			if s.labels["error_type"] == "subscription_lost" {
				lost += s.value
			}
		}
		t.Logf("%s: %d of %d subscriptions reached the publisher in %v, %v counted as lost", kind, len(seen), count, elapsed.Round(time.Millisecond), lost)
		accounted := float64(len(seen)) + lost
		recordFigure(t, "subscription burst (100,000)", kind, "subscriptions passed on or counted as lost",
			fmt.Sprintf("%d passed, %.0f counted", len(seen), lost), "100,000", accounted == count)
		if accounted != count {
			t.Errorf("%s: %d subscriptions passed on and %v counted as lost, want %d together", kind, len(seen), lost, count)
		}
	})
}
