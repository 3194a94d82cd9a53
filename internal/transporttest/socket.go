package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/core/zeekproto"
	"github.com/zpipe/zpipe/internal/testutil"
)

// testOpenEveryKind opens each kind bound to several endpoints (tcp and
// ipc) and connected to several, and checks that data flows through each
// endpoint.
func testOpenEveryKind(t *testing.T, x *suite) {
	peerTypes := map[string]zmq.Type{KindXSub: zmq.XPUB, KindPull: zmq.PUSH, KindXPub: zmq.XSUB, KindPush: zmq.PULL}
	for _, kind := range []string{KindXSub, KindPull, KindXPub, KindPush} {
		t.Run(kind, func(t *testing.T) {
			s := x.newServer(t)
			ctx := PeerContext(t)
			// Peers bound for our connects.
			var connectEPs []string
			var connectPeers []*zmq.Socket
			for i := range 2 {
				ep := "tcp://127.0.0.1:*"
				if i == 1 {
					ep = IPCEndpoint(t, "peer")
				}
				p := PeerSocket(t, ctx, peerTypes[kind], func(s *zmq.Socket) error { return s.Bind(ep) })
				last, err := p.GetLastEndpoint()
				if err != nil {
					t.Fatal(err)
				}
				connectEPs = append(connectEPs, last)
				connectPeers = append(connectPeers, p)
			}
			a := Attrs{
				"bind":    []string{"tcp://127.0.0.1:*", IPCEndpoint(t, "ours")},
				"connect": connectEPs,
			}
			if kind == KindXSub || kind == KindPull {
				a["framing"] = FramingRaw
			}
			OpenSocket(t, s, "s", kind, a)
			bound, err := s.BoundEndpoints("s")
			if err != nil {
				t.Fatal(err)
			}
			if len(bound) != 2 || bound[0] == "tcp://127.0.0.1:*" {
				t.Fatalf("bound endpoints %q", bound)
			}
			var peers []*zmq.Socket
			for _, ep := range bound {
				peers = append(peers, PeerSocket(t, ctx, peerTypes[kind], func(s *zmq.Socket) error { return s.Connect(ep) }))
			}
			peers = append(peers, connectPeers...)
			checkFlow(t, s, kind, peers)
		})
	}
}

// checkFlow moves one message between our socket "s" and each peer.
func checkFlow(t *testing.T, s Server, kind string, peers []*zmq.Socket) {
	t.Helper()
	ctx := context.Background()
	switch kind {
	case KindXSub, KindPull:
		// The receive stream runs all along: it is what lets the socket
		// take in new connections (and replay subscriptions to them).
		type result struct {
			msgs [][][]byte
			err  error
		}
		received := make(chan result, 1)
		go func() {
			msgs, err := RecvN(s, "s", len(peers), transport.Limits{})
			received <- result{msgs, err}
		}()
		if kind == KindXSub {
			// Subscribe to everything so the XPUB peers send.
			var b message.Batch
			b.Append(Sub(""))
			if _, err := s.Send(ctx, "s", &b); err != nil {
				t.Fatal(err)
			}
			for _, p := range peers {
				if got := RecvMessage(t, p); !bytes.Equal(got[0], Sub("")) {
					t.Fatalf("peer got %s, want the subscription", ShowFrames(got))
				}
			}
		}
		for i, p := range peers {
			SendMessage(t, p, []byte(fmt.Sprint("from peer ", i)))
		}
		r := <-received
		if r.err != nil {
			t.Fatal(r.err)
		}
		got := r.msgs
		var texts []string
		for _, m := range got {
			texts = append(texts, string(m[0]))
		}
		slices.Sort(texts)
		for i := range peers {
			if texts[i] != fmt.Sprint("from peer ", i) {
				t.Fatalf("received %q", texts)
			}
		}
	case KindXPub:
		for _, p := range peers {
			SendMessage(t, p, Sub("topic"))
		}
		// Without verbose, the xpub reports the first subscription only.
		subs := RecvAll(t, s, "s", 1, transport.Limits{})
		if !bytes.Equal(subs[0][0], Sub("topic")) {
			t.Fatalf("xpub received %s", ShowFrames(subs[0]))
		}
		testutil.Eventually(t, WaitFor, "every subscriber to be known", func() bool {
			return SocketStats(t, s, "s").MessagesReceived == 1 && sendUntil(t, s, peers)
		})
	case KindPush:
		// A bound push adds a peer once its handshake is through; send until
		// every peer has had a message.
		got := make([]bool, len(peers))
		testutil.Eventually(t, WaitFor, "a message at every peer", func() bool {
			var b message.Batch
			b.Append([]byte("to a peer"))
			if res, err := s.Send(TestCtx(t), "s", &b); err != nil || res.Sent != 1 {
				t.Fatalf("send: %+v, %v", res, err)
			}
			all := true
			for i, p := range peers {
				for {
					msg, err := p.RecvMessageBytes(zmq.DONTWAIT)
					if err != nil {
						break
					}
					if string(msg[0]) != "to a peer" {
						t.Fatalf("peer %d got %s", i, ShowFrames(msg))
					}
					got[i] = true
				}
				all = all && got[i]
			}
			return all
		})
	}
}

