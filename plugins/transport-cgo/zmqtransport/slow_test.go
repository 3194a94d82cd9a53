package zmqtransport

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
)

// slowSetup is a broker link whose xpub (nodrop, small HWM and kernel
// buffers) serves a slow subscriber (topic "a", never reads until told)
// and a fast one (every topic, always reading). The publisher alternates
// topics "a" (32 KiB payloads, which fill the slow subscriber's queue
// quickly) and "b" (small), sequence numbers in frame 1.
type slowSetup struct {
	s         *Server
	pub, slow *zmq.Socket

	mu       sync.Mutex
	fastSeqs []int
	fastErr  error
	stopFast chan struct{}
	fastDone chan struct{}
}

const slowPublished = 2000

func newSlowSetup(t *testing.T, sendTimeoutMs int) *slowSetup {
	t.Helper()
	st := &slowSetup{s: newTestServer(t), stopFast: make(chan struct{}), fastDone: make(chan struct{})}
	s := st.s
	openSocket(t, s, "xsub", KindXSub, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	openSocket(t, s, "xpub", KindXPub, attrs{
		"bind": []string{"tcp://127.0.0.1:*"}, "nodrop": true, "sndhwm": 10, "sndbuf": 16384,
		"send_timeout_ms": sendTimeoutMs, "linger_ms": 0,
	})
	if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}}); err != nil {
		t.Fatal(err)
	}
	ctx := peerContext(t)
	xpubEP := boundEndpoint(t, s, "xpub", 0)
	st.slow = peerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
		for _, step := range []error{p.SetRcvhwm(10), p.SetRcvbuf(16384), p.SetSubscribe("a")} {
			if step != nil {
				return step
			}
		}
		return p.Connect(xpubEP)
	})
	fast := peerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
		if err := p.SetSubscribe(""); err != nil {
			return err
		}
		return p.Connect(xpubEP)
	})
	st.pub = peerSocket(t, ctx, zmq.XPUB, func(p *zmq.Socket) error {
		if err := p.SetXpubNodrop(true); err != nil {
			return err
		}
		if err := p.SetSndtimeo(100 * time.Millisecond); err != nil {
			return err
		}
		return p.Connect(boundEndpoint(t, s, "xsub", 0))
	})
	// The publisher must know both subscriptions before it publishes.
	want := map[string]bool{string(sub("a")): true, string(sub("")): true}
	for len(want) > 0 {
		delete(want, string(recvMessage(t, st.pub)[0]))
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
				if zmq.AsErrno(err) == zmq.Errno(11) {
					continue
				}
				st.mu.Lock()
				st.fastErr = err
				st.mu.Unlock()
				return
			}
			seq, err := strconv.Atoi(string(msg[1]))
			st.mu.Lock()
			if err != nil || len(msg) != 4 {
				st.fastErr = fmt.Errorf("fast subscriber got %s", showFrames(msg))
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
		return event("a", strconv.Itoa(i), bytes.Repeat([]byte{'a'}, 32<<10))
	}
	return event("b", strconv.Itoa(i), []byte("b"))
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
				if zmq.AsErrno(err) == zmq.Errno(11) {
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

// TestSlowSubscriberBlocks: with send_timeout_ms -1 the link waits for the
// stuck subscriber, so the fast one stalls too; nothing is lost, and once
// the slow one reads again everything arrives.
func TestSlowSubscriberBlocks(t *testing.T) {
	st := newSlowSetup(t, -1)
	waitPublished := st.publish(t, context.Background())

	// Wait until the link stops moving: its xpub counter holds still while
	// the publisher is not done.
	var stalledAt uint64
	eventually(t, "the link to stall", func() bool {
		before := socketStats(t, st.s, "xpub").MessagesSent
		time.Sleep(200 * time.Millisecond)
		after := socketStats(t, st.s, "xpub").MessagesSent
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
	if d := socketStats(t, st.s, "xpub").Drops; len(d) != 0 {
		t.Fatalf("drops while blocking: %v", d)
	}

	// The slow subscriber reads again: everything arrives.
	for i := 0; i < slowPublished; i += 2 {
		msg := recvMessage(t, st.slow)
		if string(msg[1]) != strconv.Itoa(i) {
			t.Fatalf("slow subscriber: got sequence %s, want %d", msg[1], i)
		}
	}
	if err := waitPublished(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the fast subscriber to get everything", func() bool {
		seqs, err := st.fast()
		return err != nil || len(seqs) == slowPublished
	})
	seqs, err = st.fast()
	if err != nil {
		t.Fatal(err)
	}
	checkIncreasing(t, seqs)
	xpub := socketStats(t, st.s, "xpub")
	if xpub.MessagesSent != slowPublished || len(xpub.Drops) != 0 {
		t.Fatalf("xpub stats %+v", xpub)
	}
}

// TestSlowSubscriberDrops: with send_timeout_ms 0 or N > 0 the link keeps
// going while the slow subscriber is stuck: every message is either
// delivered or counted as an hwm drop, exactly, and the fast subscriber
// keeps receiving after the first drop. libzmq's NODROP XPUB refuses a
// message for all its subscribers at once, so the "a" messages the slow
// subscriber cannot take are dropped for the fast one too; the "b"
// messages only the fast one wants always pass. The publisher goes in
// lockstep (each message delivered or counted before the next), so the
// fast subscriber's own queue never fills, however loaded the machine.
func TestSlowSubscriberDrops(t *testing.T) {
	for _, timeout := range []int{0, 30} {
		t.Run(fmt.Sprint("send_timeout_ms=", timeout), func(t *testing.T) {
			st := newSlowSetup(t, timeout)
			for i := 0; i < slowPublished; i++ {
				before := socketStats(t, st.s, "xpub").Drops[DropHWM]
				if _, err := st.pub.SendMessage(slowEvent(i)); err != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
				deadline := time.Now().Add(waitFor)
				for {
					seqs, err := st.fast()
					if err != nil || (len(seqs) > 0 && seqs[len(seqs)-1] == i) ||
						socketStats(t, st.s, "xpub").Drops[DropHWM] > before {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("message %d neither delivered nor dropped within %s", i, waitFor)
					}
					time.Sleep(50 * time.Microsecond)
				}
			}
			seqs, err := st.fast()
			if err != nil {
				t.Fatal(err)
			}
			checkIncreasing(t, seqs)
			xpub := socketStats(t, st.s, "xpub")
			drops := xpub.Drops[DropHWM]
			if uint64(len(seqs))+drops != slowPublished || xpub.MessagesSent != uint64(len(seqs)) || len(xpub.Drops) != 1 {
				t.Fatalf("fast got %d, xpub %+v: want sent + drops = %d", len(seqs), xpub, slowPublished)
			}
			if drops == 0 {
				t.Fatal("no drops although the slow subscriber never read")
			}
			got := make(map[int]bool, len(seqs))
			for _, seq := range seqs {
				got[seq] = true
			}
			firstDrop := -1
			for i := 0; i < slowPublished; i++ {
				if !got[i] {
					if i%2 == 1 {
						t.Fatalf("message %d (topic b, fast subscriber only) was dropped", i)
					}
					if firstDrop < 0 {
						firstDrop = i
					}
				}
			}
			if seqs[len(seqs)-1] <= firstDrop {
				t.Fatalf("fast subscriber stopped at the first drop (message %d)", firstDrop)
			}
		})
	}
}
