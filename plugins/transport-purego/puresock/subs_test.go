package puresock

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"
	zmq "github.com/pebbe/zmq4"
)

// rawPeer is a ZMTP peer made of go-zeromq's connection layer alone, so a
// test can send exactly the frames and commands it wants.
type rawPeer struct {
	nc net.Conn
	c  *zmq4.Conn
}

func dialRaw(t *testing.T, ep string, typ zmq4.SocketType) *rawPeer {
	t.Helper()
	nc, err := net.Dial("tcp", ep[len("tcp://"):])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(waitFor)); err != nil {
		t.Fatal(err)
	}
	c, err := zmq4.Open(nc, null.Security(), typ, nil, false, nil)
	if err != nil {
		t.Fatalf("raw peer handshake: %v", err)
	}
	return &rawPeer{nc: nc, c: c}
}

// recvNothing checks that the raw peer gets no message for a while.
func (r *rawPeer) recvNothing(t *testing.T, wait time.Duration) {
	t.Helper()
	if err := r.nc.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	msg, err := r.c.RecvMsg()
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("raw peer: got %v, %v; want nothing", msg, err)
	}
	// A timed-out read leaves the go-zeromq connection unusable; the test
	// uses it no more.
}

// TestSubscriptionEncodings: an XPUB accepts subscriptions as ZMTP 3.0
// data frames (from libzmq and from a raw peer) and as ZMTP 3.1 SUBSCRIBE
// and CANCEL commands, presents them all as 0x01/0x00 messages, and routes
// data by them.
func TestSubscriptionEncodings(t *testing.T) {
	s := newSocket(t, XPub, nil)
	ep := bind(t, s, "tcp://127.0.0.1:*")
	libzmq := peerSocket(t, peerContext(t), zmq.XSUB, func(p *zmq.Socket) error { return p.Connect(ep) })
	commands := dialRaw(t, ep, zmq4.XSub)
	frames := dialRaw(t, ep, zmq4.Sub)
	waitPeers(t, s, 3)

	sendPeer(t, libzmq, sub("a"))
	expectNotes(t, s, sub("a"))
	if err := commands.c.SendCmd(zmq4.CmdSubscribe, []byte("b")); err != nil {
		t.Fatal(err)
	}
	expectNotes(t, s, sub("b"))
	if err := frames.c.SendMsg(zmq4.NewMsg(sub("c"))); err != nil {
		t.Fatal(err)
	}
	expectNotes(t, s, sub("c"))

	for _, topic := range []string{"a.1", "b.1", "c.1", "d.1"} {
		send(t, s, []byte(topic), []byte("data"))
	}
	if got := recvPeer(t, libzmq); string(got[0]) != "a.1" {
		t.Fatalf("libzmq peer got %s", show(got))
	}
	for name, r := range map[string]*rawPeer{"b.1": commands, "c.1": frames} {
		msg, err := r.c.RecvMsg()
		if err != nil || string(msg.Frames[0]) != name || string(msg.Frames[1]) != "data" {
			t.Fatalf("raw peer: got %v, %v; want %s", msg, err, name)
		}
	}

	// CANCEL removes b: the application hears of it, and the peer gets
	// nothing more for b (c.2 after b.2 shows b.2 was not sent).
	if err := commands.c.SendCmd(zmq4.CmdCancel, []byte("b")); err != nil {
		t.Fatal(err)
	}
	expectNotes(t, s, unsub("b"))
	if err := commands.c.SendCmd(zmq4.CmdSubscribe, []byte("c")); err != nil {
		t.Fatal(err)
	}
	// c is known already: no notice without verbose. A new prefix after
	// it shows it was processed.
	if err := commands.c.SendCmd(zmq4.CmdSubscribe, []byte("sync")); err != nil {
		t.Fatal(err)
	}
	expectNotes(t, s, sub("sync"))
	// Publish b.2 then c.2.
	send(t, s, []byte("b.2"), []byte("data"))
	send(t, s, []byte("c.2"), []byte("data"))
	msg, err := commands.c.RecvMsg()
	if err != nil || string(msg.Frames[0]) != "c.2" {
		t.Fatalf("command peer after CANCEL: got %v, %v; want c.2", msg, err)
	}
	commands.recvNothing(t, 100*time.Millisecond)
	// A data-frame unsubscribe from libzmq.
	sendPeer(t, libzmq, unsub("a"))
	expectNotes(t, s, unsub("a"))
}