// sendUntil publishes on xpub "s" and reports whether every peer got it.
// Subscriptions reach the xpub one connection at a time, so a publish may
// miss a peer whose subscription is still in flight; the caller retries.
func sendUntil(t *testing.T, s Server, peers []*zmq.Socket) bool {
	var b message.Batch
	b.Append([]byte("topic"), []byte("data"))
	if _, err := s.Send(TestCtx(t), "s", &b); err != nil {
		t.Fatal(err)
	}
	all := true
	for _, p := range peers {
		got := false
		for {
			if _, ok := TryRecv(t, p); !ok {
				break
			}
			got = true
		}
		all = all && got
	}
	return all
}

// testPullRecvBatches: a pull over tcp and ipc hands out what a libzmq
// PUSH sent, in order, in batches within the receive limits; messages
// without four frames are dropped as malformed and counted.
func testPullRecvBatches(t *testing.T, x *suite) {
	for _, transportName := range []string{"tcp", "ipc"} {
		t.Run(transportName, func(t *testing.T) {
			s := x.newServer(t)
			ep := "tcp://127.0.0.1:*"
			if transportName == "ipc" {
				ep = IPCEndpoint(t, "pull")
			}
			OpenSocket(t, s, "pull", KindPull, Attrs{"bind": []string{ep}})
			ctx := PeerContext(t)
			push := PeerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error {
				return p.Connect(BoundEndpoint(t, s, "pull", 0))
			})
			const n = 500
			var want [][][]byte
			for i := range n {
				ev := Event(zeekproto.LogWriteTopic, "node", bytes.Repeat([]byte{byte(i)}, i%300))
				if i%50 == 7 {
					SendMessage(t, push, []byte("short"), []byte("message"))
				}
				SendMessage(t, push, ev...)
				want = append(want, ev)
			}
			// Small limits: many batches, none above them.
			lim := transport.Limits{MaxMessages: 37, MaxBytes: 4096}
			rctx, cancel := context.WithTimeout(context.Background(), WaitFor)
			defer cancel()
			var got [][][]byte
			var b message.Batch
			for len(got) < n {
				b.Reset()
				if err := s.Recv(rctx, "pull", &b, lim); err != nil {
					t.Fatalf("after %d messages: %v", len(got), err)
				}
				if b.Len() == 0 || b.Len() > lim.MaxMessages || b.Bytes() > lim.MaxBytes {
					t.Fatalf("batch of %d messages, %d bytes; limits %+v", b.Len(), b.Bytes(), lim)
				}
				got = append(got, BatchMessages(&b)...)
			}
			for i := range want {
				if !slices.EqualFunc(got[i], want[i], bytes.Equal) {
					t.Fatalf("message %d: got %s, want %s", i, ShowFrames(got[i]), ShowFrames(want[i]))
				}
			}
			st := SocketStats(t, s, "pull")
			short := uint64(n/50 + 1)
			if n%50 <= 7 {
				short = n / 50
			}
			if st.Drops[DropMalformed] != short || st.MessagesReceived != n+short {
				t.Fatalf("stats %+v, want %d malformed of %d", st, short, n+short)
			}
		})
	}
}

