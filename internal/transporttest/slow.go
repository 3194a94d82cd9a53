package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
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

// slowSetup is a broker link whose xpub (nodrop, small HWM and kernel
// buffers) serves a slow subscriber (topic "a", never reads until told)
// and a fast one (every topic, always reading), each also subscribed to a
// Zeek node-id topic (node ids "slow" and "fast"). The publisher
// alternates topics "a" (32 KiB payloads, which fill the slow
// subscriber's queue quickly) and "b" (small), sequence numbers in frame
// 1.
type slowSetup struct {
	s         Server
	pub, slow *zmq.Socket

	mu       sync.Mutex
	fastSeqs []int
	fastErr  error
	stopFast chan struct{}
	fastDone chan struct{}
}

const slowPublished = 2000

// Node-id topics of the slow setup's subscribers.
var (
	slowNodeID = zeekproto.NodeIDTopic("slow")
	fastNodeID = zeekproto.NodeIDTopic("fast")
)

// newSlowSetup starts the slow setup; extra attributes go to the xpub.
func newSlowSetup(t *testing.T, x *suite, sendTimeoutMs int, extra Attrs) *slowSetup {
	t.Helper()
	st := &slowSetup{s: x.newServer(t), stopFast: make(chan struct{}), fastDone: make(chan struct{})}
	s := st.s
	OpenSocket(t, s, "xsub", KindXSub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	xpubAttrs := Attrs{
		"bind": []string{"tcp://127.0.0.1:*"}, "nodrop": true, "sndhwm": 10, "sndbuf": 16384,
		"send_timeout_ms": sendTimeoutMs, "linger_ms": 0,
	}
	maps.Copy(xpubAttrs, extra)
	OpenSocket(t, s, "xpub", KindXPub, xpubAttrs)
	if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}}); err != nil {
		t.Fatal(err)
	}
	ctx := PeerContext(t)
	xpubEP := BoundEndpoint(t, s, "xpub", 0)
	st.slow = PeerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
		for _, step := range []error{p.SetRcvhwm(10), p.SetRcvbuf(16384), p.SetSubscribe(slowNodeID), p.SetSubscribe("a")} {
			if step != nil {
				return step
			}
		}
		return p.Connect(xpubEP)
	})
	fast := PeerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
		for _, step := range []error{p.SetSubscribe(fastNodeID), p.SetSubscribe("")} {
			if step != nil {
				return step
			}
		}
		return p.Connect(xpubEP)
	})
	st.pub = PeerSocket(t, ctx, zmq.XPUB, func(p *zmq.Socket) error {
		if err := p.SetXpubNodrop(true); err != nil {
			return err
		}
		if err := p.SetSndtimeo(100 * time.Millisecond); err != nil {
			return err
		}
		return p.Connect(BoundEndpoint(t, s, "xsub", 0))
	})
	// The publisher must know every subscription before it publishes.
	want := map[string]bool{string(Sub("a")): true, string(Sub("")): true, string(Sub(slowNodeID)): true, string(Sub(fastNodeID)): true}
	for len(want) > 0 {
		delete(want, string(RecvMessage(t, st.pub)[0]))
	}
	// The fast subscriber reads on its own goroutine until stopped.
	go func() {
		defer close(st.fastDone)
		for {
			select {
			case <-st.stopFast:
				return
			default:
			}
			msg, err := fast.RecvMessageBytes(0)
			if err != nil {
				if isEAGAIN(err) {
					continue
				}
				st.mu.Lock()
				st.fastErr = err
				st.mu.Unlock()
				return
			}
			if len(msg) == 4 && bytes.HasPrefix(msg[0], []byte(zeekproto.NodeIDTopicPrefix)) {
				continue
			}
			seq, err := strconv.Atoi(string(msg[1]))
			st.mu.Lock()
			if err != nil || len(msg) != 4 {
				st.fastErr = fmt.Errorf("fast subscriber got %s", ShowFrames(msg))
			}
			st.fastSeqs = append(st.fastSeqs, seq)
			st.mu.Unlock()
		}
	}()
	t.Cleanup(st.stopFastReader)
	return st
}

