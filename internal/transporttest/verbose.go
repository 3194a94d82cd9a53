package transporttest

import (
	"bytes"
	"fmt"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
)

// testXPubVerbose: verbose = true alone (without verboser) passes every
// subscription to the application, repeats from other peers included.
// libzmq's XPUB_VERBOSER option also resets what XPUB_VERBOSE set, so a
// transport must not set VERBOSER to false after VERBOSE to true.
func testXPubVerbose(t *testing.T, x *suite) {
	s := x.newServer(t)
	OpenSocket(t, s, "xpub", KindXPub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "verbose": true})
	ep := BoundEndpoint(t, s, "xpub", 0)
	ctx := PeerContext(t)
	for range 2 {
		PeerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
			if err := p.SetSubscribe("x"); err != nil {
				return err
			}
			return p.Connect(ep)
		})
	}
	got := RecvAll(t, s, "xpub", 2, transport.Limits{MaxMessages: 10, MaxBytes: 1 << 20})
	for _, m := range got {
		if len(m) != 1 || !bytes.Equal(m[0], Sub("x")) {
			t.Fatalf("xpub delivered %s, want the subscription \\x01x", ShowFrames(m))
		}
	}
}

// testXPubVerbosity: the verbose and verboser attributes mean what
// ZMQ_XPUB_VERBOSE and ZMQ_XPUB_VERBOSER mean. Two subscribers subscribe to
// the same prefix and leave one after the other; the xpub reports:
//
//   - neither: the first subscribe, the last unsubscribe;
//   - verbose: both subscribes, the last unsubscribe;
//   - verboser: both subscribes, both unsubscribes.
func testXPubVerbosity(t *testing.T, x *suite) {
	for _, c := range []struct {
		verbose, verboser bool
		subs, unsubs      int
	}{
		{false, false, 1, 1},
		{true, false, 2, 1},
		{false, true, 2, 2},
		{true, true, 2, 2},
	} {
		t.Run(fmt.Sprintf("verbose=%v,verboser=%v", c.verbose, c.verboser), func(t *testing.T) {
			s := x.newServer(t)
			OpenSocket(t, s, "xpub", KindXPub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "verbose": c.verbose, "verboser": c.verboser})
			ep := BoundEndpoint(t, s, "xpub", 0)
			ctx := PeerContext(t)
			var peers []*zmq.Socket
			for range 2 {
				p := PeerSocket(t, ctx, zmq.XSUB, func(p *zmq.Socket) error { return p.Connect(ep) })
				x.waitPeers(t, s, "xpub", len(peers)+1)
				SendMessage(t, p, Sub("t"))
				peers = append(peers, p)
			}
			// A marker subscription shows when both were processed.
			SendMessage(t, peers[1], Sub("marker"))
			want := [][]byte{}
			for range c.subs {
				want = append(want, Sub("t"))
			}
			want = append(want, Sub("marker"))
			expectSubs(t, s, want)

			// The first leaves. libzmq reports its unsubscriptions when the
			// pipe's termination reaches the socket, which need not be
			// before a message the other peer sends later: the marker and
			// the unsubscription come in either order.
			peers[0].Close()
			x.waitPeers(t, s, "xpub", 1)
			SendMessage(t, peers[1], Sub("marker2"))
			want = [][]byte{Sub("marker2")}
			if c.unsubs == 2 {
				want = append(want, Unsub("t"))
			}
			var got [][]byte
			for _, m := range RecvAll(t, s, "xpub", len(want), transport.Limits{MaxMessages: 1}) {
				if len(m) != 1 {
					t.Fatalf("subscription message %s", ShowFrames(m))
				}
				got = append(got, m[0])
			}
			if !sameMultiset(got, want) {
				t.Fatalf("after the first subscriber left: %s, want %s in any order", ShowFrames(got), ShowFrames(want))
			}

			peers[1].Close()
			expectSubs(t, s, [][]byte{Unsub("marker"), Unsub("marker2"), Unsub("t")})
		})
	}
}

// expectSubs receives exactly want from xpub "xpub", in order.
func expectSubs(t *testing.T, s Server, want [][]byte) {
	t.Helper()
	got := RecvAll(t, s, "xpub", len(want), transport.Limits{MaxMessages: 1})
	for i := range want {
		if len(got[i]) != 1 || !bytes.Equal(got[i][0], want[i]) {
			t.Fatalf("subscription message %d: got %s, want %q (all: %d)", i, ShowFrames(got[i]), want[i], len(got))
		}
	}
}