// testRecvLargeMessage: a message larger than MaxBytes still arrives, alone.
func testRecvLargeMessage(t *testing.T, x *suite) {
	s := x.newServer(t)
	OpenSocket(t, s, "pull", KindPull, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": FramingRaw})
	push := PeerSocket(t, PeerContext(t), zmq.PUSH, func(p *zmq.Socket) error {
		return p.Connect(BoundEndpoint(t, s, "pull", 0))
	})
	big := bytes.Repeat([]byte("x"), 3<<20)
	SendMessage(t, push, []byte("small"))
	SendMessage(t, push, big, []byte("tail"))
	SendMessage(t, push, []byte("after"))
	got := RecvAll(t, s, "pull", 3, transport.Limits{MaxBytes: 1024})
	if string(got[0][0]) != "small" || !bytes.Equal(got[1][0], big) || string(got[1][1]) != "tail" || string(got[2][0]) != "after" {
		t.Fatalf("got %d messages, frame sizes %d/%d/%d", len(got), len(got[0][0]), len(got[1][0]), len(got[2][0]))
	}
}

// testPushNoPeer: a bound push without peers refuses messages; with
// send_timeout_ms 0 they are dropped as no_peer, with N they are dropped
// after one wait, then at once.
func testPushNoPeer(t *testing.T, x *suite) {
	for _, timeout := range []int{0, 50} {
		t.Run(fmt.Sprint(timeout), func(t *testing.T) {
			s := x.newServer(t)
			OpenSocket(t, s, "push", KindPush, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "send_timeout_ms": timeout})
			var b message.Batch
			for range 10 {
				b.Append([]byte("x"))
			}
			res, err := s.Send(TestCtx(t), "push", &b)
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent != 0 || res.Dropped != 10 || res.DropReason != DropNoPeer {
				t.Fatalf("result %+v", res)
			}
			if d := SocketStats(t, s, "push").Drops; d[DropNoPeer] != 10 || len(d) != 1 {
				t.Fatalf("drops %v", d)
			}
			// A peer arrives: the next batch goes through.
			pull := PeerSocket(t, PeerContext(t), zmq.PULL, func(p *zmq.Socket) error {
				return p.Connect(BoundEndpoint(t, s, "push", 0))
			})
			testutil.Eventually(t, WaitFor, "a send to the new peer", func() bool {
				var one message.Batch
				one.Append([]byte("hello"))
				res, err := s.Send(TestCtx(t), "push", &one)
				if err != nil {
					t.Fatal(err)
				}
				return res.Sent == 1
			})
			if got := RecvMessage(t, pull); string(got[0]) != "hello" {
				t.Fatalf("got %s", ShowFrames(got))
			}
		})
	}
}