// expectNotes reads exactly the given subscription messages from an XPUB,
// in order.
func expectNotes(t *testing.T, s *Socket, want ...[]byte) {
	t.Helper()
	for i, w := range want {
		got := recv(t, s)
		if len(got) != 1 || !bytes.Equal(got[0], w) {
			t.Fatalf("notice %d: got %s, want %q", i, show(got), w)
		}
	}
}

// TestXSubReplayAndRefcount: an XSUB counts subscriptions per prefix,
// passes an unsubscribe on only when the count drops to zero, and gives
// every peer that connects later the current set.
func TestXSubReplayAndRefcount(t *testing.T) {
	s := newSocket(t, XSub, nil)
	ep := bind(t, s, "tcp://127.0.0.1:*")
	for _, m := range [][]byte{sub("b"), sub("a"), sub("a")} {
		send(t, s, m)
	}
	ctx := peerContext(t)
	first := peerSocket(t, ctx, zmq.XPUB, func(p *zmq.Socket) error {
		if err := p.SetXpubVerbose(1); err != nil {
			return err
		}
		return p.Connect(ep)
	})
	// The replay: each prefix once, in byte order.
	expectPeer(t, first, sub("a"), sub("b"))
	// a is held twice: the first unsubscribe stays here. The next message
	// the peer sees is the subscription sent after it.
	send(t, s, unsub("a"))
	send(t, s, unsub("never-subscribed"))
	send(t, s, sub("c"))
	expectPeer(t, first, sub("c"))
	send(t, s, unsub("a"))
	expectPeer(t, first, unsub("a"))

	// A second late peer learns b and c only.
	second := peerSocket(t, ctx, zmq.XPUB, func(p *zmq.Socket) error {
		if err := p.SetXpubVerbose(1); err != nil {
			return err
		}
		return p.Connect(ep)
	})
	expectPeer(t, second, sub("b"), sub("c"))
	// Later subscriptions go to both.
	send(t, s, sub("d"))
	expectPeer(t, first, sub("d"))
	expectPeer(t, second, sub("d"))
}

// expectPeer reads exactly the given single-frame messages from a peer.
func expectPeer(t *testing.T, p *zmq.Socket, want ...[]byte) {
	t.Helper()
	for i, w := range want {
		got := recvPeer(t, p)
		if len(got) != 1 || !bytes.Equal(got[0], w) {
			t.Fatalf("peer message %d: got %s, want %q", i, show(got), w)
		}
	}
}

