package zmqtransport

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/ratelog"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/testutil"
)

// zmqThreads counts libzmq's background threads (named ZMQbg/...).
func zmqThreads(t *testing.T) int {
	t.Helper()
	comms, err := filepath.Glob("/proc/self/task/*/comm")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if err == nil && strings.HasPrefix(string(b), "ZMQbg") {
			n++
		}
	}
	return n
}

// TestNoLeaks opens and closes sockets in several libzmq contexts
// (io_threads), links, taps, receives and CURVE servers with their ZAP
// handler several times; libzmq's contexts end with their last socket, and
// goroutines and libzmq's threads return to where they were. (The
// conformance suite's NoLeaks checks the goroutines of what both
// transports have.)
func TestNoLeaks(t *testing.T) {
	baseGoroutines := runtime.NumGoroutine()
	baseThreads := zmqThreads(t)
	serverPub, serverSec, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		s := New()
		ctx := context.Background()
		openSocket(t, s, "xsub", KindXSub, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "io_threads": 1 + round%2})
		openSocket(t, s, "xpub", KindXPub, attrs{"bind": []string{ipcEndpoint(t, "x")}, "io_threads": 2})
		openSocket(t, s, "pull", KindPull, attrs{
			"bind": []string{"tcp://127.0.0.1:*"}, "curve_server": true, "curve_secretkey": serverSec,
			"curve_allowed_clients": []string{serverPub},
		})
		// Nobody listens on port 1: the message stays queued until the close.
		openSocket(t, s, "push", KindPush, attrs{"connect": []string{"tcp://127.0.0.1:1"}, "linger_ms": 0})
		if err := s.StartLink(ctx, transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}, TapSubscriptions: true}); err != nil {
			t.Fatal(err)
		}
		// Receives waiting on the pull and the tap end with the close.
		errs := make(chan error, 2)
		for _, h := range []string{"pull", "l"} {
			go func() {
				var b message.Batch
				errs <- s.Recv(ctx, h, &b, transport.Limits{})
			}()
			waitReceiving(t, s, h)
		}
		var b message.Batch
		b.Append([]byte("x"))
		sctx, cancel := context.WithTimeout(ctx, waitFor)
		res, err := s.Send(sctx, "push", &b)
		cancel()
		if err != nil || res.Sent != 1 {
			t.Fatalf("send: %+v, %v", res, err)
		}
		if err := s.CloseAll(ctx); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := <-errs; err == nil {
				t.Fatal("receive survived the close")
			}
		}
		if len(s.contexts) != 0 {
			t.Fatalf("round %d: %d contexts left", round, len(s.contexts))
		}
	}
	testutil.Eventually(t, waitFor, "goroutines and libzmq threads to go", func() bool {
		return runtime.NumGoroutine() <= baseGoroutines && zmqThreads(t) == baseThreads
	})
}

// TestCurve: a CURVE server with an allow-list accepts the listed client
// and refuses another (which sees an authentication failure); a CURVE
// client socket talks to a CURVE server peer.
func TestCurve(t *testing.T) {
	serverPub, serverSec, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	goodPub, goodSec, _ := zmq.NewCurveKeypair()
	badPub, badSec, _ := zmq.NewCurveKeypair()
	s := newTestServer(t)
	// Two servers in one context: one with an allow-list, one accepting any
	// client key.
	openSocket(t, s, "pull", KindPull, attrs{
		"bind": []string{"tcp://127.0.0.1:*"}, "curve_server": true, "curve_secretkey": serverSec,
		"curve_allowed_clients": []string{goodPub},
	})
	openSocket(t, s, "open", KindPull, attrs{
		"bind": []string{"tcp://127.0.0.1:*"}, "curve_server": true, "curve_secretkey": serverSec,
	})
	ctx := peerContext(t)
	client := func(id, pub, sec string) *zmq.Socket {
		return peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error {
			if err := p.ClientAuthCurve(serverPub, pub, sec); err != nil {
				return err
			}
			return p.Connect(boundEndpoint(t, s, id, 0))
		})
	}
	good := client("pull", goodPub, goodSec)
	bad := client("pull", badPub, badSec)
	if err := bad.Monitor("inproc://bad-monitor", zmq.EVENT_HANDSHAKE_FAILED_AUTH); err != nil {
		t.Fatal(err)
	}
	mon := peerSocket(t, ctx, zmq.PAIR, func(p *zmq.Socket) error { return p.Connect("inproc://bad-monitor") })
	sendMessage(t, good, event("log-write", "good", []byte("welcome"))...)
	got := recvAll(t, s, "pull", 1, transport.Limits{})
	if string(got[0][1]) != "good" {
		t.Fatalf("got %s", showFrames(got[0]))
	}
	// The refused client sees ZAP status 400.
	ev, _, value, err := recvEvent(t, mon)
	if err != nil || ev != zmq.EVENT_HANDSHAKE_FAILED_AUTH || value != 400 {
		t.Fatalf("refused client: event %v value %d err %v", ev, value, err)
	}
	// Any key is fine for the server without an allow-list.
	other := client("open", badPub, badSec)
	sendMessage(t, other, event("log-write", "other", []byte("hi"))...)
	if got := recvAll(t, s, "open", 1, transport.Limits{}); string(got[0][1]) != "other" {
		t.Fatalf("got %s", showFrames(got[0]))
	}

	// Our socket as CURVE client of a peer server.
	peerServer := peerSocket(t, ctx, zmq.PULL, func(p *zmq.Socket) error {
		if err := p.SetCurveServer(1); err != nil {
			return err
		}
		if err := p.SetCurveSecretkey(serverSec); err != nil {
			return err
		}
		return p.Bind("tcp://127.0.0.1:*")
	})
	ep, _ := peerServer.GetLastEndpoint()
	openSocket(t, s, "push", KindPush, attrs{
		"connect": []string{ep}, "curve_serverkey": serverPub, "curve_publickey": goodPub, "curve_secretkey": goodSec,
	})
	var b message.Batch
	b.Append(event("log-write", "us", []byte("encrypted"))...)
	if res, err := s.Send(testCtx(t), "push", &b); err != nil || res.Sent != 1 {
		t.Fatalf("send: %+v, %v", res, err)
	}
	if msg := recvMessage(t, peerServer); string(msg[3]) != "encrypted" {
		t.Fatalf("peer server got %s", showFrames(msg))
	}
}

