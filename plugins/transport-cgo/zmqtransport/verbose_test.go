package zmqtransport

import (
	"bytes"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
)

// TestXPubVerbose: verbose = true alone (without verboser) passes every
// subscription to the application, repeats from other peers included.
// libzmq's XPUB_VERBOSER option also resets what XPUB_VERBOSE set, so the
// transport must not set VERBOSER to false after VERBOSE to true.
func TestXPubVerbose(t *testing.T) {
	s := newTestServer(t)
	openSocket(t, s, "xpub", KindXPub, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "verbose": true})
	ep := boundEndpoint(t, s, "xpub", 0)
	ctx := peerContext(t)
	for range 2 {
		peerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
			if err := p.SetSubscribe("x"); err != nil {
				return err
			}
			return p.Connect(ep)
		})
	}
	got := recvAll(t, s, "xpub", 2, transport.Limits{MaxMessages: 10, MaxBytes: 1 << 20})
	for _, m := range got {
		if len(m) != 1 || !bytes.Equal(m[0], sub("x")) {
			t.Fatalf("xpub delivered %s, want the subscription \\x01x", showFrames(m))
		}
	}
}