func (st *slowSetup) stopFastReader() {
	select {
	case <-st.stopFast:
	default:
		close(st.stopFast)
	}
	<-st.fastDone
}

func (st *slowSetup) fast() ([]int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]int(nil), st.fastSeqs...), st.fastErr
}

func slowEvent(i int) [][]byte {
	if i%2 == 0 {
		return Event("a", strconv.Itoa(i), bytes.Repeat([]byte{'a'}, 32<<10))
	}
	return Event("b", strconv.Itoa(i), []byte("b"))
}

// publish sends every event on its own goroutine with blocking sends,
// until done or ctx ends. The returned function waits for it.
func (st *slowSetup) publish(t *testing.T, ctx context.Context) (wait func() error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		for i := 0; i < slowPublished; {
			if err = ctx.Err(); err != nil {
				return
			}
			if _, err = st.pub.SendMessage(slowEvent(i)); err != nil {
				if isEAGAIN(err) {
					continue // timed out waiting for room; look at ctx
				}
				return
			}
			i++
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return func() error {
		<-done
		return err
	}
}

func checkIncreasing(t *testing.T, seqs []int) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("fast subscriber: sequence %d after %d", seqs[i], seqs[i-1])
		}
	}
}

// testSlowSubscriberBlocks: with send_timeout_ms -1 the link waits for the
// stuck subscriber, so the fast one stalls too; nothing is lost, and once
// the slow one reads again everything arrives.
func testSlowSubscriberBlocks(t *testing.T, x *suite) {
	st := newSlowSetup(t, x, -1, nil)
	waitPublished := st.publish(t, context.Background())

	// Wait until the link stops moving: its xpub counter holds still while
	// the publisher is not done.
	var stalledAt uint64
	testutil.Eventually(t, WaitFor, "the link to stall", func() bool {
		before := SocketStats(t, st.s, "xpub").MessagesSent
		time.Sleep(200 * time.Millisecond)
		after := SocketStats(t, st.s, "xpub").MessagesSent
		stalledAt = after
		return before == after && after > 0
	})
	seqs, err := st.fast()
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) >= slowPublished || stalledAt >= slowPublished {
		t.Fatalf("fast subscriber got %d of %d while the slow one is stuck; the link did not stall", len(seqs), slowPublished)
	}
	if d := SocketStats(t, st.s, "xpub").Drops; len(d) != 0 {
		t.Fatalf("drops while blocking: %v", d)
	}

	// The slow subscriber reads again: everything arrives.
	for i := 0; i < slowPublished; i += 2 {
		msg := RecvMessage(t, st.slow)
		if string(msg[1]) != strconv.Itoa(i) {
			t.Fatalf("slow subscriber: got sequence %s, want %d", msg[1], i)
		}
	}
	if err := waitPublished(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, WaitFor, "the fast subscriber to get everything", func() bool {
		seqs, err := st.fast()
		return err != nil || len(seqs) == slowPublished
	})
	seqs, err = st.fast()
	if err != nil {
		t.Fatal(err)
	}
	checkIncreasing(t, seqs)
	xpub := SocketStats(t, st.s, "xpub")
	if xpub.MessagesSent != slowPublished || len(xpub.Drops) != 0 {
		t.Fatalf("xpub stats %+v", xpub)
	}
}