// recvEvent reads one monitor event, waiting up to waitFor.
func recvEvent(t *testing.T, mon *zmq.Socket) (zmq.Event, string, int, error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		ev, addr, value, err := mon.RecvEvent(0)
		if err == nil || zmq.AsErrno(err) != zmq.Errno(11) || time.Now().After(deadline) {
			return ev, addr, value, err
		}
	}
}

// TestZAPReplies checks the ZAP handler's answers against Zeek's
// (docs/zeek-wire.md#curve-and-zap)
// for an allow-list, and those of sources, which refuse everyone for now
// while they drain.
func TestZAPReplies(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	log := New().log
	var draining, drainingList, open atomic.Bool
	draining.Store(true)
	drainingList.Store(true)
	z := &zapHandler{log: log, refused: ratelog.New(log, time.Second), domains: map[string]zapDomain{
		"d":             {allowed: [][]byte{key}},
		"source":        {draining: &open},
		"draining":      {draining: &draining},
		"draining-list": {allowed: [][]byte{key}, draining: &drainingList},
	}}
	req := func(domain, mechanism string, cred []byte) [][]byte {
		return [][]byte{[]byte("1.0"), []byte("7"), []byte(domain), []byte("127.0.0.1"), {}, []byte(mechanism), cred}
	}
	reply := func(r [][]byte) string {
		parts := make([]string, len(r))
		for i, p := range r {
			parts[i] = string(p)
		}
		return strings.Join(parts, "|")
	}
	for _, c := range []struct {
		req  [][]byte
		want string
	}{
		{req("d", "CURVE", key), "1.0|7|200|OK|0|"},
		{req("d", "CURVE", []byte("another key, 32 bytes long......")), "1.0|7|400|Invalid ZAP request||"},
		{req("d", "NULL", nil), "1.0|7|400|Invalid ZAP request||"},
		{req("d", "CURVE", key)[:6], "1.0|7|400|Invalid ZAP request||"},
		{[][]byte{[]byte("1.0")}, "1.0||400|Invalid ZAP request||"},
		{append([][]byte{[]byte("2.0")}, req("d", "CURVE", key)[1:]...), "1.0|7|400|Invalid ZAP request||"},
		{req("other", "CURVE", key), "1.0|7|200|OK||"},
		{req("source", "NULL", nil), "1.0|7|200|OK||"},
		{req("draining", "NULL", nil), "1.0|7|300|Draining||"},
		{req("draining-list", "CURVE", key), "1.0|7|300|Draining||"},
	} {
		if got := reply(z.answer(c.req)); got != c.want {
			t.Errorf("answer to %q: %q, want %q", c.req, got, c.want)
		}
	}
}

// TestCloseWhileLingering: a Close that gives up waiting for the linger
// of unsent messages leaves the socket's libzmq context to end in the
// background once the linger is over. (The conformance suite's
// CloseWhileLingering checks what Close returns and what follows for both
// transports.)
func TestCloseWhileLingering(t *testing.T) {
	s := newTestServer(t)
	// Nobody listens on port 1: messages stay queued.
	openSocket(t, s, "push", KindPush, attrs{"connect": []string{"tcp://127.0.0.1:1"}, "linger_ms": 1000})
	var b message.Batch
	b.Append([]byte("never delivered"))
	if res, err := s.Send(testCtx(t), "push", &b); err != nil || res.Sent != 1 {
		t.Fatalf("send: %+v, %v", res, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx, "push"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close of a lingering socket: %v", err)
	}
	testutil.Eventually(t, waitFor, "the context to end after the linger", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.contexts) == 0
	})
}
