package zmqtransport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
)

// TestLinkPullToSinks: a pull source feeding a push, an xpub and a push
// without peers. Every message reaches both live sinks, in order; the
// peerless push drops each one as no_peer.
func TestLinkPullToSinks(t *testing.T) {
	s := newTestServer(t)
	ctx := peerContext(t)
	openSocket(t, s, "pull", KindPull, attrs{"bind": []string{ipcEndpoint(t, "src")}})
	openSocket(t, s, "push", KindPush, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	openSocket(t, s, "xpub", KindXPub, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	openSocket(t, s, "nobody", KindPush, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "send_timeout_ms": 0})

	pull := peerSocket(t, ctx, zmq.PULL, func(p *zmq.Socket) error { return p.Connect(boundEndpoint(t, s, "push", 0)) })
	subscriber := peerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
		if err := p.SetSubscribe(""); err != nil {
			return err
		}
		return p.Connect(boundEndpoint(t, s, "xpub", 0))
	})
	waitPeers(t, s, "push", 1)
	// The xpub learns the subscription through the link.
	err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "pull", Sinks: []string{"push", "xpub", "nobody"}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the subscription at the xpub", func() bool {
		return socketStats(t, s, "xpub").SubscriptionsReceived == 1
	})
	push := peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(boundEndpoint(t, s, "pull", 0)) })
	const n = 300
	var want [][][]byte
	for i := range n {
		ev := event("log-write", "n", bytes.Repeat([]byte{byte(i)}, 40+i))
		want = append(want, ev)
		sendMessage(t, push, ev...)
	}
	for name, peer := range map[string]*zmq.Socket{"pull": pull, "sub": subscriber} {
		for i := range n {
			if got := recvMessage(t, peer); !slices.EqualFunc(got, want[i], bytes.Equal) {
				t.Fatalf("%s peer, message %d: %s", name, i, showFrames(got))
			}
		}
	}
	eventually(t, "the drops of the peerless push", func() bool {
		return socketStats(t, s, "nobody").Drops[DropNoPeer] == n
	})
	for _, id := range []string{"push", "xpub"} {
		if st := socketStats(t, s, id); st.MessagesSent != n || len(st.Drops) != 0 {
			t.Fatalf("%s stats %+v", id, st)
		}
	}
	if st := socketStats(t, s, "nobody"); st.MessagesSent != 0 || st.Drops[DropNoPeer] != n {
		t.Fatalf("nobody stats %+v", st)
	}
}

