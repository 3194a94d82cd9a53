package puresock

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/internal/testutil"
)

// slowSubscriber is a SUB peer with a small receive HWM and kernel buffer
// that does not read until the test says so.
func slowSubscriber(t *testing.T, ctx *zmq.Context, ep, topic string) *zmq.Socket {
	return peerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
		for _, err := range []error{p.SetRcvhwm(10), p.SetRcvbuf(4096), p.SetSubscribe(topic)} {
			if err != nil {
				return err
			}
		}
		return p.Connect(ep)
	})
}

// fill publishes big messages numbered from *seq on topic until the XPUB
// refuses one (nodrop) or n were taken; it returns how many were taken.
func fill(t *testing.T, s *Socket, topic string, seq *int, n int) int {
	t.Helper()
	payload := bytes.Repeat([]byte{'p'}, 16<<10)
	for i := 0; i < n; i++ {
		err := s.TrySend([][]byte{[]byte(topic), []byte(strconv.Itoa(*seq)), payload})
		if errors.Is(err, ErrWouldBlock) {
			return i
		}
		if err != nil {
			t.Fatal(err)
		}
		*seq++
	}
	return n
}

// missed returns the messages an XPUB's subscribers missed.
func missed(s *Socket) uint64 {
	var n uint64
	for _, p := range s.PeerStats() {
		n += p.Missed
	}
	return n
}

// TestXPubSlowSubscriber: one subscriber stops reading. With nodrop the
// XPUB refuses messages for it once its queue holds SendHWM, the memory
// held stays bounded, subscribers of other topics keep receiving, and
// nothing is lost; without nodrop it takes every message, the slow
// subscriber misses some, and each miss is counted.
func TestXPubSlowSubscriber(t *testing.T) {
	for _, nodrop := range []bool{true, false} {
		t.Run(fmt.Sprint("nodrop=", nodrop), func(t *testing.T) {
			t.Parallel()
			const hwm = 10
			s := newSocket(t, XPub, func(o *Options) {
				o.SendHWM, o.SendBuffer, o.XPubNoDrop = hwm, 4096, nodrop
			})
			ep := bind(t, s, "tcp://127.0.0.1:*")
			ctx := peerContext(t)
			slow := slowSubscriber(t, ctx, ep, "slow")
			fast := peerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
				if err := p.SetSubscribe("fast"); err != nil {
					return err
				}
				return p.Connect(ep)
			})
			notes := map[string]bool{}
			for len(notes) < 2 {
				notes[string(recv(t, s)[0])] = true
			}
			if !notes[string(sub("slow"))] || !notes[string(sub("fast"))] {
				t.Fatalf("subscriptions %v", notes)
			}

			const attempts = 5000
			var taken int
			if nodrop {
				// Sooner or later the slow subscriber's queue stays full: the
				// writer is stuck on full kernel buffers.
				testutil.Eventually(t, waitFor, "the XPUB to refuse messages for the stuck subscriber", func() bool {
					if fill(t, s, "slow", &taken, attempts) > 0 {
						return false
					}
					time.Sleep(20 * time.Millisecond)
					return fill(t, s, "slow", &taken, attempts) == 0
				})
				if taken > 200 {
					t.Fatalf("the XPUB took %d 16 KiB messages for a subscriber that does not read", taken)
				}
				if q := s.Queued(); q > hwm {
					t.Fatalf("%d messages queued, HWM %d", q, hwm)
				}
				if missed(s) != 0 {
					t.Fatalf("dropped %d with nodrop", missed(s))
				}
			} else {
				if fill(t, s, "slow", &taken, attempts) != attempts {
					t.Fatalf("a lossy XPUB refused a message after %d", taken)
				}
				testutil.Eventually(t, waitFor, "drops to be counted", func() bool { return missed(s) > 0 })
				if q := s.Queued(); q > hwm {
					t.Fatalf("%d messages queued, HWM %d", q, hwm)
				}
			}
			// Other topics flow meanwhile.
			for i := range 20 {
				if err := s.TrySend([][]byte{[]byte("fast"), []byte(strconv.Itoa(i))}); err != nil {
					t.Fatalf("message for the fast subscriber refused: %v", err)
				}
				if got := recvPeer(t, fast); string(got[1]) != strconv.Itoa(i) {
					t.Fatalf("fast subscriber got %s", show(got))
				}
			}
			// The slow subscriber reads now: it gets every message taken
			// and not dropped, in order.
			dropped := int(missed(s))
			last := -1
			for got := 0; got < taken-dropped; got++ {
				msg := recvPeer(t, slow)
				seq, err := strconv.Atoi(string(msg[1]))
				if err != nil || seq <= last {
					t.Fatalf("slow subscriber got sequence %q after %d", msg[1], last)
				}
				if nodrop && seq != last+1 {
					t.Fatalf("slow subscriber: sequence %d after %d with nodrop", seq, last)
				}
				last = seq
			}
			if msg, ok := tryRecvPeer(t, slow); ok {
				t.Fatalf("slow subscriber got %s beyond the %d taken and %d dropped", show(msg[:2]), taken, dropped)
			}
		})
	}
}

