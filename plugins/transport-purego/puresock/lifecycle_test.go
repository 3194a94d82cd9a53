package puresock

import (
	"bytes"
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/internal/testutil"
)

// TestLinger: Close keeps writing queued messages for up to the linger
// (here to a peer that only appears after the close); with linger 0 they
// are discarded at once.
func TestLinger(t *testing.T) {
	for _, linger := range []time.Duration{waitFor, 0} {
		t.Run(linger.String(), func(t *testing.T) {
			t.Parallel()
			ep := deadEndpoint(t)
			s := newSocket(t, Push, func(o *Options) { o.Linger = linger })
			connect(t, s, ep)
			send(t, s, []byte("queued before close"))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.TrySend([][]byte{[]byte("after close")}); !errors.Is(err, ErrClosed) {
				t.Fatalf("send after close: %v", err)
			}
			if linger == 0 {
				select {
				case <-s.Done():
				case <-time.After(waitFor):
					t.Fatal("socket with linger 0 still running after close")
				}
			}
			pull := peerSocket(t, peerContext(t), zmq.PULL, func(p *zmq.Socket) error { return p.Bind(ep) })
			if linger == 0 {
				if msg, ok := tryRecvPeer(t, pull); ok {
					t.Fatalf("linger 0 delivered %s", show(msg))
				}
				return
			}
			if got := recvPeer(t, pull); string(got[0]) != "queued before close" {
				t.Fatalf("got %s", show(got))
			}
			select {
			case <-s.Done():
			case <-time.After(waitFor):
				t.Fatal("socket still lingering after its queue was written")
			}
		})
	}
}

// TestLingerTimeout: a message nobody can take keeps the socket alive for
// the linger, not longer.
func TestLingerTimeout(t *testing.T) {
	s := newSocket(t, Push, func(o *Options) { o.Linger = 200 * time.Millisecond })
	connect(t, s, deadEndpoint(t))
	send(t, s, []byte("never delivered"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(waitFor):
		t.Fatal("socket still lingering long after its linger")
	}
}

// TestReconnect: connect endpoints come back after their peer restarts
// on the same address: an XSUB replays its subscriptions to the new peer,
// a PUSH delivers to it.
func TestReconnect(t *testing.T) {
	ctx := peerContext(t)
	newPub := func(ep string) *zmq.Socket {
		var p *zmq.Socket
		// The restarted peer binds the address the first one had.
		testutil.Eventually(t, waitFor, "the peer to bind "+ep, func() bool {
			s, err := ctx.NewSocket(zmq.XPUB)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetLinger(0); err != nil {
				t.Fatal(err)
			}
			if err := s.Bind(ep); err != nil {
				s.Close()
				return false
			}
			p = s
			return true
		})
		t.Cleanup(func() { p.Close() })
		if err := p.SetRcvtimeo(100 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first, ep := boundPeer(t, ctx, zmq.XPUB, "tcp://127.0.0.1:*", nil)
	s := newSocket(t, XSub, func(o *Options) { o.ReconnectIntervalMax = 200 * time.Millisecond })
	connect(t, s, ep)
	send(t, s, sub("t"))
	expectPeer(t, first, sub("t"))
	sendPeer(t, first, []byte("t.1"))
	if got := recv(t, s); string(got[0]) != "t.1" {
		t.Fatalf("got %s", show(got))
	}
	first.Close()
	waitPeers(t, s, 0)
	second := newPub(ep)
	expectPeer(t, second, sub("t"))
	sendPeer(t, second, []byte("t.2"))
	if got := recv(t, s); string(got[0]) != "t.2" {
		t.Fatalf("got %s", show(got))
	}

	// A PUSH to a PULL that restarts.
	pullEP := deadEndpoint(t)
	push := newSocket(t, Push, func(o *Options) { o.ReconnectIntervalMax = 200 * time.Millisecond })
	connect(t, push, pullEP)
	for round := range 2 {
		pull := peerSocket(t, ctx, zmq.PULL, func(p *zmq.Socket) error { return p.Bind(pullEP) })
		send(t, push, []byte(strconv.Itoa(round)))
		if got := recvPeer(t, pull); string(got[0]) != strconv.Itoa(round) {
			t.Fatalf("round %d: got %s", round, show(got))
		}
		pull.Close()
		waitPeers(t, push, 0)
	}
}

// TestIPv6 binds and connects over the IPv6 loopback when the machine has
// one, and otherwise checks that binding it fails with a clear error.
func TestIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	haveIPv6 := err == nil
	if haveIPv6 {
		ln.Close()
	}
	s := newSocket(t, Pull, func(o *Options) { o.IPv6 = true })
	bound, err := s.Bind("tcp://[::1]:*")
	if !haveIPv6 {
		if err == nil || !strings.Contains(err.Error(), "[::1]") {
			t.Fatalf("bind to [::1] without IPv6 loopback: %v", err)
		}
		t.Logf("no IPv6 loopback here; bind fails as it should: %v", err)
		return
	}
	if err != nil {
		t.Fatalf("bind to [::1]: %v", err)
	}
	if !strings.HasPrefix(bound, "tcp://[::1]:") {
		t.Fatalf("bound endpoint %q", bound)
	}
	ctx := peerContext(t)
	push := peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error {
		if err := p.SetIpv6(true); err != nil {
			return err
		}
		return p.Connect(bound)
	})
	sendPeer(t, push, []byte("over IPv6"))
	if got := recv(t, s); string(got[0]) != "over IPv6" {
		t.Fatalf("got %s", show(got))
	}
	// Our socket connecting to a libzmq peer on [::1].
	pull, ep := boundPeer(t, ctx, zmq.PULL, "tcp://[::1]:*", func(p *zmq.Socket) error { return p.SetIpv6(true) })
	out := newSocket(t, Push, func(o *Options) { o.IPv6 = true })
	connect(t, out, ep)
	send(t, out, []byte("back over IPv6"))
	if got := recvPeer(t, pull); string(got[0]) != "back over IPv6" {
		t.Fatalf("got %s", show(got))
	}
	// A wildcard bind with IPv6 takes both families.
	dual := newSocket(t, Pull, func(o *Options) { o.IPv6 = true })
	ep = bind(t, dual, "tcp://*:*")
	port := ep[strings.LastIndexByte(ep, ':')+1:]
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		p := peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error {
			if err := p.SetIpv6(true); err != nil {
				return err
			}
			return p.Connect("tcp://" + host + ":" + port)
		})
		sendPeer(t, p, []byte(host))
		if got := recv(t, dual); string(got[0]) != host {
			t.Fatalf("got %s", show(got))
		}
	}
}