// TestXPubDeparture checks, for each verbosity, what an XPUB tells the
// application when subscribers subscribe to the same prefix and then leave:
// libzmq's rules, with unsubscriptions synthesized for departed peers.
func TestXPubDeparture(t *testing.T) {
	for _, c := range []struct {
		name              string
		verbose, verboser bool
		subscribed        [][]byte // after A (t, only-a) and B (t)
		aLeft             [][]byte
		bLeft             [][]byte
	}{
		{
			name:       "quiet",
			subscribed: [][]byte{sub("t"), sub("only-a")},
			aLeft:      [][]byte{unsub("only-a")},
			bLeft:      [][]byte{unsub("marker"), unsub("t")},
		},
		{
			name: "verbose", verbose: true,
			subscribed: [][]byte{sub("t"), sub("only-a"), sub("t")},
			aLeft:      [][]byte{unsub("only-a")},
			bLeft:      [][]byte{unsub("marker"), unsub("t")},
		},
		{
			name: "verboser", verboser: true,
			subscribed: [][]byte{sub("t"), sub("only-a"), sub("t")},
			aLeft:      [][]byte{unsub("only-a"), unsub("t")},
			bLeft:      [][]byte{unsub("marker"), unsub("t")},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSocket(t, XPub, func(o *Options) {
				o.XPubVerbose, o.XPubVerboser = c.verbose, c.verboser
			})
			ep := bind(t, s, "tcp://127.0.0.1:*")
			ctx := peerContext(t)
			a := peerSocket(t, ctx, zmq.XSUB, func(p *zmq.Socket) error { return p.Connect(ep) })
			b := peerSocket(t, ctx, zmq.XSUB, func(p *zmq.Socket) error { return p.Connect(ep) })
			waitPeers(t, s, 2)
			sendPeer(t, a, sub("t"))
			expectNotes(t, s, sub("t"))
			sendPeer(t, a, sub("only-a"))
			expectNotes(t, s, sub("only-a"))
			sendPeer(t, b, sub("t"))
			// Without verbose B's repeat is not reported; the marker B
			// subscribes to next shows that.
			sendPeer(t, b, sub("marker"))
			expectNotes(t, s, append(slices.Clone(c.subscribed[2:]), sub("marker"))...)

			a.Close()
			expectNotes(t, s, c.aLeft...)
			// Nothing else came from A's departure: the next notice is
			// the one B causes now.
			sendPeer(t, b, sub("after-a"))
			expectNotes(t, s, sub("after-a"))
			b.Close()
			expectNotes(t, s, append([][]byte{unsub("after-a")}, c.bLeft...)...)
			waitPeers(t, s, 0)
		})
	}
}

// TestXPubRoutesByPrefix: a message reaches every subscriber with a
// matching prefix once, however many of its prefixes match.
func TestXPubRoutesByPrefix(t *testing.T) {
	s := newSocket(t, XPub, nil)
	ep := bind(t, s, "tcp://127.0.0.1:*")
	ctx := peerContext(t)
	subscriber := func(prefixes ...string) *zmq.Socket {
		return peerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
			for _, pr := range prefixes {
				if err := p.SetSubscribe(pr); err != nil {
					return err
				}
			}
			return p.Connect(ep)
		})
	}
	all := subscriber("")
	nested := subscriber("zeek", "zeek.cluster", "zeek.cluster.worker")
	other := subscriber("other")
	// Wait for the five distinct prefixes ("" zeek zeek.cluster
	// zeek.cluster.worker other), in any order.
	seen := map[string]bool{}
	for len(seen) < 5 {
		seen[string(recv(t, s)[0])] = true
	}
	send(t, s, []byte("zeek.cluster.worker.1"), []byte("x"))
	send(t, s, []byte("other.1"), []byte("y"))
	send(t, s, []byte("z"), []byte("z"))
	for name, want := range map[*zmq.Socket][]string{all: {"zeek.cluster.worker.1", "other.1", "z"}, nested: {"zeek.cluster.worker.1"}, other: {"other.1"}} {
		for _, w := range want {
			if got := recvPeer(t, name); string(got[0]) != w {
				t.Fatalf("subscriber got %s, want %s", show(got), w)
			}
		}
		if got, ok := tryRecvPeer(t, name); ok {
			t.Fatalf("subscriber got an extra message %s", show(got))
		}
	}
}

// TestCommandsNeedXPub: a SUBSCRIBE command sent to a PULL socket is
// ignored; data still flows.
func TestCommandsNeedXPub(t *testing.T) {
	s := newSocket(t, Pull, nil)
	ep := bind(t, s, "tcp://127.0.0.1:*")
	r := dialRaw(t, ep, zmq4.Push)
	if err := r.c.SendCmd(zmq4.CmdSubscribe, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := r.c.SendMsg(zmq4.NewMsgFrom([]byte("hello"), []byte("world"))); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, s); len(got) != 2 || string(got[0]) != "hello" {
		t.Fatalf("got %s", show(got))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if got, err := s.Recv(ctx); err == nil {
		t.Fatalf("extra message %s", show(got))
	}
}