// TestPushRoundRobin: a PUSH hands out messages one peer at a time, in
// turn, and skips a peer whose queue is full without losing or doubling
// anything.
func TestPushRoundRobin(t *testing.T) {
	t.Run("even", func(t *testing.T) {
		t.Parallel()
		ctx := peerContext(t)
		a, epA := boundPeer(t, ctx, zmq.PULL, "tcp://127.0.0.1:*", nil)
		b, epB := boundPeer(t, ctx, zmq.PULL, ipcEndpoint(t, "b"), nil)
		s := newSocket(t, Push, nil)
		connect(t, s, epA)
		connect(t, s, epB)
		const n = 200
		for i := range n {
			send(t, s, []byte(strconv.Itoa(i)))
		}
		for k, p := range []*zmq.Socket{a, b} {
			for i := range n / 2 {
				if got := recvPeer(t, p); string(got[0]) != strconv.Itoa(2*i+k) {
					t.Fatalf("peer %d, message %d: got %s", k, i, show(got))
				}
			}
		}
	})
	t.Run("skips full", func(t *testing.T) {
		t.Parallel()
		ctx := peerContext(t)
		stuck, epStuck := boundPeer(t, ctx, zmq.PULL, "tcp://127.0.0.1:*", func(p *zmq.Socket) error {
			if err := p.SetRcvhwm(5); err != nil {
				return err
			}
			return p.SetRcvbuf(4096)
		})
		reader, epReader := boundPeer(t, ctx, zmq.PULL, "tcp://127.0.0.1:*", nil)
		s := newSocket(t, Push, func(o *Options) { o.SendHWM, o.SendBuffer = 5, 4096 })
		connect(t, s, epStuck)
		connect(t, s, epReader)
		waitPeers(t, s, 2)
		const n = 3000
		payload := bytes.Repeat([]byte{'x'}, 4<<10)
		got := map[string]int{}
		done := make(chan error, 1)
		go func() {
			for i := range n {
				if err := s.Send(t.Context(), [][]byte{[]byte(strconv.Itoa(i)), payload}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		// Everything the stuck peer cannot take goes to the reader.
		var fromReader int
		for fromReader < n-200 {
			msg := recvPeer(t, reader)
			got[string(msg[0])]++
			fromReader++
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Now drain both; every message arrived exactly once.
		for len(got) < n {
			msg, ok := tryRecvPeer(t, reader)
			if !ok {
				if msg, ok = tryRecvPeer(t, stuck); !ok {
					continue
				}
			}
			got[string(msg[0])]++
		}
		for k, c := range got {
			if c != 1 {
				t.Fatalf("message %s arrived %d times", k, c)
			}
		}
	})
	for _, immediate := range []bool{false, true} {
		t.Run(fmt.Sprint("absent peer, immediate=", immediate), func(t *testing.T) {
			t.Parallel()
			ctx := peerContext(t)
			live, epLive := boundPeer(t, ctx, zmq.PULL, "tcp://127.0.0.1:*", nil)
			s := newSocket(t, Push, func(o *Options) { o.Immediate = immediate })
			connect(t, s, deadEndpoint(t))
			connect(t, s, epLive)
			waitPeers(t, s, 1)
			const n = 20
			for i := range n {
				send(t, s, []byte(strconv.Itoa(i)))
			}
			// Without immediate the absent peer's pipe takes every other
			// message, as libzmq's does; with it the live peer gets all.
			want := n
			if !immediate {
				want = n / 2
				testutil.Eventually(t, waitFor, "messages queued for the absent peer", func() bool { return s.Queued() == n/2 })
			}
			for i := range want {
				seq := i
				if !immediate {
					seq = 2*i + 1
				}
				if got := recvPeer(t, live); string(got[0]) != strconv.Itoa(seq) {
					t.Fatalf("live peer, message %d: got %s, want %d", i, show(got), seq)
				}
			}
			if got, ok := tryRecvPeer(t, live); ok {
				t.Fatalf("live peer got an extra message %s", show(got))
			}
		})
	}
}

// deadEndpoint returns a tcp endpoint nobody listens on.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "tcp://" + addr
}

// TestPushNoPeer: a bound PUSH without peers refuses messages until a
// peer arrives.
func TestPushNoPeer(t *testing.T) {
	s := newSocket(t, Push, nil)
	ep := bind(t, s, "tcp://127.0.0.1:*")
	if err := s.TrySend([][]byte{[]byte("x")}); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("send without peers: %v", err)
	}
	pull := peerSocket(t, peerContext(t), zmq.PULL, func(p *zmq.Socket) error { return p.Connect(ep) })
	send(t, s, []byte("hello"))
	if got := recvPeer(t, pull); string(got[0]) != "hello" {
		t.Fatalf("got %s", show(got))
	}
}

// TestPullFairQueue: a PULL reads one message from each peer in turn
// while several have messages waiting.
func TestPullFairQueue(t *testing.T) {
	s := newSocket(t, Pull, nil)
	ep := bind(t, s, "tcp://127.0.0.1:*")
	ctx := peerContext(t)
	const perPeer = 50
	names := []string{"a", "b", "c"}
	for _, name := range names {
		p := peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(ep) })
		for i := range perPeer {
			sendPeer(t, p, []byte(name), []byte(strconv.Itoa(i)))
		}
	}
	testutil.Eventually(t, waitFor, "every message to arrive", func() bool { return s.Queued() == perPeer*len(names) })
	next := map[string]int{}
	for round := range perPeer {
		seen := map[string]bool{}
		for range names {
			msg := recv(t, s)
			name := string(msg[0])
			if seen[name] {
				t.Fatalf("round %d: two messages from %s before the others had a turn", round, name)
			}
			seen[name] = true
			if string(msg[1]) != strconv.Itoa(next[name]) {
				t.Fatalf("from %s: got %s, want %d", name, msg[1], next[name])
			}
			next[name]++
		}
	}
}