// TestEndpointErrors: bad endpoints are refused with errors naming them.
func TestEndpointErrors(t *testing.T) {
	s := newSocket(t, Pull, nil)
	for _, c := range []struct {
		ep, want string
		bind     bool
	}{
		{"127.0.0.1:5555", "missing transport", true},
		{"udp://127.0.0.1:5555", "unsupported transport", true},
		{"tcp://127.0.0.1", "missing port", true},
		{"tcp://127.0.0.1:x", "invalid port", true},
		{"tcp://127.0.0.1:70000", "invalid port", true},
		{"tcp://:5555", "missing host", true},
		{"tcp://[::1]:5555", "needs the IPv6 option", true},
		{"tcp://::1:5555", "must be in brackets", true},
		{"tcp://[nonsense]:5555", "invalid IPv6 address", true},
		{"tcp://*:5555", "only valid for bind", false},
		{"tcp://127.0.0.1:*", "only valid for bind", false},
		{"ipc://", "empty ipc path", false},
		{"ipc://*", "only valid for bind", false},
		{"tcp://no-such-host.invalid:5555", "no-such-host.invalid", true},
	} {
		var err error
		if c.bind {
			_, err = s.Bind(c.ep)
		} else {
			err = s.Connect(c.ep)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.ep) {
			t.Errorf("endpoint %q: error %v, want one naming it and saying %q", c.ep, err, c.want)
		}
	}
	// An address in use.
	ep := bind(t, s, "tcp://127.0.0.1:*")
	if _, err := s.Bind(ep); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("second bind of %s: %v", ep, err)
	}
}

// TestWrongUse: operations a type does not have, empty messages, use
// after close.
func TestWrongUse(t *testing.T) {
	pull := newSocket(t, Pull, nil)
	push := newSocket(t, Push, nil)
	if err := pull.TrySend([][]byte{[]byte("x")}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("send on PULL: %v", err)
	}
	if _, err := push.Recv(t.Context()); !errors.Is(err, ErrNotSupported) {
		t.Errorf("receive on PUSH: %v", err)
	}
	if err := push.TrySend(nil); !errors.Is(err, ErrEmptyMessage) {
		t.Errorf("empty message: %v", err)
	}
	xpub := newSocket(t, XPub, nil)
	if n, err := xpub.TrySendMany([][][]byte{{[]byte("a")}, {}}, nil); n != 1 || !errors.Is(err, ErrEmptyMessage) {
		t.Errorf("batch with an empty message: %d, %v", n, err)
	}
	if _, err := New(Type(42), DefaultOptions()); err == nil {
		t.Error("unknown type accepted")
	}
	o := DefaultOptions()
	o.SendHWM = -1
	if _, err := New(Push, o); err == nil {
		t.Error("negative HWM accepted")
	}
	// Waiting calls end with the close.
	errs := make(chan error, 1)
	go func() {
		_, err := pull.Recv(context.Background())
		errs <- err
	}()
	closeAndWait(t, pull)
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Errorf("receive interrupted by close: %v", err)
	}
	if _, err := pull.Bind("tcp://127.0.0.1:*"); !errors.Is(err, ErrClosed) {
		t.Errorf("bind after close: %v", err)
	}
	if err := pull.Connect("tcp://127.0.0.1:1"); !errors.Is(err, ErrClosed) {
		t.Errorf("connect after close: %v", err)
	}
	bound := bind(t, push, "tcp://127.0.0.1:*")
	if !strings.HasPrefix(bound, "tcp://127.0.0.1:") || strings.HasSuffix(bound, ":0") {
		t.Errorf("bound endpoint %q", bound)
	}
	go func() { errs <- push.Send(context.Background(), [][]byte{[]byte("no peer")}) }()
	closeAndWait(t, push)
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Errorf("send interrupted by close: %v", err)
	}
}

