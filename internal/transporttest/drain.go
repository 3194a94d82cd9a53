package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
)

// quiescer returns the transport's transport.Quiescer, failing the test
// if it has none.
func quiescer(t *testing.T, s Server) transport.Quiescer {
	t.Helper()
	q, ok := s.(transport.Quiescer)
	if !ok {
		t.Fatalf("the transport does not implement transport.Quiescer")
	}
	return q
}

// drainPayload is the payload size of testQuiesce's messages.
const drainPayload = 4 << 10

// drainLossBound is what a peer of a draining socket may lose, in bytes:
// what its connection was carrying when it saw the end (libzmq's write
// batch and the socket buffers of the connection).
const drainLossBound = 256 << 10

// testQuiesce: a pull socket whose peer sends more than it reads is
// quiesced: Recv returns, in order and without a gap, everything the
// socket had taken in, then transport.ErrDrained. The peer keeps the
// rest: a socket bound to the same endpoint afterwards gets it, in order,
// up to the last message. Between the two, a peer loses only what its
// connection was carrying when it saw the connection end: libzmq's write
// batch (8 KiB) and what the kernel held of it, which on a loaded machine
// came to 24 messages (96 KiB); the bound is drainLossBound. Quiesce is
// refused on sinks.
func testQuiesce(t *testing.T, x *suite) {
	s := x.newServer(t)
	q := quiescer(t, s)
	OpenSocket(t, s, "pull", KindPull, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": FramingRaw, "rcvhwm": 100, "rcvbuf": 65536})
	OpenSocket(t, s, "push", KindPush, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	if err := q.Quiesce(context.Background(), "push"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("quiesce a push socket: %v; want an error wrapping errors.ErrUnsupported", err)
	}
	ep := BoundEndpoint(t, s, "pull", 0)
	const n = 3000
	payload := bytes.Repeat([]byte{'p'}, drainPayload)
	peer := PeerSocket(t, PeerContext(t), zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(ep) })
	sendErr := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := peer.SendMessage([]byte(strconv.Itoa(i)), payload); err != nil {
				sendErr <- fmt.Errorf("peer send %d: %w", i, err)
				return
			}
		}
		sendErr <- nil
	}()

	// The pull reads a little, then is quiesced with more on its way.
	next := 0
	check := func(msgs [][][]byte) {
		t.Helper()
		for _, m := range msgs {
			if len(m) != 2 || string(m[0]) != strconv.Itoa(next) {
				t.Fatalf("got message %q, want %d", m[0], next)
			}
			next++
		}
	}
	check(RecvAll(t, s, "pull", 10, transport.Limits{MaxMessages: 10}))
	if err := q.Quiesce(context.Background(), "pull"); err != nil {
		t.Fatal(err)
	}
	ctx := TestCtx(t)
	var b message.Batch
	for {
		b.Reset()
		err := s.Recv(ctx, "pull", &b, transport.Limits{})
		check(BatchMessages(&b))
		if errors.Is(err, transport.ErrDrained) {
			break
		}
		if err != nil {
			t.Fatalf("receive after quiesce, at message %d: %v", next, err)
		}
	}
	drained := next
	if drained == n {
		t.Fatalf("the peer had sent everything before the pull was quiesced; the test proves nothing")
	}

	// A new socket on the same endpoint gets the rest from the peer.
	OpenSocket(t, s, "pull2", KindPull, Attrs{"bind": []string{ep}, "framing": FramingRaw})
	first := -1
	for next < n {
		for _, m := range RecvAll(t, s, "pull2", 1, transport.Limits{}) {
			seq, err := strconv.Atoi(string(m[0]))
			if err != nil {
				t.Fatalf("got %q", m[0])
			}
			if first < 0 {
				first, next = seq, seq
			}
			check([][][]byte{m})
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	t.Logf("drained %d of %d messages; the peer sent the rest from %d on", drained, n, first)
	if lost, bound := first-drained, drainLossBound/drainPayload; lost < 0 || lost > bound {
		t.Fatalf("after draining %d messages, the peer went on at %d: %d lost, want at most %d", drained, first, lost, bound)
	}
}
