package transporttest

import (
	"context"
	"fmt"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
)

// burstSubscriptions is the size of testSubscriptionBurst's burst.
const burstSubscriptions = 100000

// testSubscriptionBurst: a subscriber sends 100,000 distinct
// subscriptions at once through a broker link (xpub → xsub) to a
// publisher. Every one either reaches the publisher or is counted as
// subscription_lost (on the xsub or the xpub); with
// Harness.KeepsSubscriptionBursts none is lost.
func testSubscriptionBurst(t *testing.T, x *suite) {
	s := x.newServer(t)
	OpenSocket(t, s, "xsub", KindXSub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	OpenSocket(t, s, "xpub", KindXPub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "verboser": true})
	if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}}); err != nil {
		t.Fatal(err)
	}
	ctx := PeerContext(t)
	pub := PeerSocket(t, ctx, zmq.XPUB, func(p *zmq.Socket) error { return p.Connect(BoundEndpoint(t, s, "xsub", 0)) })
	// The subscriber queues every subscription (no send HWM): what is
	// lost is lost in the broker.
	subscriber := PeerSocket(t, ctx, zmq.XSUB, func(p *zmq.Socket) error {
		if err := p.SetSndhwm(0); err != nil {
			return err
		}
		return p.Connect(BoundEndpoint(t, s, "xpub", 0))
	})
	x.waitPeers(t, s, "xsub", 1)
	x.waitPeers(t, s, "xpub", 1)
	for i := range burstSubscriptions {
		SendMessage(t, subscriber, Sub(fmt.Sprintf("zeek.burst.%06d.", i)))
	}
	// The publisher reads until every subscription is accounted for, or
	// nothing has come for a while.
	seen := map[string]bool{}
	lost := func() uint64 {
		return SocketStats(t, s, "xsub").Drops[DropSubscription] + SocketStats(t, s, "xpub").Drops[DropSubscription]
	}
	quietSince := time.Now()
	for uint64(len(seen))+lost() < burstSubscriptions && time.Since(quietSince) < WaitFor {
		msg, ok := TryRecv(t, pub)
		if !ok {
			continue
		}
		if len(msg) != 1 || len(msg[0]) == 0 || msg[0][0] != 1 || seen[string(msg[0])] {
			t.Fatalf("publisher got %s", ShowFrames(msg))
		}
		seen[string(msg[0])] = true
		quietSince = time.Now()
	}
	got, counted := len(seen), lost()
	t.Logf("publisher got %d of %d subscriptions; %d counted as lost", got, burstSubscriptions, counted)
	if uint64(got)+counted != burstSubscriptions {
		t.Fatalf("publisher got %d of %d subscriptions, %d counted as lost: %d unaccounted for",
			got, burstSubscriptions, counted, burstSubscriptions-uint64(got)-counted)
	}
	if x.h.KeepsSubscriptionBursts && counted != 0 {
		t.Fatalf("%d subscriptions lost", counted)
	}
}
