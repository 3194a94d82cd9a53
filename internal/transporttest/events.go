package transporttest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/core/zeekproto"
	"github.com/zpipe/zpipe/internal/syncbuf"
	"github.com/zpipe/zpipe/internal/testutil"
)

// newLoggedServer returns a transport whose log goes to the test's output
// and to the returned buffer.
func (x *suite) newLoggedServer(t *testing.T) (Server, *syncbuf.Buffer) {
	t.Helper()
	var buf syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), &buf), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := x.h.New(log)
	t.Cleanup(func() {
		if err := s.CloseAll(context.Background()); err != nil {
			t.Errorf("close all: %v", err)
		}
	})
	return s, &buf
}

// warnings returns the warning lines of a log that contain every one of
// words.
func warnings(log string, words ...string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "level=WARN") {
			continue
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}

// refusedEndpoint returns a tcp endpoint on 127.0.0.1 where nothing
// listens.
func refusedEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://" + ln.Addr().String()
	ln.Close()
	return ep
}

// testConnectFailures: a socket connecting to an endpoint where nothing
// listens counts every failed attempt (connect_failed) and says so in a
// warning naming the endpoint, rate-limited: fewer lines than attempts.
func testConnectFailures(t *testing.T, x *suite) {
	s, log := x.newLoggedServer(t)
	ep := refusedEndpoint(t)
	OpenSocket(t, s, "push", KindPush, Attrs{"connect": []string{ep}})
	testutil.Eventually(t, WaitFor, "three failed connects counted", func() bool {
		return SocketStats(t, s, "push").Events[transport.EventConnectFailed] >= 3
	})
	failed := SocketStats(t, s, "push").Events[transport.EventConnectFailed]
	lines := warnings(log.String(), ep)
	if len(lines) == 0 || uint64(len(lines)) >= failed {
		t.Fatalf("%d failed connects, %d warnings naming %s; want at least one, and fewer than the failures:\n%s",
			failed, len(lines), ep, strings.Join(lines, "\n"))
	}
}

// testHandshakeFailures: a peer that does not speak ZMTP, and a ZeroMQ
// peer of an incompatible socket type, fail the handshake: each is
// counted (handshake_failed) and a warning says so; the socket keeps
// serving good peers.
func testHandshakeFailures(t *testing.T, x *suite) {
	s, log := x.newLoggedServer(t)
	OpenSocket(t, s, "pull", KindPull, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	ep := BoundEndpoint(t, s, "pull", 0)
	nc, err := net.Dial("tcp4", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, WaitFor, "the failed handshake counted", func() bool {
		return SocketStats(t, s, "pull").Events[transport.EventHandshakeFailed] >= 1
	})
	ctx := PeerContext(t)
	pub := PeerSocket(t, ctx, zmq.PUB, func(p *zmq.Socket) error { return p.Connect(ep) })
	testutil.Eventually(t, WaitFor, "the incompatible peer's handshake counted", func() bool {
		// libzmq peers retry; each attempt may count.
		return SocketStats(t, s, "pull").Events[transport.EventHandshakeFailed] >= 2
	})
	pub.Close()
	if len(warnings(log.String(), "handshake")) == 0 {
		t.Fatalf("no warning about the failed handshakes:\n%s", log.String())
	}
	push := PeerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(ep) })
	SendMessage(t, push, Event(zeekproto.LogWriteTopic, "good", []byte("x"))...)
	if got := RecvAll(t, s, "pull", 1, transport.Limits{}); string(got[0][1]) != "good" {
		t.Fatalf("got %s", ShowFrames(got[0]))
	}
}