// publishLockstep publishes events from..to-1, each one once the fast
// subscriber has it, so that the fast subscriber's own queue never
// fills, however loaded the machine: what it does not get was refused for
// it by the broker.
func (st *slowSetup) publishLockstep(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := st.pub.SendMessage(slowEvent(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		deadline := time.Now().Add(WaitFor)
		for {
			seqs, err := st.fast()
			if err != nil {
				t.Fatal(err)
			}
			if len(seqs) > 0 && seqs[len(seqs)-1] >= i {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the fast subscriber did not get message %d within %s", i, WaitFor)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// peerByNodeID returns the connected or departed peers of an xpub with
// the given node id.
func peerByNodeID(st transport.SocketStats, id string) []transport.PeerStats {
	var out []transport.PeerStats
	for _, p := range st.Peers {
		if p.NodeID == id {
			out = append(out, p)
		}
	}
	return out
}

// testSlowSubscriberDrops: with send_timeout_ms 0 or N > 0 a subscriber
// whose queue stays full costs only itself. The link waits for it at most
// N ms once; then it is stalled: it misses the messages meant for it
// until it reads again, while the others get every message. Each message
// it missed is counted once as stalled_peer on the xpub, nothing is an
// hwm drop (every message reached the fast subscriber), the stalled
// subscriber's PeerStats (named by its node id) count its losses and say
// it is stalled, one stall episode is counted, and once it reads it gets
// the messages it did not miss, in order.
func testSlowSubscriberDrops(t *testing.T, x *suite) {
	for _, timeout := range []int{0, 30} {
		t.Run(fmt.Sprint("send_timeout_ms=", timeout), func(t *testing.T) {
			st := newSlowSetup(t, x, timeout, nil)
			st.publishLockstep(t, 0, slowPublished)
			seqs, err := st.fast()
			if err != nil {
				t.Fatal(err)
			}
			checkIncreasing(t, seqs)
			if len(seqs) != slowPublished {
				t.Fatalf("the fast subscriber got %d of %d messages", len(seqs), slowPublished)
			}
			xpub := SocketStats(t, st.s, "xpub")
			missed := xpub.Drops[DropStalledPeer]
			if xpub.MessagesSent != slowPublished || xpub.Drops[DropHWM] != 0 || missed == 0 || missed > slowPublished/2 {
				t.Fatalf("xpub %+v: want %d sent and 1 to %d stalled_peer drops, no hwm drops", xpub, slowPublished, slowPublished/2)
			}
			slow, fast := peerByNodeID(xpub, "slow"), peerByNodeID(xpub, "fast")
			if len(slow) != 1 || len(fast) != 1 {
				t.Fatalf("xpub peers %+v: want one slow and one fast", xpub.Peers)
			}
			if fast[0].Dropped != 0 || fast[0].Stalled || fast[0].Stalls != 0 {
				t.Errorf("fast subscriber %+v", fast[0])
			}
			if p := slow[0]; p.Dropped > missed || !p.Stalled || p.Stalls == 0 || p.Address == "" || p.Address == fast[0].Address {
				t.Errorf("slow subscriber %+v; the xpub counted %d stalled_peer drops", p, missed)
			}
			if x.h.ExactPeerDrops {
				if p := slow[0]; p.Dropped != missed || p.Stalls != 1 || !p.DroppedExact {
					t.Errorf("slow subscriber %+v; want exactly %d dropped in 1 episode", p, missed)
				}
				if n := xpub.Events[transport.EventPeerStalled]; n != 1 {
					t.Errorf("%d peer_stalled events, want 1", n)
				}
			} else if xpub.Events[transport.EventPeerStalled] == 0 {
				t.Error("no peer_stalled event")
			}

			// The slow subscriber reads: it gets the "a" messages it did not
			// miss, in order.
			st.stopFastReader()
			last, got := -1, 0
			for {
				msg, ok := TryRecv(t, st.slow)
				if !ok {
					break
				}
				if len(msg) != 4 || string(msg[0]) != "a" {
					continue
				}
				seq, err := strconv.Atoi(string(msg[1]))
				if err != nil || seq <= last {
					t.Fatalf("slow subscriber got sequence %q after %d", msg[1], last)
				}
				last, got = seq, got+1
			}
			if want := slowPublished/2 - int(missed); got != want {
				t.Fatalf("slow subscriber got %d messages; %d of %d were counted as missed", got, missed, slowPublished/2)
			}
		})
	}
}

// testSlowSubscriberDisconnect: with stall_disconnect_ms, a subscriber
// stalled that long is disconnected (peer_stall_disconnect) and listed
// among the departed peers with its losses, while the fast subscriber
// keeps getting everything.
func testSlowSubscriberDisconnect(t *testing.T, x *suite) {
	st := newSlowSetup(t, x, 0, Attrs{"stall_disconnect_ms": 100})
	sent := 0
	testutil.Eventually(t, WaitFor, "the stalled subscriber's disconnection", func() bool {
		st.publishLockstep(t, sent, sent+10)
		sent += 10
		return SocketStats(t, st.s, "xpub").Events[transport.EventPeerStallDisconnect] > 0
	})
	xpub := SocketStats(t, st.s, "xpub")
	departed := false
	for _, p := range peerByNodeID(xpub, "slow") {
		departed = departed || p.Dropped > 0 && !p.Stalled
	}
	if !departed || xpub.Drops[DropStalledPeer] == 0 {
		t.Fatalf("xpub %+v: want the disconnected subscriber with its losses", xpub)
	}
	seqs, err := st.fast()
	if err != nil {
		t.Fatal(err)
	}
	checkIncreasing(t, seqs)
	if len(seqs) != sent {
		t.Fatalf("the fast subscriber got %d of %d", len(seqs), sent)
	}
}

// The slow consumer of testXPubSlowConsumerHWM: an xpub with sndhwm
// hwmSnd and a libzmq SUB with rcvhwm hwmRcv, both with 16 KiB kernel
// buffers, offered hwmOffered messages of 32 KiB that the SUB does not
// read.
const (
	hwmSnd, hwmRcv = 10, 10
	hwmOffered     = 500
	hwmPayload     = 32 << 10
	// hwmHeld bounds the messages that can be between the xpub's Send and
	// the SUB's application while the SUB does not read: what the two HWMs
	// allow, plus a few on their way through the I/O layers (the message
	// each side's connection is writing or reading, the kernel buffers).
	// libzmq holds exactly hwmSnd + hwmRcv here.
	hwmHeld = hwmSnd + hwmRcv + 4
)

// testXPubSlowConsumerHWM: an xpub whose only subscriber stopped reading
// holds a bounded number of messages, and accounts for every one it was
// offered, through Send (not a link):
//
//   - nodrop=false: Send takes every message at once (sent + dropped =
//     offered); what the subscriber gets when it reads again is at most
//     hwmHeld messages, in order; drops are never over-counted, and with
//     Harness.CountsSilentDrops every message the subscriber missed is an
//     "hwm" drop.
//   - nodrop=true, send_timeout_ms=0: the messages refused are dropped at
//     once and counted ("hwm", in the result and in Stats); at most
//     hwmHeld are sent, and the subscriber gets exactly those, in order.
//   - nodrop=true, send_timeout_ms=-1: Send waits instead of losing
//     anything; when its context ends it returns the context's error with
//     what it sent (at most hwmHeld, none dropped), and the subscriber gets
//     exactly those, without a gap.
func testXPubSlowConsumerHWM(t *testing.T, x *suite) {
	for _, c := range []struct {
		nodrop  bool
		timeout int
	}{
		{false, -1},
		{true, 0},
		{true, -1},
	} {
		name := "nodrop=false"
		if c.nodrop {
			name = fmt.Sprint("nodrop=true,send_timeout_ms=", c.timeout)
		}
		t.Run(name, func(t *testing.T) {
			s := x.newServer(t)
			OpenSocket(t, s, "xpub", KindXPub, Attrs{
				"bind": []string{"tcp://127.0.0.1:*"}, "sndhwm": hwmSnd, "sndbuf": 16384,
				"nodrop": c.nodrop, "send_timeout_ms": c.timeout, "linger_ms": 0,
			})
			subscriber := PeerSocket(t, PeerContext(t), zmq.SUB, func(p *zmq.Socket) error {
				for _, step := range []error{p.SetRcvhwm(hwmRcv), p.SetRcvbuf(16384), p.SetSubscribe("")} {
					if step != nil {
						return step
					}
				}
				return p.Connect(BoundEndpoint(t, s, "xpub", 0))
			})
			if got := RecvAll(t, s, "xpub", 1, transport.Limits{}); string(got[0][0]) != string(Sub("")) {
				t.Fatalf("xpub got %s, want the subscription", ShowFrames(got[0]))
			}
			payload := bytes.Repeat([]byte{'x'}, hwmPayload)
			burst := func(from, to int) *message.Batch {
				var b message.Batch
				for i := from; i < to; i++ {
					b.Append(Event("t", strconv.Itoa(i), payload)...)
				}
				return &b
			}
			// recvSeq receives one message of the burst, or a marker.
			recvSeq := func() (int, bool) {
				msg := RecvMessage(t, subscriber)
				if len(msg) != 4 {
					t.Fatalf("subscriber got %s", ShowFrames(msg))
				}
				if string(msg[3]) == "marker" {
					return 0, false
				}
				seq, err := strconv.Atoi(string(msg[1]))
				if err != nil || seq < 0 || seq >= hwmOffered {
					t.Fatalf("subscriber got %s", ShowFrames(msg))
				}
				return seq, true
			}
			marker := func() *message.Batch {
				var b message.Batch
				b.Append(Event("t", "marker", []byte("marker"))...)
				return &b
			}

			switch {
			case !c.nodrop:
				var sent, dropped int
				for i := 0; i < hwmOffered; i += 100 {
					res, err := s.Send(TestCtx(t), "xpub", burst(i, i+100))
					if err != nil || res.Sent+res.Dropped != 100 || (res.Dropped > 0 && res.DropReason != DropHWM) {
						t.Fatalf("send: %+v, %v", res, err)
					}
					sent, dropped = sent+res.Sent, dropped+res.Dropped
				}
				st := SocketStats(t, s, "xpub")
				if st.MessagesSent != uint64(sent) || st.Drops[DropHWM] < uint64(dropped) || len(st.Drops) > 1 {
					t.Fatalf("stats %+v after sending %d, dropping %d", st, sent, dropped)
				}
				// The subscriber reads again. Markers sent after the burst
				// (some may be lost too, while the queues are still full)
				// tell when it has had everything of the burst.
				delivered, last := 0, -1
				deadline := time.Now().Add(WaitFor)
				for done := false; !done; {
					if time.Now().After(deadline) {
						t.Fatalf("no marker within %s", WaitFor)
					}
					if res, err := s.Send(TestCtx(t), "xpub", marker()); err != nil || res.Sent+res.Dropped != 1 {
						t.Fatalf("send marker: %+v, %v", res, err)
					}
					for {
						msg, ok := TryRecv(t, subscriber)
						if !ok {
							break
						}
						if len(msg) != 4 {
							t.Fatalf("subscriber got %s", ShowFrames(msg))
						}
						if string(msg[3]) == "marker" {
							done = true
							break
						}
						seq, err := strconv.Atoi(string(msg[1]))
						if err != nil || seq <= last || seq >= hwmOffered {
							t.Fatalf("subscriber got sequence %s after %d", msg[1], last)
						}
						delivered, last = delivered+1, seq
					}
				}
				missed := uint64(hwmOffered - delivered)
				t.Logf("subscriber got %d of %d; hwm drops counted: %d", delivered, hwmOffered, st.Drops[DropHWM])
				if delivered == 0 || delivered > hwmHeld {
					t.Fatalf("the subscriber got %d of the %d messages after it stalled; want 1 to %d (what the HWMs and buffers hold)", delivered, hwmOffered, hwmHeld)
				}
				if st.Drops[DropHWM] > missed {
					t.Fatalf("%d hwm drops counted, but the subscriber missed only %d", st.Drops[DropHWM], missed)
				}
				if x.h.CountsSilentDrops && st.Drops[DropHWM] != missed {
					t.Fatalf("%d hwm drops counted; the subscriber missed %d", st.Drops[DropHWM], missed)
				}
				checkOnePeer(t, x, SocketStats(t, s, "xpub"))

			case c.timeout == 0:
				var sent, dropped int
				for i := 0; i < hwmOffered; i += 100 {
					res, err := s.Send(TestCtx(t), "xpub", burst(i, i+100))
					if err != nil || res.Sent+res.Dropped != 100 || (res.Dropped > 0 && res.DropReason != DropHWM) {
						t.Fatalf("send: %+v, %v", res, err)
					}
					sent, dropped = sent+res.Sent, dropped+res.Dropped
				}
				t.Logf("sent %d, dropped %d", sent, dropped)
				if sent == 0 || sent > hwmHeld {
					t.Fatalf("the xpub took %d of %d messages for a subscriber that does not read; want 1 to %d", sent, hwmOffered, hwmHeld)
				}
				st := SocketStats(t, s, "xpub")
				if st.MessagesSent != uint64(sent) || st.Drops[DropHWM] != uint64(dropped) || len(st.Drops) != 1 {
					t.Fatalf("stats %+v after sending %d, dropping %d", st, sent, dropped)
				}
				// The subscriber gets exactly what was sent, in order, then
				// a marker sent once there is room.
				last := -1
				for range sent {
					seq, ok := recvSeq()
					if !ok || seq <= last {
						t.Fatalf("subscriber: sequence %d (marker %v) after %d", seq, !ok, last)
					}
					last = seq
				}
				markerDrops := 0
				testutil.Eventually(t, WaitFor, "room for a marker", func() bool {
					res, err := s.Send(TestCtx(t), "xpub", marker())
					if err != nil || res.Sent+res.Dropped != 1 {
						t.Fatalf("send marker: %+v, %v", res, err)
					}
					markerDrops += res.Dropped
					return res.Sent == 1
				})
				if _, ok := recvSeq(); ok {
					t.Fatal("the subscriber got more than was sent")
				}
				st = SocketStats(t, s, "xpub")
				if st.Drops[DropHWM] != uint64(dropped+markerDrops) {
					t.Fatalf("stats %+v; want %d hwm drops", st, dropped+markerDrops)
				}
				checkOnePeer(t, x, st)

			default:
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				type result struct {
					res transport.SendResult
					err error
				}
				done := make(chan result, 1)
				go func() {
					res, err := s.Send(ctx, "xpub", burst(0, hwmOffered))
					done <- result{res, err}
				}()
				// Let it fill the queues, then give up on it.
				testutil.Eventually(t, WaitFor, "the xpub to take the first messages", func() bool {
					return SocketStats(t, s, "xpub").MessagesSent >= hwmSnd
				})
				cancel()
				r := <-done
				t.Logf("sent %d before the cancel: %+v, %v", r.res.Sent, r.res, r.err)
				if !errors.Is(r.err, context.Canceled) || r.res.Dropped != 0 || r.res.Sent > hwmHeld {
					t.Fatalf("a blocking send to a subscriber that does not read: %+v, %v; want context.Canceled, no drops, at most %d sent", r.res, r.err, hwmHeld)
				}
				if st := SocketStats(t, s, "xpub"); st.MessagesSent != uint64(r.res.Sent) || len(st.Drops) != 0 {
					t.Fatalf("stats %+v after sending %d", st, r.res.Sent)
				}
				for i := range r.res.Sent {
					if seq, ok := recvSeq(); !ok || seq != i {
						t.Fatalf("subscriber: got sequence %d (marker %v), want %d", seq, !ok, i)
					}
				}
				if res, err := s.Send(TestCtx(t), "xpub", marker()); err != nil || res.Sent != 1 {
					t.Fatalf("send marker: %+v, %v", res, err)
				}
				if _, ok := recvSeq(); ok {
					t.Fatal("the subscriber got more than was sent")
				}
			}
		})
	}
}

// checkOnePeer checks the PeerStats of an xpub with one subscriber, whose
// losses are the xpub's hwm drops: never more, and exactly as many with
// Harness.ExactPeerDrops.
func checkOnePeer(t *testing.T, x *suite, st transport.SocketStats) {
	t.Helper()
	if len(st.Peers) != 1 {
		t.Fatalf("xpub peers %+v, want one", st.Peers)
	}
	p := st.Peers[0]
	if p.Address == "" || p.Dropped > st.Drops[DropHWM] || x.h.ExactPeerDrops && (p.Dropped != st.Drops[DropHWM] || !p.DroppedExact) {
		t.Fatalf("xpub peer %+v; the xpub counted %d hwm drops", p, st.Drops[DropHWM])
	}
}