// TestLinkOwnsSockets: while a link runs, its sockets refuse Recv and
// Send; after StopLink they work again; Close of a linked socket stops the
// link.
func TestLinkOwnsSockets(t *testing.T) {
	s := newTestServer(t)
	openSocket(t, s, "xsub", KindXSub, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	openSocket(t, s, "xpub", KindXPub, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	openSocket(t, s, "xpub2", KindXPub, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	openSocket(t, s, "pull", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	ctx := context.Background()

	// A receive waiting on the source before the link starts is ended by it.
	waiting := make(chan error, 1)
	go func() {
		var b message.Batch
		waiting <- s.Recv(ctx, "xsub", &b, transport.Limits{})
	}()
	waitReceiving(t, s, "xsub")
	if err := s.StartLink(ctx, transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}}); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err == nil || !strings.Contains(err.Error(), "link") {
		t.Fatalf("receive waiting when the link started: %v", err)
	}
	var b message.Batch
	b.Append(sub("x"))
	if err := s.Recv(ctx, "xsub", &b, transport.Limits{}); err == nil {
		t.Error("receive on a linked source succeeded")
	}
	if _, err := s.Send(ctx, "xpub", &b); err == nil {
		t.Error("send on a linked sink succeeded")
	}
	if err := s.Recv(ctx, "l", &b, transport.Limits{}); err == nil {
		t.Error("receive on a link without tap succeeded")
	}

	for _, bad := range []transport.LinkSpec{
		{ID: "l", Source: "pull", Sinks: []string{"xpub2"}},              // id taken
		{ID: "xpub2", Source: "pull", Sinks: []string{"xpub2"}},          // a socket's id
		{ID: "", Source: "pull", Sinks: []string{"xpub2"}},               // no id
		{ID: "m", Source: "nope", Sinks: []string{"xpub2"}},              // unknown source
		{ID: "m", Source: "xpub2", Sinks: []string{"xpub"}},              // sink as source
		{ID: "m", Source: "pull", Sinks: nil},                            // no sinks
		{ID: "m", Source: "pull", Sinks: []string{"pull"}},               // source as sink
		{ID: "m", Source: "pull", Sinks: []string{"xpub2", "xpub2"}},     // twice
		{ID: "m", Source: "pull", Sinks: []string{"xpub"}},               // sink in use
		{ID: "m", Source: "xsub", Sinks: []string{"xpub2"}},              // source in use
		{ID: "m", Source: "pull", Sinks: []string{"xpub2", "not-there"}}, // unknown sink
	} {
		if err := s.StartLink(ctx, bad); err == nil {
			t.Errorf("StartLink(%+v) succeeded", bad)
		}
	}

	if err := s.StopLink(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	if err := s.StopLink(ctx, "l"); err == nil {
		t.Error("second StopLink succeeded")
	}
	if _, err := s.Send(ctx, "xsub", &b); err != nil {
		t.Errorf("send on the source after StopLink: %v", err)
	}

	if err := s.StartLink(ctx, transport.LinkSpec{ID: "l2", Source: "pull", Sinks: []string{"xpub2"}, TapSubscriptions: true}); err != nil {
		t.Fatal(err)
	}
	tapDone := make(chan error, 1)
	go func() {
		var tb message.Batch
		tapDone <- s.Recv(ctx, "l2", &tb, transport.Limits{})
	}()
	waitReceiving(t, s, "l2")
	if err := s.Close(ctx, "xpub2"); err != nil {
		t.Fatal(err)
	}
	if err := <-tapDone; !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("tap receive when its link stopped: %v", err)
	}
	st, _ := s.Stats(ctx)
	for _, x := range st.Sockets {
		if x.ID == "l2" || x.ID == "xpub2" {
			t.Errorf("stats still list %q", x.ID)
		}
	}
	// The source is free again.
	var pb message.Batch
	rctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Recv(rctx, "pull", &pb, transport.Limits{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("receive on the freed source: %v", err)
	}
}

// TestRawHandleGuard: a raw handle that does not belong to the socket (as
// it would after a change inside pebbe/zmq4) makes StartLink fail with a
// clear error, and nothing is left running.
func TestRawHandleGuard(t *testing.T) {
	s := newTestServer(t)
	openSocket(t, s, "xsub", KindXSub, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	openSocket(t, s, "xpub", KindXPub, attrs{"bind": []string{"tcp://127.0.0.1:*"}})

	// The real resolver agrees with pebbe about every open socket.
	for _, id := range []string{"xsub", "xpub"} {
		sk := internalSock(t, s, id)
		h, err := socketHandle(sk.zs)
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyHandle(h, sk.zs); err != nil {
			t.Fatal(err)
		}
	}

	other := peerSocket(t, peerContext(t), zmq.PAIR, nil)
	otherHandle, err := socketHandle(other)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.rawHandle = func(*zmq.Socket) (unsafe.Pointer, error) { return otherHandle, nil }
	s.mu.Unlock()
	err = s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}})
	if err == nil || !strings.Contains(err.Error(), "raw socket handle") {
		t.Fatalf("StartLink with a foreign handle: %v", err)
	}
	t.Log(err)
	// Opening is guarded the same way.
	if err := s.Open(context.Background(), transport.SocketSpec{ID: "p", Kind: KindPull, Config: []byte(`{"bind":["tcp://127.0.0.1:*"]}`)}); err == nil {
		t.Fatal("Open with a foreign handle succeeded")
	}

	s.mu.Lock()
	s.rawHandle = socketHandle
	s.mu.Unlock()
	if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}}); err != nil {
		t.Fatalf("StartLink after the failed one: %v", err)
	}

	// A closed socket has no handle; nil is not a socket.
	closed := peerSocket(t, peerContext(t), zmq.PAIR, nil)
	closed.Close()
	if _, err := socketHandle(closed); err == nil {
		t.Error("handle of a closed socket")
	}
	if _, err := socketHandle(nil); err == nil {
		t.Error("handle of nil")
	}
}

