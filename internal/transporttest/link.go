package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/core/zeekproto"
	"github.com/zpipe/zpipe/internal/testutil"
)

// testLinkPullToSinks: a pull source feeding a push, an xpub and a push
// without peers. Every message reaches both live sinks, in order; the
// peerless push drops each one as no_peer.
func testLinkPullToSinks(t *testing.T, x *suite) {
	s := x.newServer(t)
	ctx := PeerContext(t)
	OpenSocket(t, s, "pull", KindPull, Attrs{"bind": []string{IPCEndpoint(t, "src")}})
	OpenSocket(t, s, "push", KindPush, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	OpenSocket(t, s, "xpub", KindXPub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	OpenSocket(t, s, "nobody", KindPush, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "send_timeout_ms": 0})

	pull := PeerSocket(t, ctx, zmq.PULL, func(p *zmq.Socket) error { return p.Connect(BoundEndpoint(t, s, "push", 0)) })
	subscriber := PeerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
		if err := p.SetSubscribe(""); err != nil {
			return err
		}
		return p.Connect(BoundEndpoint(t, s, "xpub", 0))
	})
	x.waitPeers(t, s, "push", 1)
	// The xpub learns the subscription through the link.
	err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "pull", Sinks: []string{"push", "xpub", "nobody"}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, WaitFor, "the subscription at the xpub", func() bool {
		return SocketStats(t, s, "xpub").SubscriptionsReceived == 1
	})
	push := PeerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(BoundEndpoint(t, s, "pull", 0)) })
	const n = 300
	var want [][][]byte
	for i := range n {
		ev := Event(zeekproto.LogWriteTopic, "n", bytes.Repeat([]byte{byte(i)}, 40+i))
		want = append(want, ev)
		SendMessage(t, push, ev...)
	}
	for name, peer := range map[string]*zmq.Socket{"pull": pull, "sub": subscriber} {
		for i := range n {
			if got := RecvMessage(t, peer); !slices.EqualFunc(got, want[i], bytes.Equal) {
				t.Fatalf("%s peer, message %d: %s", name, i, ShowFrames(got))
			}
		}
	}
	testutil.Eventually(t, WaitFor, "the drops of the peerless push", func() bool {
		return SocketStats(t, s, "nobody").Drops[DropNoPeer] == n
	})
	for _, id := range []string{"push", "xpub"} {
		if st := SocketStats(t, s, id); st.MessagesSent != n || len(st.Drops) != 0 {
			t.Fatalf("%s stats %+v", id, st)
		}
	}
	if st := SocketStats(t, s, "nobody"); st.MessagesSent != 0 || st.Drops[DropNoPeer] != n {
		t.Fatalf("nobody stats %+v", st)
	}
}

// testLinkOwnsSockets: while a link runs, its sockets refuse Recv and
// Send; after StopLink they work again; Close of a linked socket stops the
// link.
func testLinkOwnsSockets(t *testing.T, x *suite) {
	s := x.newServer(t)
	OpenSocket(t, s, "xsub", KindXSub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	OpenSocket(t, s, "xpub", KindXPub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	OpenSocket(t, s, "xpub2", KindXPub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	OpenSocket(t, s, "pull", KindPull, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	ctx := context.Background()

	// A receive waiting on the source before the link starts is ended by it.
	waiting := make(chan error, 1)
	go func() {
		var b message.Batch
		waiting <- s.Recv(ctx, "xsub", &b, transport.Limits{})
	}()
	x.waitReceiving(t, s, "xsub")
	if err := s.StartLink(ctx, transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}}); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err == nil || !strings.Contains(err.Error(), "link") {
		t.Fatalf("receive waiting when the link started: %v", err)
	}
	var b message.Batch
	b.Append(Sub("x"))
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
	x.waitReceiving(t, s, "l2")
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

// testLinkStopWhileBlocked: a link waiting forever on a stuck subscriber
// still stops, and the message it held is counted as dropped.
func testLinkStopWhileBlocked(t *testing.T, x *suite) {
	s := x.newServer(t)
	ctx := PeerContext(t)
	OpenSocket(t, s, "pull", KindPull, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": FramingRaw})
	OpenSocket(t, s, "push", KindPush, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "sndhwm": 1, "linger_ms": 0})
	if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "pull", Sinks: []string{"push"}}); err != nil {
		t.Fatal(err)
	}
	// No peer on the push: the first message waits for one (send_timeout_ms -1).
	src := PeerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(BoundEndpoint(t, s, "pull", 0)) })
	SendMessage(t, src, []byte("stuck"))
	testutil.Eventually(t, WaitFor, "the link to take the message", func() bool {
		return SocketStats(t, s, "pull").MessagesReceived == 1
	})
	if err := s.StopLink(context.Background(), "l"); err != nil {
		t.Fatal(err)
	}
	if st := SocketStats(t, s, "push"); st.MessagesSent != 0 || st.Drops[DropNoPeer] != 1 {
		t.Fatalf("push stats after stopping a blocked link: %+v", st)
	}
}

// testLinkManySinksOrder: several xpub sinks get every message, in order,
// and copies do not disturb each other.
func testLinkManySinksOrder(t *testing.T, x *suite) {
	s := x.newServer(t)
	ctx := PeerContext(t)
	OpenSocket(t, s, "xsub", KindXSub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	var sinks []string
	var subs []*zmq.Socket
	for i := range 3 {
		id := fmt.Sprint("xpub", i)
		sinks = append(sinks, id)
		OpenSocket(t, s, id, KindXPub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
		subs = append(subs, PeerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
			if err := p.SetSubscribe("ev"); err != nil {
				return err
			}
			return p.Connect(BoundEndpoint(t, s, id, 0))
		}))
	}
	if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "xsub", Sinks: sinks}); err != nil {
		t.Fatal(err)
	}
	pub := PeerSocket(t, ctx, zmq.XPUB, func(p *zmq.Socket) error { return p.Connect(BoundEndpoint(t, s, "xsub", 0)) })
	// Each sink forwards its subscriber's subscription; the publisher sees
	// the first.
	if got := RecvMessage(t, pub); !bytes.Equal(got[0], Sub("ev")) {
		t.Fatalf("publisher got %s", ShowFrames(got))
	}
	testutil.Eventually(t, WaitFor, "every sink to know its subscriber", func() bool {
		for _, id := range sinks {
			if SocketStats(t, s, id).SubscriptionsReceived != 1 {
				return false
			}
		}
		return true
	})
	const n = 500
	for i := range n {
		SendMessage(t, pub, Event("ev", "p", []byte(fmt.Sprint(i)))...)
	}
	for k, sp := range subs {
		for i := range n {
			got := RecvMessage(t, sp)
			if len(got) != 4 || string(got[3]) != fmt.Sprint(i) {
				t.Fatalf("subscriber %d, message %d: %s", k, i, ShowFrames(got))
			}
		}
	}
	if st := SocketStats(t, s, "xsub"); st.SubscriptionsSent != 3 || st.MessagesReceived != n {
		t.Fatalf("xsub stats %+v", st)
	}
}
