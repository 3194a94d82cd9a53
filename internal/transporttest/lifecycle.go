package transporttest

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/testutil"
)

// testNoLeaks opens and closes sockets (tcp and ipc, bound and connected,
// with io_threads), a link with its tap, waiting receives and a message
// queued for a peer that never comes, several times; the goroutines
// return to where they were. (transport-cgo also checks its libzmq
// threads and contexts, in its own tests.)
func testNoLeaks(t *testing.T, x *suite) {
	base := runtime.NumGoroutine()
	for round := range 5 {
		s := x.h.New(slog.New(slog.DiscardHandler))
		t.Cleanup(func() { _ = s.CloseAll(context.Background()) })
		ctx := context.Background()
		OpenSocket(t, s, "xsub", KindXSub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "io_threads": 1 + round%2})
		OpenSocket(t, s, "xpub", KindXPub, Attrs{"bind": []string{IPCEndpoint(t, "x")}, "io_threads": 2})
		OpenSocket(t, s, "pull", KindPull, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
		OpenSocket(t, s, "peer", KindXSub, Attrs{"connect": []string{BoundEndpoint(t, s, "xpub", 0)}})
		// Nobody listens on port 1: the message stays queued until the close.
		OpenSocket(t, s, "push", KindPush, Attrs{"connect": []string{"tcp://127.0.0.1:1"}, "linger_ms": 0})
		if err := s.StartLink(ctx, transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}, TapSubscriptions: true}); err != nil {
			t.Fatal(err)
		}
		// A subscription from the xsub "peer" crosses the link: its tap
		// reports it.
		var sb message.Batch
		sb.Append(Sub("t"))
		if _, err := s.Send(TestCtx(t), "peer", &sb); err != nil {
			t.Fatal(err)
		}
		if got := RecvAll(t, s, "l", 1, transport.Limits{}); string(got[0][0]) != string(Sub("t")) {
			t.Fatalf("tap got %s", ShowFrames(got[0]))
		}
		// Receives waiting on the pull and the tap end with the close (the
		// tap may first get the unsubscription of the closing peer, and a
		// receive that starts after the close fails at once).
		rctx, cancel := context.WithTimeout(ctx, WaitFor)
		errs := make(chan error, 2)
		for _, h := range []string{"pull", "l"} {
			go func() {
				var b message.Batch
				for {
					b.Reset()
					if err := s.Recv(rctx, h, &b, transport.Limits{}); err != nil {
						errs <- err
						return
					}
				}
			}()
			x.waitReceiving(t, s, h)
		}
		var b message.Batch
		b.Append([]byte("x"))
		res, err := s.Send(TestCtx(t), "push", &b)
		if err != nil || res.Sent != 1 {
			t.Fatalf("send: %+v, %v", res, err)
		}
		if err := s.CloseAll(TestCtx(t)); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := <-errs; errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("round %d: a receive survived the close: %v", round, err)
			}
		}
		cancel()
		if st, err := s.Stats(ctx); err != nil || len(st.Sockets) != 0 {
			t.Fatalf("round %d: stats after CloseAll: %+v, %v", round, st, err)
		}
	}
	testutil.Eventually(t, WaitFor, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
}

// testCloseWhileLingering: Close waits for the linger of unsent messages,
// but no longer than its context allows; the socket is gone from the
// transport at once and ends after its linger (its goroutines end).
func testCloseWhileLingering(t *testing.T, x *suite) {
	base := runtime.NumGoroutine()
	s := x.newServer(t)
	// Nobody listens on port 1: messages stay queued.
	OpenSocket(t, s, "push", KindPush, Attrs{"connect": []string{"tcp://127.0.0.1:1"}, "linger_ms": 1000})
	var b message.Batch
	b.Append([]byte("never delivered"))
	if res, err := s.Send(TestCtx(t), "push", &b); err != nil || res.Sent != 1 {
		t.Fatalf("send: %+v, %v", res, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := s.Close(ctx, "push")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close of a lingering socket: %v", err)
	}
	if _, err := s.BoundEndpoints("push"); err == nil {
		t.Fatal("closed socket still listed")
	}
	if st, err := s.Stats(context.Background()); err != nil || len(st.Sockets) != 0 {
		t.Fatalf("stats after the close: %+v, %v", st, err)
	}
	if _, err := s.Send(context.Background(), "push", &b); err == nil {
		t.Fatal("send on the closed socket succeeded")
	}
	testutil.Eventually(t, WaitFor, "the socket's goroutines to end after the linger", func() bool { return runtime.NumGoroutine() <= base })
	// The id is free for a new socket.
	OpenSocket(t, s, "push", KindPush, Attrs{"connect": []string{"tcp://127.0.0.1:1"}, "linger_ms": 0})
}