// testPushBlockingSend: with send_timeout_ms -1, Send waits for a peer and
// returns when its context ends, counting what it sent.
func testPushBlockingSend(t *testing.T, x *suite) {
	s := x.newServer(t)
	OpenSocket(t, s, "push", KindPush, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	var b message.Batch
	b.Append([]byte("waits for a peer"))
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		res transport.SendResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := s.Send(ctx, "push", &b)
		done <- result{res, err}
	}()
	// The send is still waiting while there is no peer; connect one.
	pull := PeerSocket(t, PeerContext(t), zmq.PULL, func(p *zmq.Socket) error {
		return p.Connect(BoundEndpoint(t, s, "push", 0))
	})
	if got := RecvMessage(t, pull); string(got[0]) != "waits for a peer" {
		t.Fatalf("got %s", ShowFrames(got))
	}
	r := <-done
	if r.err != nil || r.res.Sent != 1 {
		t.Fatalf("send: %+v, %v", r.res, r.err)
	}
	cancel()

	// Now without peers and a context that ends.
	OpenSocket(t, s, "lonely", KindPush, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() {
		res, err := s.Send(ctx2, "lonely", &b)
		done <- result{res, err}
	}()
	cancel2()
	r = <-done
	if !errors.Is(r.err, context.Canceled) || r.res.Sent != 0 || r.res.Dropped != 0 {
		t.Fatalf("send after cancel: %+v, %v", r.res, r.err)
	}
}

// testXSubXPubRecvSend drives an xsub and an xpub through Recv and Send
// only, each from two goroutines at once: the receive and the send stream
// of one socket.
func testXSubXPubRecvSend(t *testing.T, x *suite) {
	s := x.newServer(t)
	OpenSocket(t, s, "xpub", KindXPub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "verbose": true})
	OpenSocket(t, s, "xsub", KindXSub, Attrs{"connect": []string{BoundEndpoint(t, s, "xpub", 0)}, "framing": FramingZeek})
	ctx, cancel := context.WithTimeout(context.Background(), WaitFor)
	defer cancel()

	const n = 2000
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	// xsub send stream: subscriptions.
	wg.Go(func() {
		for i := range 50 {
			var b message.Batch
			b.Append(Sub(fmt.Sprint("t", i)))
			if _, err := s.Send(ctx, "xsub", &b); err != nil {
				errs <- fmt.Errorf("xsub send: %w", err)
				return
			}
		}
	})
	// xpub receive stream: the subscriptions.
	var subs [][][]byte
	wg.Go(func() {
		var b message.Batch
		for len(subs) < 50 {
			b.Reset()
			if err := s.Recv(ctx, "xpub", &b, transport.Limits{}); err != nil {
				errs <- fmt.Errorf("xpub recv: %w", err)
				return
			}
			subs = append(subs, BatchMessages(&b)...)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, m := range subs {
		if !bytes.Equal(m[0], Sub(fmt.Sprint("t", i))) {
			t.Fatalf("subscription %d: %s", i, ShowFrames(m))
		}
	}

	// Now data downstream (xpub send stream) while the xpub receive stream
	// keeps waiting, and the xsub's receive stream reads it.
	errs2 := make(chan error, 3)
	rctx, stopRecv := context.WithCancel(ctx)
	var idle sync.WaitGroup
	idle.Go(func() {
		var b message.Batch
		err := s.Recv(rctx, "xpub", &b, transport.Limits{})
		if !errors.Is(err, context.Canceled) {
			errs2 <- fmt.Errorf("idle xpub recv: %v", err)
		}
	})
	wg.Go(func() {
		for i := 0; i < n; i += 100 {
			var b message.Batch
			for k := i; k < i+100; k++ {
				b.Append(Event(fmt.Sprint("t", k%50), "x", []byte(fmt.Sprint(k)))...)
			}
			res, err := s.Send(ctx, "xpub", &b)
			if err != nil || res.Sent != 100 {
				errs2 <- fmt.Errorf("xpub send: %+v, %v", res, err)
				return
			}
		}
	})
	got := RecvAll(t, s, "xsub", n, transport.Limits{MaxMessages: 64})
	wg.Wait()
	stopRecv()
	idle.Wait()
	close(errs2)
	for err := range errs2 {
		t.Fatal(err)
	}
	for i, m := range got {
		if string(m[3]) != fmt.Sprint(i) {
			t.Fatalf("message %d: %s", i, ShowFrames(m))
		}
	}
	st := SocketStats(t, s, "xsub")
	if st.SubscriptionsSent != 50 || st.MessagesReceived != n {
		t.Fatalf("xsub stats %+v", st)
	}
	if st := SocketStats(t, s, "xpub"); st.SubscriptionsReceived != 50 || st.MessagesSent != n {
		t.Fatalf("xpub stats %+v", st)
	}
}

// testRecvAfterClose: a receive waiting when its socket is closed returns
// transport.ErrClosed; a receive on the closed socket fails.
func testRecvAfterClose(t *testing.T, x *suite) {
	s := x.newServer(t)
	OpenSocket(t, s, "pull", KindPull, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	done := make(chan error, 1)
	go func() {
		var b message.Batch
		done <- s.Recv(context.Background(), "pull", &b, transport.Limits{})
	}()
	x.waitReceiving(t, s, "pull")
	if err := s.Close(context.Background(), "pull"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("receive interrupted by close: %v, want ErrClosed", err)
		}
	case <-time.After(WaitFor):
		t.Fatal("receive still waiting after close")
	}
	var b message.Batch
	if err := s.Recv(context.Background(), "pull", &b, transport.Limits{}); err == nil {
		t.Fatal("receive on a closed socket succeeded")
	}
}

// testRecvContextCancel: a receive with nothing to read returns its
// context's error when the context ends.
func testRecvContextCancel(t *testing.T, x *suite) {
	s := x.newServer(t)
	OpenSocket(t, s, "pull", KindPull, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	var b message.Batch
	if err := s.Recv(ctx, "pull", &b, transport.Limits{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
}

// testWrongDirection: Send on a pull, Recv on a push, non-subscription or
// multi-frame messages on an xsub, an inconsistent batch and unknown ids
// are refused.
func testWrongDirection(t *testing.T, x *suite) {
	s := x.newServer(t)
	OpenSocket(t, s, "pull", KindPull, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	OpenSocket(t, s, "push", KindPush, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	OpenSocket(t, s, "xsub", KindXSub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	ctx := context.Background()
	var b message.Batch
	b.Append([]byte("x"))
	if _, err := s.Send(ctx, "pull", &b); err == nil {
		t.Error("send on pull succeeded")
	}
	if err := s.Recv(ctx, "push", &b, transport.Limits{}); err == nil {
		t.Error("receive on push succeeded")
	}
	if _, err := s.Send(ctx, "xsub", &b); err == nil {
		t.Error("send of a non-subscription on xsub succeeded")
	}
	var multi message.Batch
	multi.Append(Sub("a"), []byte("b"))
	if _, err := s.Send(ctx, "xsub", &multi); err == nil {
		t.Error("send of a 2-frame message on xsub succeeded")
	}
	bad := message.Batch{Data: []byte("abc"), Sizes: []uint32{5}, Parts: []uint32{1}}
	if _, err := s.Send(ctx, "push", &bad); err == nil {
		t.Error("send of an inconsistent batch succeeded")
	}
	if _, err := s.Send(ctx, "nope", &b); err == nil {
		t.Error("send on an unknown socket succeeded")
	}
	if err := s.Close(ctx, "nope"); err == nil {
		t.Error("close of an unknown socket succeeded")
	}
}
