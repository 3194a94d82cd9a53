package puresock

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/internal/testutil"
)

// TestEveryKindAgainstLibzmq runs each socket type against a libzmq peer
// of the matching type, with our socket binding and connecting, over tcp
// and ipc, and moves messages in every direction the pair has.
func TestEveryKindAgainstLibzmq(t *testing.T) {
	peers := map[Type]zmq.Type{XSub: zmq.XPUB, XPub: zmq.XSUB, Pull: zmq.PUSH, Push: zmq.PULL}
	for _, typ := range []Type{XSub, XPub, Pull, Push} {
		for _, side := range []string{"bind", "connect"} {
			for _, tr := range []string{"tcp", "ipc"} {
				t.Run(fmt.Sprintf("%s/%s/%s", typ, side, tr), func(t *testing.T) {
					t.Parallel()
					ep := "tcp://127.0.0.1:*"
					if tr == "ipc" {
						ep = ipcEndpoint(t, "s")
					}
					s := newSocket(t, typ, nil)
					ctx := peerContext(t)
					var peer *zmq.Socket
					if side == "bind" {
						bound := bind(t, s, ep)
						peer = peerSocket(t, ctx, peers[typ], func(p *zmq.Socket) error { return p.Connect(bound) })
					} else {
						var peerEP string
						peer, peerEP = boundPeer(t, ctx, peers[typ], ep, nil)
						connect(t, s, peerEP)
					}
					waitPeers(t, s, 1)
					exchange(t, s, peer)
				})
			}
		}
	}
}

// exchange moves messages between our socket s and its libzmq peer.
func exchange(t *testing.T, s *Socket, peer *zmq.Socket) {
	t.Helper()
	payloads := [][][]byte{
		event("zeek.cluster.worker", "node-1", "payload"),
		{[]byte("zeek.cluster.worker.one-frame")},
		{[]byte("zeek.cluster.worker.empty-frames"), {}, {}},
		{[]byte("zeek.cluster.worker.large"), bytes.Repeat([]byte{'x'}, 200<<10), []byte("tail")},
	}
	switch s.Type() {
	case XSub:
		// Subscribe upstream, then receive what the XPUB peer publishes.
		send(t, s, sub("zeek.cluster.worker"))
		if got := recvPeer(t, peer); !bytes.Equal(got[0], sub("zeek.cluster.worker")) {
			t.Fatalf("XPUB peer got %s, want the subscription", show(got))
		}
		for _, m := range payloads {
			sendPeer(t, peer, m...)
		}
		for i, want := range payloads {
			if got := recv(t, s); !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("message %d: got %d frames, want %s", i, len(got), show(want[:1]))
			}
		}
	case XPub:
		// The XSUB peer subscribes; the subscription reaches the
		// application, then the data reaches the peer. A bound libzmq
		// XSUB whose pipe to us is not attached yet holds the
		// subscription back until it sends something else, so it
		// subscribes again until we have it (a repeat is not reported).
		var got [][]byte
		testutil.Eventually(t, waitFor, "the subscription", func() bool {
			sendPeer(t, peer, sub("zeek.cluster.worker"))
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			msg, err := s.Recv(ctx)
			got = msg
			return err == nil
		})
		if !slices.EqualFunc(got, [][]byte{sub("zeek.cluster.worker")}, bytes.Equal) {
			t.Fatalf("XPUB got %s, want the subscription", show(got))
		}
		send(t, s, []byte("other.topic"), []byte("not subscribed"))
		for _, m := range payloads {
			send(t, s, m...)
		}
		for i, want := range payloads {
			if got := recvPeer(t, peer); !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("message %d at the peer: got %d frames starting %q", i, len(got), got[0])
			}
		}
		if got, ok := tryRecvPeer(t, peer); ok {
			t.Fatalf("peer got %s, which it did not subscribe to", show(got))
		}
	case Pull:
		for _, m := range payloads {
			sendPeer(t, peer, m...)
		}
		for i, want := range payloads {
			if got := recv(t, s); !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("message %d: got %d frames", i, len(got))
			}
		}
	case Push:
		for _, m := range payloads {
			send(t, s, m...)
		}
		for i, want := range payloads {
			if got := recvPeer(t, peer); !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("message %d at the peer: got %d frames", i, len(got))
			}
		}
	}
}
