package zmqtransport

import (
	"context"
	"fmt"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/testutil"
)

// TestSubscriptionBurst: a burst of 100,000 subscriptions from a
// subscriber reaches the publisher through a broker link, every one.
// libzmq's XSUB drops subscription messages beyond its send high-water
// mark without telling anyone, so an xsub must hold such a burst, with the
// default sndhwm too.
func TestSubscriptionBurst(t *testing.T) {
	const n = 100000
	s := newTestServer(t)
	openSocket(t, s, "xsub", KindXSub, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "linger_ms": 0})
	openSocket(t, s, "xpub", KindXPub, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "verboser": true, "linger_ms": 0})
	if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}}); err != nil {
		t.Fatal(err)
	}
	ctx := peerContext(t)
	pub := peerSocket(t, ctx, zmq.XPUB, func(p *zmq.Socket) error {
		if err := p.SetXpubVerbose(1); err != nil {
			return err
		}
		return p.Connect(boundEndpoint(t, s, "xsub", 0))
	})
	// The subscriber's own XSUB would drop them too: no bound on its side.
	subscriber := peerSocket(t, ctx, zmq.XSUB, func(p *zmq.Socket) error {
		if err := p.SetSndhwm(0); err != nil {
			return err
		}
		return p.Connect(boundEndpoint(t, s, "xpub", 0))
	})
	testutil.Eventually(t, waitFor, "the publisher and the subscriber connected", func() bool {
		a, err1 := harness.Peers(s, "xsub")
		b, err2 := harness.Peers(s, "xpub")
		return err1 == nil && err2 == nil && a == 1 && b == 1
	})
	for i := range n {
		if _, err := subscriber.SendBytes(sub(fmt.Sprintf("zeek/topic/%06d", i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	// The publisher reads them at its own pace.
	got := 0
	deadline := time.Now().Add(waitFor)
	for got < n && time.Now().Before(deadline) {
		if _, err := pub.RecvBytes(0); err == nil {
			got++
		}
	}
	if got != n {
		t.Fatalf("the publisher got %d of %d subscriptions; xsub %+v", got, n, socketStats(t, s, "xsub"))
	}
}
