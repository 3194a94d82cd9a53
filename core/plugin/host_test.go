package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/message"
	pb "github.com/zpipe/zpipe/core/plugin/proto/transportv1"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/testutil"
)

var errDone = errors.New("done")

func TestRoundTripLongStream(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startHost(t, HostConfig{})
	openSocket(t, ctx, h, "in", "memsink", `{"queue":"rt"}`)
	openSocket(t, ctx, h, "out", "memsource", `{"queue":"rt"}`)

	const total = 200_000
	var received atomic.Int64
	progress := make(chan struct{}, 1)
	recvErr := make(chan error, 1)
	go func() {
		next := 0
		recvErr <- h.Receive(ctx, "out", transport.ReceiveOptions{Limits: transport.Limits{MaxMessages: 700, MaxBytes: 64 << 10}},
			func(b *message.Batch) error {
				if b.Len() == 0 || b.Len() > 700 {
					return fmt.Errorf("batch of %d messages, limit 700", b.Len())
				}
				for it := b.Iter(); it.Next(); next++ {
					if err := checkSeqMessage(&it, next); err != nil {
						return err
					}
				}
				received.Store(int64(next))
				select {
				case progress <- struct{}{}:
				default:
				}
				if next == total {
					return errDone
				}
				return nil
			})
	}()

	var acks ackTotals
	snd, err := h.Sender(ctx, "in", transport.SendOptions{OnAck: acks.onAck})
	if err != nil {
		t.Fatal(err)
	}
	var b message.Batch
	for seq, n := 0, 0; seq < total; n++ {
		// Stay well inside the plugin queue's capacity so nothing is dropped.
		for int64(seq)-received.Load() > 4000 {
			select {
			case <-progress:
			case err := <-recvErr:
				t.Fatalf("receive ended early: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
		}
		b.Reset()
		size := 1 + (n*37)%997
		for i := 0; i < size && seq < total; i++ {
			appendSeqMessage(&b, seq)
			seq++
		}
		if err := snd.Send(ctx, &b); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	if err := snd.Close(); err != nil {
		t.Fatalf("close sender: %v", err)
	}
	if err := <-recvErr; !errors.Is(err, errDone) {
		t.Fatalf("receive: %v (got %d of %d messages)", err, received.Load(), total)
	}
	_, sent, dropped := acks.get()
	if sent != total || len(dropped) != 0 {
		t.Fatalf("acks: sent %d, dropped %v; want %d sent, none dropped", sent, dropped, total)
	}
	st, err := h.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := socketStats(st, "in")
	out, _ := socketStats(st, "out")
	if in.MessagesSent != total || out.MessagesReceived != total {
		t.Fatalf("stats: in sent %d, out received %d; want %d each", in.MessagesSent, out.MessagesReceived, total)
	}
}

func TestFlowControl(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startHost(t, HostConfig{})
	openSocket(t, ctx, h, "in", "memsink", `{"queue":"fc"}`)
	openSocket(t, ctx, h, "out", "memsource", `{"queue":"fc"}`)

	// Nobody reads yet: the plugin queue fills up and the rest is dropped,
	// reported per batch. The sender never has more than its window in flight.
	const window, batches, perBatch, capacity = 3, 60, 500, 10000
	var acks ackTotals
	snd, err := h.Sender(ctx, "in", transport.SendOptions{Window: window, OnAck: acks.onAck})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < batches; i++ {
		if err := snd.Send(ctx, stringBatch(numbered(fmt.Sprint("b", i), perBatch)...)); err != nil {
			t.Fatal(err)
		}
		if acked, _, _ := acks.get(); i+1-acked > window {
			t.Fatalf("after %d sends only %d acks: more than the window of %d in flight", i+1, acked, window)
		}
	}
	if err := snd.Close(); err != nil {
		t.Fatal(err)
	}
	acked, sent, dropped := acks.get()
	if acked != batches || sent != capacity || dropped["hwm"] != batches*perBatch-capacity {
		t.Fatalf("acks %d, sent %d, dropped %v; want %d acks, %d sent, %d dropped for hwm",
			acked, sent, dropped, batches, capacity, batches*perBatch-capacity)
	}

	// A slow consumer: the plugin reads from its queue only what the credit
	// allows, never more than the window ahead of the consumer.
	const recvWindow, maxMsgs, rounds = 2, 50, 15
	consumed := 0
	calls := 0
	err = h.Receive(ctx, "out", transport.ReceiveOptions{Window: recvWindow, Limits: transport.Limits{MaxMessages: maxMsgs}},
		func(b *message.Batch) error {
			calls++
			// Give the plugin every chance to read ahead if it would.
			time.Sleep(20 * time.Millisecond)
			st, err := h.Stats(ctx)
			if err != nil {
				return err
			}
			out, _ := socketStats(st, "out")
			if limit := consumed + recvWindow*maxMsgs; out.MessagesReceived > uint64(limit) {
				return fmt.Errorf("plugin read %d messages with %d consumed: more than the window (%d) ahead",
					out.MessagesReceived, consumed, limit)
			}
			consumed += b.Len()
			if calls == rounds {
				return errDone
			}
			return nil
		})
	if !errors.Is(err, errDone) {
		t.Fatalf("receive: %v", err)
	}
	// The stream is gone: what the plugin read stays bounded.
	st, err := h.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := socketStats(st, "out")
	if out.MessagesReceived > uint64(consumed+recvWindow*maxMsgs) {
		t.Fatalf("plugin read %d messages, consumer took %d", out.MessagesReceived, consumed)
	}
}

func TestCrashRestartResumesReceive(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	logger, logs := testLogger(t)
	type restart struct {
		attempt int
		err     error
	}
	restarts := make(chan restart, 10)
	h := startHost(t, HostConfig{Logger: logger, OnRestart: func(attempt int, err error) {
		restarts <- restart{attempt, err}
	}})
	oldPID := h.PID()
	openSocket(t, ctx, h, "in", "memsink", `{"queue":"crash"}`)
	openSocket(t, ctx, h, "out", "memsource", `{"queue":"crash","exit_after":300}`)

	var mu sync.Mutex
	var got []string
	recvErr := make(chan error, 1)
	go func() {
		recvErr <- h.Receive(ctx, "out", transport.ReceiveOptions{Window: 2, Limits: transport.Limits{MaxMessages: 100}},
			func(b *message.Batch) error {
				mu.Lock()
				defer mu.Unlock()
				for it := b.Iter(); it.Next(); {
					got = append(got, string(it.Frame(0)))
				}
				return nil
			})
	}()
	var acks ackTotals
	snd, err := h.Sender(ctx, "in", transport.SendOptions{OnAck: acks.onAck})
	if err != nil {
		t.Fatal(err)
	}
	// 300 messages make the plugin crash once it has delivered them all.
	for i := 0; i < 3; i++ {
		if err := snd.Send(ctx, stringBatch(numbered(fmt.Sprint("before", i), 100)...)); err != nil {
			t.Fatal(err)
		}
	}

	var r restart
	select {
	case r = <-restarts:
	case err := <-recvErr:
		t.Fatalf("receive ended: %v", err)
	case <-ctx.Done():
		t.Fatal("no restart")
	}
	if r.attempt < 1 || r.err == nil || !strings.Contains(r.err.Error(), "exit status 3") {
		t.Fatalf("OnRestart(%d, %v); want attempt ≥ 1 and the exit status", r.attempt, r.err)
	}
	if h.Restarts() != 1 || !h.Up() {
		t.Fatalf("Restarts() = %d, Up() = %v; want 1, true", h.Restarts(), h.Up())
	}
	if pid := h.PID(); pid == 0 || pid == oldPID {
		t.Fatalf("PID() = %d after restart, was %d", pid, oldPID)
	}
	if l := logs.String(); !strings.Contains(l, "transport plugin exited") || !strings.Contains(l, "exit status 3") {
		t.Fatalf("the exit and its reason are not in the log")
	}
	st, err := h.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ids := socketIDs(st); ids != "in,out" {
		t.Fatalf("sockets after restart: %q, want in,out", ids)
	}

	after := numbered("after", 50)
	if err := snd.Send(ctx, stringBatch(after...)); err != nil {
		t.Fatalf("send after restart: %v", err)
	}
	var afterGot []string
	testutil.Eventually(t, 20*time.Second, "messages sent after the restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		afterGot = afterGot[:0]
		for _, m := range got {
			if strings.HasPrefix(m, "after-") {
				afterGot = append(afterGot, m)
			}
		}
		return len(afterGot) >= len(after)
	})
	if strings.Join(afterGot, " ") != strings.Join(after, " ") {
		t.Fatalf("received after restart: %s", strings.Join(afterGot, " "))
	}
	mu.Lock()
	seen := make(map[string]bool, len(got))
	for _, m := range got {
		if seen[m] {
			t.Errorf("message %s received twice", m)
		}
		seen[m] = true
	}
	mu.Unlock()
	if err := snd.Close(); err != nil {
		t.Fatal(err)
	}
	_, sent, dropped := acks.get()
	if sent+sum(dropped) != 350 {
		t.Fatalf("acks account for %d sent and %v dropped of 350 messages", sent, dropped)
	}
}

func TestRestartReplaysSocketsAndLinks(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	restarted := make(chan error, 10)
	h := startHost(t, HostConfig{OnRestart: func(_ int, err error) { restarted <- err }})

	// A link path: lin → queue a → lsrc ⇒ link ⇒ lout → queue b → ldst.
	openSocket(t, ctx, h, "lin", "memsink", `{"queue":"a"}`)
	openSocket(t, ctx, h, "lsrc", "memsource", `{"queue":"a"}`)
	openSocket(t, ctx, h, "lout", "memsink", `{"queue":"b"}`)
	openSocket(t, ctx, h, "ldst", "memsource", `{"queue":"b"}`)
	if err := h.StartLink(ctx, transport.LinkSpec{ID: "L", Source: "lsrc", Sinks: []string{"lout"}}); err != nil {
		t.Fatal(err)
	}
	openSocket(t, ctx, h, "gone", "nullsink", `{}`)
	if err := h.Close(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	openSocket(t, ctx, h, "bomb", "memsink", `{"queue":"c","exit_after":150}`)

	var mu sync.Mutex
	var results []transport.SendResult
	snd, err := h.Sender(ctx, "bomb", transport.SendOptions{Window: 4, OnAck: func(r transport.SendResult) {
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The second batch crosses exit_after: the plugin exits before it
	// acknowledges it, so it is reported dropped.
	if err := snd.Send(ctx, stringBatch(numbered("x", 100)...)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "the first acknowledgement", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(results) == 1
	})
	if err := snd.Send(ctx, stringBatch(numbered("x", 100)...)); err != nil {
		t.Fatal(err)
	}
	// A call made while the plugin is going down waits for the new one.
	openSocket(t, ctx, h, "late", "nullsink", `{}`)
	select {
	case <-restarted:
	case <-ctx.Done():
		t.Fatal("no restart")
	}
	st, err := h.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ids := socketIDs(st); ids != "bomb,late,ldst,lin,lout,lsrc" {
		t.Fatalf("sockets after restart: %q", ids)
	}
	// The sender goes on with the new process (exit_after counts afresh).
	for i := 0; i < 2; i++ {
		if err := snd.Send(ctx, stringBatch(numbered("y", 50)...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := snd.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	var sent, restartDrops int
	for _, r := range results {
		sent += r.Sent
		if r.DropReason == DropPluginRestart {
			restartDrops += r.Dropped
		}
	}
	n := len(results)
	mu.Unlock()
	if n != 4 || sent != 200 || restartDrops != 100 {
		t.Fatalf("acks %+v: want 4 outcomes, 200 sent, 100 dropped for %s", results, DropPluginRestart)
	}

	// The link was re-created after its sockets.
	lin, err := h.Sender(ctx, "lin", transport.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := numbered("linked", 20)
	if err := lin.Send(ctx, stringBatch(want...)); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = h.Receive(ctx, "ldst", transport.ReceiveOptions{}, func(b *message.Batch) error {
		for it := b.Iter(); it.Next(); {
			got = append(got, string(it.Frame(0)))
		}
		if len(got) >= len(want) {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("through the link after restart: %v, %v", got, err)
	}
	if err := lin.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsCrossTheBoundary(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startHost(t, HostConfig{Name: "transport-test"})
	openSocket(t, ctx, h, "s", "memsink", `{"queue":"e"}`)
	openSocket(t, ctx, h, "r", "memsource", `{"queue":"e"}`)

	cases := []struct {
		name string
		err  error
		is   error
		msg  string
	}{
		{"unknown kind", h.Open(ctx, transport.SocketSpec{ID: "x", Kind: "pair"}), ErrInvalidArgument, `unknown kind "pair"`},
		{"bad config", h.Open(ctx, transport.SocketSpec{ID: "x", Kind: "memsink", Config: []byte(`{"queue":`)}), ErrInvalidArgument, "config"},
		{"missing queue", h.Open(ctx, transport.SocketSpec{ID: "x", Kind: "memsink", Config: []byte(`{}`)}), ErrInvalidArgument, "needs a queue"},
		{"duplicate id", h.Open(ctx, transport.SocketSpec{ID: "s", Kind: "nullsink"}), ErrAlreadyExists, `socket "s": already exists`},
		{"close unknown", h.Close(ctx, "nope"), ErrNotFound, `socket "nope": not found`},
		{"stop unknown link", h.StopLink(ctx, "nope"), ErrNotFound, `link "nope": not found`},
		{"link from a sink", h.StartLink(ctx, transport.LinkSpec{ID: "l", Source: "s", Sinks: []string{"s"}}), ErrInvalidArgument, "not a source"},
		{"receive unknown", h.Receive(ctx, "nope", transport.ReceiveOptions{}, func(*message.Batch) error { return nil }), ErrNotFound, `socket "nope": not found`},
		{"receive from a sink", h.Receive(ctx, "s", transport.ReceiveOptions{}, func(*message.Batch) error { return nil }), ErrInvalidArgument, "not a source"},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.is) || !strings.Contains(fmt.Sprint(c.err), c.msg) || !strings.Contains(fmt.Sprint(c.err), "transport-test") {
			t.Errorf("%s: error %v; want %v with %q and the plugin's name", c.name, c.err, c.is, c.msg)
		}
	}

	// A send stream to an unknown socket fails; the failure sticks.
	snd, err := h.Sender(ctx, "nope", transport.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sendErr error
	for i := 0; i < 10 && sendErr == nil; i++ {
		sendErr = snd.Send(ctx, stringBatch("a"))
	}
	if sendErr == nil {
		sendErr = snd.Close()
	}
	if !errors.Is(sendErr, ErrNotFound) {
		t.Fatalf("send to unknown socket: %v", sendErr)
	}

	// An invalid batch is refused before it leaves.
	good, err := h.Sender(ctx, "s", transport.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad := &message.Batch{Data: []byte("abc"), Sizes: []uint32{5}, Parts: []uint32{1}}
	if err := good.Send(ctx, bad); err == nil || !strings.Contains(err.Error(), "frame sizes add up to 5 bytes") {
		t.Fatalf("invalid batch: %v", err)
	}
	if err := good.Send(ctx, stringBatch("fine")); err != nil {
		t.Fatalf("send after refused batch: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := good.Send(cancelled, stringBatch("never")); !errors.Is(err, context.Canceled) {
		t.Fatalf("send with a cancelled context: %v", err)
	}
	if err := good.Send(ctx, stringBatch("still fine")); err != nil {
		t.Fatalf("send after a cancelled send: %v", err)
	}
	if err := good.Close(); err != nil {
		t.Fatal(err)
	}
	if err := good.Send(ctx, stringBatch("late")); err == nil {
		t.Fatal("send after Close succeeded")
	}

	// Closing a socket ends its receive stream with transport.ErrClosed.
	recvErr := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		recvErr <- h.Receive(ctx, "r", transport.ReceiveOptions{}, func(*message.Batch) error { return nil })
	}()
	<-started
	if err := h.Close(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-recvErr:
		if !errors.Is(err, transport.ErrClosed) && !errors.Is(err, ErrNotFound) {
			t.Fatalf("receive from closed socket: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("receive did not end when its socket closed")
	}
}

func TestReceiveEndsWithContext(t *testing.T) {
	t.Parallel()
	h := startHost(t, HostConfig{})
	ctx := testContext(t)
	openSocket(t, ctx, h, "r", "memsource", `{"queue":"idle"}`)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- h.Receive(rctx, "r", transport.ReceiveOptions{}, func(*message.Batch) error { return nil })
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Receive returned %v, want context.Canceled", err)
		}
	case <-ctx.Done():
		t.Fatal("Receive did not end with its context")
	}
}

func TestServerRejectsInvalidBatch(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startHost(t, HostConfig{})
	openSocket(t, ctx, h, "s", "nullsink", `{}`)
	g, err := h.current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := g.rpc.Send(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &pb.SendRequest{Handle: "s", Batch: &pb.Batch{Data: []byte("ab"), Sizes: []uint32{1, 1}, Parts: []uint32{3}}}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	err = fromStatus(err)
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "parts add up to 3 frames, sizes list 2") {
		t.Fatalf("invalid batch: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startHost(t, HostConfig{})
	d, err := h.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "test" || d.Protocol != transport.ProtocolVersion || !d.HasCapability(transport.CapLink) {
		t.Fatalf("description: %+v", d)
	}
	k, ok := d.Socket("memsource")
	if !ok || k.Role != transport.RoleSource {
		t.Fatalf("memsource: %+v", k)
	}
	q, ok := k.Schema.Lookup("queue")
	if !ok || !q.Required || q.Type != "string" {
		t.Fatalf("queue attribute: %+v", q)
	}
	e, ok := k.Schema.Lookup("exit_after")
	if !ok || e.Default != float64(0) {
		t.Fatalf("exit_after attribute: %+v", e)
	}
}

func TestLogsReachHostLogger(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	logger, logs := testLogger(t)
	h := startHost(t, HostConfig{Logger: logger, Name: "transport-test"})
	openSocket(t, ctx, h, "logged", "nullsink", `{}`)
	if err := h.Close(ctx, "logged"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "plugin log records in the host log", func() bool {
		l := logs.String()
		// A record of the plugin's logger, with its level and attributes …
		rec := strings.Contains(l, `level=INFO msg="socket open"`) && strings.Contains(l, "id=logged") && strings.Contains(l, "kind=nullsink")
		// … and a plain line the plugin wrote to stderr.
		line := strings.Contains(l, `msg="closing socket logged"`) && strings.Contains(l, "stream=stderr")
		return rec && line && strings.Contains(l, "plugin=transport-test")
	})
}

// TestReceiveDrainQuiesces: with a transport that can quiesce a socket,
// closing Drain delivers everything the socket held when the drain began,
// not only what the plugin had read ahead.
func TestReceiveDrainQuiesces(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startHost(t, HostConfig{})
	openSocket(t, ctx, h, "in", "memsink", `{"queue":"quiesce"}`)
	openSocket(t, ctx, h, "out", "memsource", `{"queue":"quiesce"}`)
	snd, err := h.Sender(ctx, "in", transport.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const total = 5000
	for i := 0; i < total; i += 500 {
		if err := snd.Send(ctx, stringBatch(numbered(fmt.Sprint("m", i), 500)...)); err != nil {
			t.Fatal(err)
		}
	}
	// Every batch acknowledged: all of them are in the socket's queue.
	if err := snd.Close(); err != nil {
		t.Fatal(err)
	}
	drain := make(chan struct{})
	consumed := 0
	err = h.Receive(ctx, "out", transport.ReceiveOptions{Window: 2, Limits: transport.Limits{MaxMessages: 100}, Drain: drain},
		func(b *message.Batch) error {
			consumed += b.Len()
			if consumed >= 1000 {
				select {
				case <-drain:
				default:
					close(drain) // the plugin has read about 1200 of 5000
				}
			}
			return nil
		})
	if err != nil {
		t.Fatalf("drained receive: %v", err)
	}
	if consumed != total {
		t.Fatalf("consumer got %d messages, want every one of the %d queued before the drain", consumed, total)
	}
}

// TestReceiveDrainIdle: a drain ends a receive waiting on an idle socket.
func TestReceiveDrainIdle(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startHost(t, HostConfig{})
	openSocket(t, ctx, h, "out", "memsource", `{"queue":"idle"}`)
	drain := make(chan struct{})
	time.AfterFunc(100*time.Millisecond, func() { close(drain) })
	got := 0
	err := h.Receive(ctx, "out", transport.ReceiveOptions{Drain: drain}, func(b *message.Batch) error {
		got += b.Len()
		return nil
	})
	if err != nil || got != 0 {
		t.Fatalf("drained idle receive: %v, %d messages", err, got)
	}
}

// TestReceiveDrain: closing Drain ends a receive gracefully on a socket
// that cannot quiesce (gensource, which never runs dry): the plugin stops
// reading, every message it read reaches the consumer, and Receive
// returns nil.
func TestReceiveDrain(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := startHost(t, HostConfig{})
	openSocket(t, ctx, h, "out", "gensource", `{"frames":1,"size":16}`)
	drain := make(chan struct{})
	consumed := 0
	err := h.Receive(ctx, "out", transport.ReceiveOptions{Window: 4, Limits: transport.Limits{MaxMessages: 100}, Drain: drain},
		func(b *message.Batch) error {
			consumed += b.Len()
			if consumed >= 1000 {
				select {
				case <-drain:
				default:
					close(drain) // batches are in flight now
				}
			}
			return nil
		})
	if err != nil {
		t.Fatalf("drained receive: %v", err)
	}
	st, err := h.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := socketStats(st, "out")
	if out.MessagesReceived != uint64(consumed) {
		t.Fatalf("plugin read %d messages, consumer got %d", out.MessagesReceived, consumed)
	}
}