// TestBadPeers: garbage instead of a handshake, a wrong socket type, and
// broken frames after the handshake end that connection only.
func TestBadPeers(t *testing.T) {
	s := newSocket(t, Pull, func(o *Options) { o.HandshakeTimeout = time.Second })
	ep := bind(t, s, "tcp://127.0.0.1:*")
	addr := strings.TrimPrefix(ep, "tcp://")
	rawConn := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Garbage greeting: the socket closes the connection.
	g := rawConn()
	if _, err := g.Write(bytes.Repeat([]byte("garbage!"), 10)); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, g)
	// A peer that says nothing is dropped after the handshake timeout.
	expectClosed(t, rawConn())
	// A PUB may not talk to a PULL.
	ctx := peerContext(t)
	pub := peerSocket(t, ctx, zmq.PUB, func(p *zmq.Socket) error { return p.Connect(ep) })
	_ = pub
	// Broken frames after a good handshake.
	for _, frames := range [][]byte{
		{0x08, 0x00},                      // reserved flag
		{0x05, 0x01, 'x'},                 // command with MORE
		{0x02, 0xff, 0, 0, 0, 0, 0, 0, 0}, // 2^64-ish frame size
		{0x04, 0x03, 0x09, 'x', 'y'},      // command name longer than its frame
		{0x01, 0x01, 'a', 0x04, 0x01, 0},  // command inside a message
	} {
		r := dialRaw(t, ep, "PUSH")
		if _, err := r.nc.Write(frames); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, r.nc)
	}
	// The socket still works.
	push := peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(ep) })
	sendPeer(t, push, []byte("still fine"))
	if got := recv(t, s); string(got[0]) != "still fine" {
		t.Fatalf("got %s", show(got))
	}
	if n := s.Queued(); n != 0 {
		t.Fatalf("%d messages queued from bad peers", n)
	}
}

// expectClosed waits until the other side closes c.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(waitFor)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %s", waitFor)
		}
		return
	}
}

// TestNoGoroutineLeaks opens sockets of every type, connected to each
// other, to libzmq peers and to nobody, moves messages, closes them, and
// checks that every goroutine is gone.
func TestNoGoroutineLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	ctx := peerContext(t)
	for round := range 5 {
		o := DefaultOptions()
		o.Linger = time.Duration(round%2) * 100 * time.Millisecond
		o.Immediate = round%3 == 0
		open := func(typ Type) *Socket {
			s, err := New(typ, o)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		xpub, xsub, push, pull := open(XPub), open(XSub), open(Push), open(Pull)
		ep, err := xpub.Bind(ipcEndpoint(t, "x"))
		if err != nil {
			t.Fatal(err)
		}
		pullEP, err := pull.Bind("tcp://127.0.0.1:*")
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range []error{xsub.Connect(ep), push.Connect(pullEP), push.Connect(deadEndpoint(t))} {
			if err != nil {
				t.Fatal(err)
			}
		}
		peer := peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(pullEP) })
		send(t, xsub, sub(""))
		if got := recv(t, xpub); !bytes.Equal(got[0], sub("")) {
			t.Fatalf("xpub got %s", show(got))
		}
		send(t, xpub, []byte("to xsub"))
		recv(t, xsub)
		send(t, push, []byte("to pull"))
		sendPeer(t, peer, []byte("from libzmq"))
		for range 2 {
			recv(t, pull)
		}
		waiting := make(chan error, 1)
		go func() {
			_, err := pull.Recv(context.Background())
			waiting <- err
		}()
		for _, s := range []*Socket{xpub, xsub, push, pull} {
			closeAndWait(t, s)
		}
		if err := <-waiting; !errors.Is(err, ErrClosed) {
			t.Fatalf("round %d: waiting receive: %v", round, err)
		}
		peer.Close()
	}
	testutil.Eventually(t, waitFor, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
}