// TestLinkStopWhileBlocked: a link waiting forever on a stuck subscriber
// still stops, and the message it held is counted as dropped.
func TestLinkStopWhileBlocked(t *testing.T) {
	s := newTestServer(t)
	ctx := peerContext(t)
	openSocket(t, s, "pull", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": FramingRaw})
	openSocket(t, s, "push", KindPush, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "sndhwm": 1, "linger_ms": 0})
	if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "pull", Sinks: []string{"push"}}); err != nil {
		t.Fatal(err)
	}
	// No peer on the push: the first message waits for one (send_timeout_ms -1).
	src := peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(boundEndpoint(t, s, "pull", 0)) })
	sendMessage(t, src, []byte("stuck"))
	eventually(t, "the link to take the message", func() bool {
		return socketStats(t, s, "pull").MessagesReceived == 1
	})
	if err := s.StopLink(context.Background(), "l"); err != nil {
		t.Fatal(err)
	}
	if st := socketStats(t, s, "push"); st.MessagesSent != 0 || st.Drops[DropNoPeer] != 1 {
		t.Fatalf("push stats after stopping a blocked link: %+v", st)
	}
}

// TestLinkManySinksOrder: several xpub sinks get every message, in order,
// and copies do not disturb each other.
func TestLinkManySinksOrder(t *testing.T) {
	s := newTestServer(t)
	ctx := peerContext(t)
	openSocket(t, s, "xsub", KindXSub, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	var sinks []string
	var subs []*zmq.Socket
	for i := range 3 {
		id := fmt.Sprint("xpub", i)
		sinks = append(sinks, id)
		openSocket(t, s, id, KindXPub, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
		subs = append(subs, peerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
			if err := p.SetSubscribe("ev"); err != nil {
				return err
			}
			return p.Connect(boundEndpoint(t, s, id, 0))
		}))
	}
	if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "xsub", Sinks: sinks}); err != nil {
		t.Fatal(err)
	}
	pub := peerSocket(t, ctx, zmq.XPUB, func(p *zmq.Socket) error { return p.Connect(boundEndpoint(t, s, "xsub", 0)) })
	// Each sink forwards its subscriber's subscription; the publisher sees
	// the first.
	if got := recvMessage(t, pub); !bytes.Equal(got[0], sub("ev")) {
		t.Fatalf("publisher got %s", showFrames(got))
	}
	eventually(t, "every sink to know its subscriber", func() bool {
		for _, id := range sinks {
			if socketStats(t, s, id).SubscriptionsReceived != 1 {
				return false
			}
		}
		return true
	})
	const n = 500
	for i := range n {
		sendMessage(t, pub, event("ev", "p", []byte(fmt.Sprint(i)))...)
	}
	for k, sp := range subs {
		for i := range n {
			got := recvMessage(t, sp)
			if len(got) != 4 || string(got[3]) != fmt.Sprint(i) {
				t.Fatalf("subscriber %d, message %d: %s", k, i, showFrames(got))
			}
		}
	}
	if st := socketStats(t, s, "xsub"); st.SubscriptionsSent != 3 || st.MessagesReceived != n {
		t.Fatalf("xsub stats %+v", st)
	}
}