// TestRecvHWMPushesBack: a PULL that is not read stops reading from its
// peer at RecvHWM, so the peer's own HWM refuses further messages; once
// read, everything arrives in order.
func TestRecvHWMPushesBack(t *testing.T) {
	s := newSocket(t, Pull, func(o *Options) { o.RecvHWM, o.RecvBuffer = 10, 4096 })
	ep := bind(t, s, "tcp://127.0.0.1:*")
	push := peerSocket(t, peerContext(t), zmq.PUSH, func(p *zmq.Socket) error {
		for _, err := range []error{p.SetSndhwm(10), p.SetSndbuf(4096)} {
			if err != nil {
				return err
			}
		}
		return p.Connect(ep)
	})
	payload := bytes.Repeat([]byte{'x'}, 16<<10)
	sent := 0
	testutil.Eventually(t, waitFor, "the peer to be refused", func() bool {
		for {
			if _, err := push.SendMessageDontwait([]byte(strconv.Itoa(sent)), payload); err != nil {
				return true
			}
			sent++
			if sent > 10000 {
				t.Fatal("the peer sent 10000 16 KiB messages to a PULL nobody reads")
			}
		}
	})
	if q := s.Queued(); q > 10 {
		t.Fatalf("%d messages queued, RecvHWM 10", q)
	}
	for i := range sent {
		if got := recv(t, s); string(got[0]) != strconv.Itoa(i) {
			t.Fatalf("message %d: got %s", i, got[0])
		}
	}
}

// TestByteBounds: the pipes are bounded in bytes as well as messages.
// An XPUB whose subscriber does not read stops taking 16 KiB messages once
// the queue holds SendHWMBytes (the message count bound is far away), and
// a PULL whose application does not read stops reading its peer once the
// queue holds RecvHWMBytes; then everything arrives in order.
func TestByteBounds(t *testing.T) {
	const bound, size = 64 << 10, 16 << 10
	payload := bytes.Repeat([]byte{'p'}, size)
	ctx := peerContext(t)

	t.Run("send", func(t *testing.T) {
		s := newSocket(t, XPub, func(o *Options) {
			o.SendHWM, o.SendHWMBytes, o.SendBuffer, o.XPubNoDrop = 1000, bound, 4096, true
		})
		slow := slowSubscriber(t, ctx, bind(t, s, "tcp://127.0.0.1:*"), "t")
		recv(t, s)
		taken := 0
		testutil.Eventually(t, waitFor, "the XPUB to refuse messages", func() bool {
			if fill(t, s, "t", &taken, 1000) > 0 {
				return false
			}
			time.Sleep(20 * time.Millisecond)
			return fill(t, s, "t", &taken, 1000) == 0
		})
		if q := s.Queued(); q > bound/(16<<10)+1 {
			t.Fatalf("%d messages of 16 KiB queued; the bound is %d bytes", q, bound)
		}
		for i := range taken {
			if got := recvPeer(t, slow); string(got[1]) != strconv.Itoa(i) {
				t.Fatalf("got %s, want %d", show(got[:2]), i)
			}
		}
	})

	t.Run("receive", func(t *testing.T) {
		s := newSocket(t, Pull, func(o *Options) {
			o.RecvHWM, o.RecvHWMBytes, o.RecvBuffer = 1000, bound, 4096
		})
		ep := bind(t, s, "tcp://127.0.0.1:*")
		peer := peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error {
			for _, err := range []error{p.SetSndhwm(1000), p.SetSndbuf(4096)} {
				if err != nil {
					return err
				}
			}
			return p.Connect(ep)
		})
		const n = 200
		for i := range n {
			sendPeer(t, peer, []byte(strconv.Itoa(i)), payload)
		}
		// The queue fills up to the bound and stays there.
		testutil.Eventually(t, waitFor, "the queue to fill", func() bool {
			before := s.Queued()
			time.Sleep(50 * time.Millisecond)
			return before > 0 && s.Queued() == before
		})
		if q := s.Queued(); q > bound/size+1 {
			t.Fatalf("%d messages of 16 KiB queued; the bound is %d bytes", q, bound)
		}
		for i := range n {
			if got := recv(t, s); string(got[0]) != strconv.Itoa(i) {
				t.Fatalf("got %s, want %d", show(got[:1]), i)
			}
		}
	})
}
