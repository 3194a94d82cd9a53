package transporttest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/testutil"
)

// Message limits of testOversize.
const (
	limitBytes  = 64 << 10
	limitFrames = 16
)

// testOversize: a source with max_message_bytes and max_message_frames
// disconnects a peer that sends a message over either limit, counts the
// message (oversize) and the event (peer_oversize), and keeps receiving
// from its other peers, in order and without a loss, meanwhile. Messages
// at the limits pass. Both sources kinds, through Recv (pull) and through
// a link (xsub).
func testOversize(t *testing.T, x *suite) {
	for _, kind := range []string{KindPull, KindXSub} {
		t.Run(kind, func(t *testing.T) {
			s := x.newServer(t)
			OpenSocket(t, s, "src", kind, Attrs{
				"bind": []string{"tcp://127.0.0.1:*"}, "framing": FramingRaw,
				"max_message_bytes": limitBytes, "max_message_frames": limitFrames,
			})
			ep := BoundEndpoint(t, s, "src", 0)
			ctx := PeerContext(t)
			peerType, recvFrom := zmq.PUSH, "src"
			var subscriber *zmq.Socket
			if kind == KindXSub {
				peerType = zmq.XPUB
				OpenSocket(t, s, "xpub", KindXPub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
				if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "src", Sinks: []string{"xpub"}}); err != nil {
					t.Fatal(err)
				}
				subscriber = PeerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
					if err := p.SetSubscribe(""); err != nil {
						return err
					}
					return p.Connect(BoundEndpoint(t, s, "xpub", 0))
				})
				testutil.Eventually(t, WaitFor, "the subscription at the xpub", func() bool {
					return SocketStats(t, s, "xpub").SubscriptionsReceived == 1
				})
			}
			// The offenders do not reconnect, so that their disconnection
			// shows in the peer count.
			newPeer := func(reconnect bool) *zmq.Socket {
				return PeerSocket(t, ctx, peerType, func(p *zmq.Socket) error {
					if peerType == zmq.XPUB {
						// Lossless: a send waits for room.
						if err := p.SetXpubNodrop(true); err != nil {
							return err
						}
					}
					if !reconnect {
						if err := p.SetReconnectIvl(-1); err != nil {
							return err
						}
					}
					return p.Connect(ep)
				})
			}
			good, big, many := newPeer(true), newPeer(false), newPeer(false)
			x.waitPeers(t, s, "src", 3)
			if kind == KindXSub {
				// The publishers must know the subscription.
				for _, p := range []*zmq.Socket{good, big, many} {
					if got := RecvMessage(t, p); !bytes.Equal(got[0], Sub("")) {
						t.Fatalf("publisher got %s", ShowFrames(got))
					}
				}
			}
			atLimits := [][][]byte{
				slices.Repeat([][]byte{[]byte("f")}, limitFrames),
				{[]byte("t"), bytes.Repeat([]byte{'b'}, limitBytes-1)},
			}
			// The good peer sends numbered messages throughout; the
			// offenders each send one message at the limits, then one over.
			const n = 2000
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					if _, err := good.SendMessage([]byte("seq"), []byte(strconv.Itoa(i))); err != nil {
						t.Errorf("good peer: %v", err)
						return
					}
				}
			}()
			SendMessage(t, big, atLimits[1]...)
			SendMessage(t, big, []byte("t"), bytes.Repeat([]byte{'b'}, limitBytes/2), bytes.Repeat([]byte{'c'}, limitBytes/2))
			SendMessage(t, many, atLimits[0]...)
			SendMessage(t, many, slices.Repeat([][]byte{{}}, 10000)...)
			wg.Wait()

			// Everything else arrives: the good peer's messages in order,
			// and the two at the limits.
			var seqs []int
			limitsSeen := 0
			take := func(msg [][]byte) {
				switch {
				case string(msg[0]) == "seq":
					seq, err := strconv.Atoi(string(msg[1]))
					if err != nil {
						t.Fatalf("got %s", ShowFrames(msg))
					}
					seqs = append(seqs, seq)
				case slices.ContainsFunc(atLimits, func(m [][]byte) bool { return slices.EqualFunc(m, msg, bytes.Equal) }):
					limitsSeen++
				default:
					t.Fatalf("got a message of %d frames, %d bytes", len(msg), FrameBytes(msg))
				}
			}
			for len(seqs)+limitsSeen < n+len(atLimits) {
				if subscriber != nil {
					take(RecvMessage(t, subscriber))
					continue
				}
				for _, msg := range RecvAll(t, s, recvFrom, 1, transport.Limits{}) {
					take(msg)
				}
			}
			for i, seq := range seqs {
				if seq != i {
					t.Fatalf("good peer's message %d arrived as %d", i, seq)
				}
			}
			// The offenders are gone. A transport may enforce the limits
			// only as it reads the socket (libzmq assembles a message
			// before it can be read), and the last oversize message may
			// arrive after everything else: so a pull source is read on
			// while the test waits, and must yield nothing.
			testutil.Eventually(t, WaitFor, fmt.Sprintf("the offenders to leave %q (%s)", "src", x.h.Name), func() bool {
				if got, err := x.h.Peers(s, "src"); err != nil {
					t.Fatalf("peers of %q: %v", "src", err)
				} else if got == 1 {
					return true
				}
				if subscriber == nil {
					rctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
					defer cancel()
					var b message.Batch
					if err := s.Recv(rctx, recvFrom, &b, transport.Limits{}); err == nil {
						t.Fatalf("more messages: %s", fmt.Sprint(BatchMessages(&b)))
					}
				}
				return false
			})
			st := SocketStats(t, s, "src")
			if st.Drops[DropOversize] != 2 || st.Events[transport.EventPeerOversize] != 2 {
				t.Fatalf("source stats %+v: want 2 oversize drops and 2 peer_oversize events", st)
			}
			if kind == KindXSub {
				return
			}
			// Nothing more is waiting.
			rctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			var b message.Batch
			if err := s.Recv(rctx, recvFrom, &b, transport.Limits{}); err == nil {
				t.Fatalf("more messages: %s", fmt.Sprint(BatchMessages(&b)))
			}
		})
	}
}
