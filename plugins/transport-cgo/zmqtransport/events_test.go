package zmqtransport

import (
	"context"
	"log/slog"
	"net"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/syncbuf"
	"github.com/zpipe/zpipe/internal/testutil"
)

// eventServer is a Server logging at debug level into a buffer.
func eventServer(t *testing.T) (*Server, *syncbuf.Buffer) {
	t.Helper()
	log := &syncbuf.Buffer{}
	s := New(WithLogger(slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	t.Cleanup(func() {
		_ = s.CloseAll(context.Background())
		if t.Failed() {
			t.Logf("log:\n%s", log.String())
		}
	})
	return s, log
}

// TestConnectFailed: connecting to a port nobody listens on, and to a host
// name that does not resolve, is counted as connect_failed and logged at
// WARN with the endpoint; a reconnect after a peer left is not a failure.
func TestConnectFailed(t *testing.T) {
	for _, ep := range []string{"tcp://127.0.0.1:1", "tcp://nosuchhost.invalid:5555"} {
		t.Run(ep, func(t *testing.T) {
			s, log := eventServer(t)
			openSocket(t, s, "push", KindPush, attrs{"connect": []string{ep}, "linger_ms": 0})
			testutil.Eventually(t, waitFor, "connect_failed counted", func() bool {
				return socketStats(t, s, "push").Events[transport.EventConnectFailed] >= 1
			})
			testutil.Eventually(t, waitFor, "a WARN line", func() bool {
				return logHas(log.String(), "level=WARN", "connect failed", "endpoint="+ep)
			})
		})
	}
	t.Run("reconnect", func(t *testing.T) {
		s, _ := eventServer(t)
		ctx := peerContext(t)
		peer := peerSocket(t, ctx, zmq.PULL, func(p *zmq.Socket) error { return p.Bind("tcp://127.0.0.1:*") })
		ep, err := peer.GetLastEndpoint()
		if err != nil {
			t.Fatal(err)
		}
		openSocket(t, s, "push", KindPush, attrs{"connect": []string{ep}, "linger_ms": 0})
		testutil.Eventually(t, waitFor, "connected", func() bool { n, _ := harness.Peers(s, "push"); return n == 1 })
		// The peer goes away and comes back on the same endpoint.
		peer.Close()
		testutil.Eventually(t, waitFor, "disconnected", func() bool { n, _ := harness.Peers(s, "push"); return n == 0 })
		peerSocket(t, ctx, zmq.PULL, func(p *zmq.Socket) error { return p.Bind(ep) })
		testutil.Eventually(t, waitFor, "reconnected", func() bool { n, _ := harness.Peers(s, "push"); return n == 1 })
		if n := socketStats(t, s, "push").Events[transport.EventConnectFailed]; n != 0 {
			t.Errorf("connect_failed = %d after a reconnect", n)
		}
	})
}

// TestHandshakeAndAuthFailed: a peer that leaves in the middle of the
// handshake, a peer asking for another security mechanism and a peer of an
// incompatible socket type are counted as handshake_failed; a CURVE
// client whose key is not allowed is counted as auth_failed and named in a
// WARN line with its key.
func TestHandshakeAndAuthFailed(t *testing.T) {
	s, log := eventServer(t)
	openSocket(t, s, "pull", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "linger_ms": 0})
	ep := boundEndpoint(t, s, "pull", 0)
	conn, err := net.Dial("tcp", ep[len("tcp://"):])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	conn.Close() // gone in the middle of the handshake
	testutil.Eventually(t, waitFor, "handshake_failed for a peer without ZMTP", func() bool {
		return socketStats(t, s, "pull").Events[transport.EventHandshakeFailed] >= 1
	})
	ctx := peerContext(t)
	// A ZMTP peer asking for another security mechanism.
	peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error {
		if err := p.SetPlainUsername("user"); err != nil {
			return err
		}
		if err := p.SetPlainPassword("secret"); err != nil {
			return err
		}
		return p.Connect(ep)
	})
	testutil.Eventually(t, waitFor, "handshake_failed for a mechanism mismatch", func() bool {
		return socketStats(t, s, "pull").Events[transport.EventHandshakeFailed] >= 2
	})
	// A peer of an incompatible socket type: libzmq reports only that it
	// left during the handshake.
	peerSocket(t, ctx, zmq.PUB, func(p *zmq.Socket) error {
		if err := p.SetReconnectIvl(-1); err != nil {
			return err
		}
		return p.Connect(ep)
	})
	testutil.Eventually(t, waitFor, "handshake_failed for a PUB peer", func() bool {
		return socketStats(t, s, "pull").Events[transport.EventHandshakeFailed] >= 3
	})
	if !logHas(log.String(), "level=WARN", "handshake failed", "socket=pull") {
		t.Errorf("no WARN line about the handshake:\n%s", log.String())
	}

	serverPub, serverSec, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	goodPub, _, _ := zmq.NewCurveKeypair()
	badPub, badSec, _ := zmq.NewCurveKeypair()
	openSocket(t, s, "secure", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "linger_ms": 0,
		"curve_server": true, "curve_secretkey": serverSec, "curve_allowed_clients": []string{goodPub}})
	peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error {
		if err := p.ClientAuthCurve(serverPub, badPub, badSec); err != nil {
			return err
		}
		return p.Connect(boundEndpoint(t, s, "secure", 0))
	})
	testutil.Eventually(t, waitFor, "auth_failed counted", func() bool {
		return socketStats(t, s, "secure").Events[transport.EventAuthFailed] >= 1
	})
	testutil.Eventually(t, waitFor, "a WARN line with the refused key", func() bool {
		return logHas(log.String(), "level=WARN", "CURVE client refused", "socket=secure", "peer=127.0.0.1", badPub)
	})
}
