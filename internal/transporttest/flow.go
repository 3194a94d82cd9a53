package transporttest

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/core/zeekproto"
	"github.com/zpipe/zpipe/internal/testutil"
)

// fairQueueMaxRun bounds how many messages in a row a fair-queueing
// socket may hand out from one peer while another peer has messages
// queued too. libzmq's fair queue takes one message from each peer in
// turn, so its runs are 1 long.
const fairQueueMaxRun = 2

// testPullFairQueue: a pull and an xsub fair-queue between their peers.
// Two libzmq peers (PUSH, or XPUB for the xsub) each send n messages as
// fast as they can and leave. Once the transport has seen both go, every
// message they sent is queued in it (n is below its rcvhwm, and what a
// peer sent before leaving stays readable), so from then on both peers
// have messages waiting: the received order alternates between them (no
// run from one peer longer than fairQueueMaxRun while the other still has
// messages), each peer's messages arrive complete and in order, none lost
// or duplicated.
func testPullFairQueue(t *testing.T, x *suite) {
	for _, kind := range []string{KindPull, KindXSub} {
		t.Run(kind, func(t *testing.T) {
			const n = 500
			s := x.newServer(t)
			OpenSocket(t, s, "s", kind, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": FramingRaw})
			ep := BoundEndpoint(t, s, "s", 0)
			peerType := zmq.PUSH
			if kind == KindXSub {
				peerType = zmq.XPUB
			}
			ctx := PeerContext(t)
			var peers []*zmq.Socket
			for range 2 {
				peers = append(peers, PeerSocket(t, ctx, peerType, func(p *zmq.Socket) error {
					// What is queued when the peer closes is still sent.
					if err := p.SetLinger(WaitFor); err != nil {
						return err
					}
					return p.Connect(ep)
				}))
			}
			x.waitPeers(t, s, "s", 2)
			if kind == KindXSub {
				// The xsub subscribes to everything; each XPUB peer must
				// have the subscription before it publishes. A bound libzmq
				// XSUB passes what it holds to a peer it takes in later only
				// with its next message, and the transport may count a peer
				// before it is taken in, so the xsub subscribes until both
				// peers have it (an XPUB reports a prefix once).
				subscribed := make([]bool, len(peers))
				testutil.Eventually(t, WaitFor, "the subscription at both peers", func() bool {
					var b message.Batch
					b.Append(Sub(""))
					if res, err := s.Send(TestCtx(t), "s", &b); err != nil || res.Sent != 1 {
						t.Fatalf("subscribe: %+v, %v", res, err)
					}
					for i, p := range peers {
						got, err := p.RecvMessageBytes(zmq.DONTWAIT)
						switch {
						case err == nil && len(got) == 1 && string(got[0]) == string(Sub("")) && !subscribed[i]:
							subscribed[i] = true
						case err == nil:
							t.Fatalf("peer %d got %s, want the subscription once", i, ShowFrames(got))
						case !isEAGAIN(err):
							t.Fatalf("peer %d: receive: %v", i, err)
						}
					}
					return !slices.Contains(subscribed, false)
				})
				// A peer that closes with data it has not read resets its
				// connection, and the reset drops what the other end had
				// not read yet. A last, new prefix follows every repeat on
				// each connection: once the peers report it, they have read
				// everything the xsub sent them.
				var b message.Batch
				b.Append(Sub("last"))
				if res, err := s.Send(TestCtx(t), "s", &b); err != nil || res.Sent != 1 {
					t.Fatalf("subscribe: %+v, %v", res, err)
				}
				for i, p := range peers {
					if got := RecvMessage(t, p); len(got) != 1 || string(got[0]) != string(Sub("last")) {
						t.Fatalf("peer %d got %s, want the last subscription", i, ShowFrames(got))
					}
				}
			}

			// Both peers send at once, each from its own goroutine.
			var wg sync.WaitGroup
			errs := make(chan error, len(peers))
			for i, p := range peers {
				wg.Go(func() {
					if err := sendFast(p, n, func(k int) [][]byte {
						return [][]byte{[]byte(fmt.Sprint("peer", i)), []byte(strconv.Itoa(k))}
					}); err != nil {
						errs <- fmt.Errorf("peer %d: %w", i, err)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for _, p := range peers {
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}
			}
			x.waitPeers(t, s, "s", 0)

			got := RecvAll(t, s, "s", 2*n, transport.Limits{MaxMessages: 64})
			if len(got) != 2*n {
				t.Fatalf("received %d messages, want %d", len(got), 2*n)
			}
			next := []int{0, 0}
			var order []int
			for i, m := range got {
				var peer int
				if len(m) != 2 || len(m[0]) != 5 {
					t.Fatalf("message %d: %s", i, ShowFrames(m))
				}
				if _, err := fmt.Sscanf(string(m[0]), "peer%d", &peer); err != nil || peer < 0 || peer > 1 {
					t.Fatalf("message %d: %s", i, ShowFrames(m))
				}
				if string(m[1]) != strconv.Itoa(next[peer]) {
					t.Fatalf("message %d from peer %d: sequence %s, want %d (lost, duplicated or reordered)", i, peer, m[1], next[peer])
				}
				next[peer]++
				order = append(order, peer)
			}
			// Runs while both peers still had messages queued.
			left := []int{n, n}
			longest, run := 0, 0
			for i, peer := range order {
				if left[0] == 0 || left[1] == 0 {
					break
				}
				if i > 0 && order[i-1] == peer {
					run++
				} else {
					run = 1
				}
				longest = max(longest, run)
				left[peer]--
			}
			first := order[:min(200, len(order))]
			if !slices.Contains(first, 0) || !slices.Contains(first, 1) {
				t.Fatalf("the first %d messages all come from one peer", len(first))
			}
			t.Logf("longest run from one peer: %d", longest)
			if longest > fairQueueMaxRun {
				t.Fatalf("%d messages in a row from one peer while the other had messages queued; want at most %d (order %v…)",
					longest, fairQueueMaxRun, order[:min(40, len(order))])
			}
		})
	}
}

// sendFast sends n messages made by msg on a libzmq socket as fast as it
// takes them, waiting for room up to WaitFor. It returns errors, for use
// off the test's goroutine.
func sendFast(p *zmq.Socket, n int, msg func(k int) [][]byte) error {
	deadline := time.Now().Add(WaitFor)
	for k := 0; k < n; {
		_, err := p.SendMessageDontwait(msg(k))
		switch {
		case err == nil:
			k++
		case !isEAGAIN(err):
			return fmt.Errorf("send %d: %w", k, err)
		case time.Now().After(deadline):
			return fmt.Errorf("could not send message %d within %s", k, WaitFor)
		default:
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// testPushRoundRobin: a push hands each message to one PULL peer, in turn.
//
//   - connect: connected to two libzmq PULL peers (tcp and ipc), whose
//     pipes exist from the start, it alternates strictly: each peer gets
//     every other message, in order, and the next message after them.
//   - bind: two libzmq PULL peers connect to it; once both are attached,
//     n messages sent in batches split roughly evenly (each peer gets
//     between 40 % and 60 %), in order per peer, none lost or duplicated.
func testPushRoundRobin(t *testing.T, x *suite) {
	t.Run("connect", func(t *testing.T) {
		s := x.newServer(t)
		ctx := PeerContext(t)
		var pulls []*zmq.Socket
		var eps []string
		for _, ep := range []string{"tcp://127.0.0.1:*", IPCEndpoint(t, "rr")} {
			p := PeerSocket(t, ctx, zmq.PULL, func(p *zmq.Socket) error { return p.Bind(ep) })
			last, err := p.GetLastEndpoint()
			if err != nil {
				t.Fatal(err)
			}
			pulls = append(pulls, p)
			eps = append(eps, last)
		}
		OpenSocket(t, s, "push", KindPush, Attrs{"connect": eps})
		const n = 200
		var b message.Batch
		for i := range n {
			b.Append(Event(zeekproto.LogWriteTopic, "me", []byte(fmt.Sprint(i)))...)
		}
		res, err := s.Send(TestCtx(t), "push", &b)
		if err != nil || res.Sent != n || res.Dropped != 0 {
			t.Fatalf("send: %+v, %v", res, err)
		}
		// Round-robin: each pull gets every other message, in order.
		seen := make([]bool, n)
		for k, p := range pulls {
			var got []string
			for range n / 2 {
				msg := RecvMessage(t, p)
				if len(msg) != 4 {
					t.Fatalf("pull %d got %s", k, ShowFrames(msg))
				}
				got = append(got, string(msg[3]))
			}
			first, err := strconv.Atoi(got[0])
			if err != nil || first > 1 {
				t.Fatalf("pull %d: first message %q", k, got[0])
			}
			for i, g := range got {
				if g != fmt.Sprint(first+2*i) {
					t.Fatalf("pull %d: messages %q are not every other one", k, got)
				}
				if seen[first+2*i] {
					t.Fatalf("message %s went to both pulls", g)
				}
				seen[first+2*i] = true
			}
		}
		// Nothing else is on its way: the next two messages are the next
		// one of each pull.
		var end message.Batch
		end.Append([]byte("end"))
		end.Append([]byte("end"))
		if res, err := s.Send(TestCtx(t), "push", &end); err != nil || res.Sent != 2 {
			t.Fatalf("send: %+v, %v", res, err)
		}
		for k, p := range pulls {
			if msg := RecvMessage(t, p); len(msg) != 1 || string(msg[0]) != "end" {
				t.Fatalf("pull %d: got %s after its share, want the end marker", k, ShowFrames(msg))
			}
		}
		st := SocketStats(t, s, "push")
		if st.MessagesSent != n+2 || st.FramesSent != 4*n+2 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("bind", func(t *testing.T) {
		s := x.newServer(t)
		OpenSocket(t, s, "push", KindPush, Attrs{"bind": []string{"tcp://127.0.0.1:*", IPCEndpoint(t, "rr")}})
		ctx := PeerContext(t)
		var pulls []*zmq.Socket
		for i := range 2 {
			ep := BoundEndpoint(t, s, "push", i)
			pulls = append(pulls, PeerSocket(t, ctx, zmq.PULL, func(p *zmq.Socket) error { return p.Connect(ep) }))
		}
		r := &rrReader{pulls: pulls, counts: make([]int, len(pulls)), last: []int{-1, -1}, ends: make([]bool, len(pulls))}
		send := func(frames ...[]byte) {
			var b message.Batch
			b.Append(frames...)
			if res, err := s.Send(TestCtx(t), "push", &b); err != nil || res.Sent != 1 {
				t.Fatalf("send: %+v, %v", res, err)
			}
		}
		// A bound push takes a peer in once its handshake is through: send
		// probes until each peer has had one.
		testutil.Eventually(t, WaitFor, "a probe at every peer", func() bool {
			send([]byte("probe"))
			r.drain(t)
			return r.probed[0] && r.probed[1]
		})

		const n, perBatch = 1000, 100
		seen := make([]bool, n)
		r.seen = seen
		for i := 0; i < n; i += perBatch {
			var b message.Batch
			for k := i; k < i+perBatch; k++ {
				b.Append([]byte("data"), []byte(strconv.Itoa(k)))
			}
			if res, err := s.Send(TestCtx(t), "push", &b); err != nil || res.Sent != perBatch || res.Dropped != 0 {
				t.Fatalf("send: %+v, %v", res, err)
			}
		}
		// End markers follow the data in each pipe: once each peer has had
		// one, it has had all its data.
		endsSent := 0
		testutil.Eventually(t, WaitFor, "every message and an end marker at every peer", func() bool {
			r.drain(t)
			if r.ends[0] && r.ends[1] {
				return true
			}
			if endsSent-r.endsGot < 2 {
				send([]byte("end"))
				endsSent++
			}
			return false
		})
		for i, ok := range seen {
			if !ok {
				t.Fatalf("message %d was lost", i)
			}
		}
		t.Logf("split: %v", r.counts)
		for k, c := range r.counts {
			if c*100 < 40*n || c*100 > 60*n {
				t.Fatalf("peer %d got %d of %d messages; want between 40%% and 60%% (split %v)", k, c, n, r.counts)
			}
		}
	})
}

// rrReader reads what a push sent to its PULL peers: probes, then data
// messages ("data", sequence), then end markers.
type rrReader struct {
	pulls   []*zmq.Socket
	probed  [2]bool
	seen    []bool // data sequences received; nil while probing
	counts  []int  // data messages per peer
	last    []int  // last data sequence per peer
	ends    []bool // an end marker arrived at the peer
	endsGot int
}

// drain reads every message the peers have ready, checking each.
func (r *rrReader) drain(t *testing.T) {
	t.Helper()
	for k, p := range r.pulls {
		for {
			msg, err := p.RecvMessageBytes(zmq.DONTWAIT)
			if err != nil {
				if !isEAGAIN(err) {
					t.Fatalf("peer %d: receive: %v", k, err)
				}
				break
			}
			switch {
			case len(msg) == 1 && string(msg[0]) == "probe" && r.counts[k] == 0 && !r.ends[k]:
				r.probed[k] = true
			case len(msg) == 1 && string(msg[0]) == "end":
				r.ends[k] = true
				r.endsGot++
			case len(msg) == 2 && string(msg[0]) == "data" && r.seen != nil && !r.ends[k]:
				seq, err := strconv.Atoi(string(msg[1]))
				if err != nil || seq < 0 || seq >= len(r.seen) {
					t.Fatalf("peer %d got %s", k, ShowFrames(msg))
				}
				if r.seen[seq] {
					t.Fatalf("message %d arrived twice", seq)
				}
				if seq <= r.last[k] {
					t.Fatalf("peer %d: message %d after %d", k, seq, r.last[k])
				}
				r.seen[seq], r.last[k] = true, seq
				r.counts[k]++
			default:
				t.Fatalf("peer %d: unexpected %s (data %d, end seen %v)", k, ShowFrames(msg), r.counts[k], r.ends[k])
			}
		}
	}
}
