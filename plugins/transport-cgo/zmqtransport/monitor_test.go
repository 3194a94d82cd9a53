package zmqtransport

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/syncbuf"
	"github.com/zpipe/zpipe/internal/testutil"
)

// newHeldServer returns a test server whose sockets' monitor goroutines
// do not run until the test ends: whatever the transport knows of its
// connections then comes from monitor.sync.
func newHeldServer(t *testing.T) *Server {
	t.Helper()
	return holdMonitors(t, newTestServer(t))
}

// holdMonitors holds back the monitor goroutines of s's sockets until the
// test ends; s has no socket yet.
func holdMonitors(t *testing.T, s *Server) *Server {
	hold := make(chan struct{})
	s.monitorHold = hold
	// Registered after newTestServer's cleanup, so it runs first: Close
	// waits for the monitor goroutines.
	t.Cleanup(func() { close(hold) })
	return s
}

// TestQuiesceMonitorBehind: Quiesce finds the connection libzmq has
// accepted even when the monitor goroutine has not handled the event yet:
// the peer sees its connection end, what it sends before it closes is
// delivered, and the drain ends only after that.
func TestQuiesceMonitorBehind(t *testing.T) {
	s := newHeldServer(t)
	openSocket(t, s, "pull", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": "raw"})
	ep := boundEndpoint(t, s, "pull", 0)
	conn, _ := zmtpConnect(t, ep)
	if _, err := conn.Write(zmtpMessages("before")); err != nil {
		t.Fatal(err)
	}
	if got := recvAll(t, s, "pull", 1, transport.Limits{}); string(got[0][0]) != "before" {
		t.Fatalf("got %s", showFrames(got[0]))
	}

	if err := s.Quiesce(context.Background(), "pull"); err != nil {
		t.Fatal(err)
	}
	// The peer sees the end of its connection, sends what it was sending,
	// and closes.
	if err := conn.SetReadDeadline(time.Now().Add(waitFor)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("the peer did not see its connection end: %v", err)
	}
	if _, err := conn.Write(zmtpMessages("after")); err != nil {
		t.Fatal(err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}

	got := recvUntilDrained(t, s, "pull", transport.Limits{}, 0)
	if len(got) != 1 || got[0] != "after" {
		t.Fatalf("drained %q, want [after]", got)
	}
}

// TestPeerStatsMonitorBehind: an xpub's peers in Stats are those libzmq
// had reported when Stats was called, also when the monitor goroutine has
// not handled the events: a subscriber whose departure the xpub has
// reported (its unsubscription) is no longer listed.
func TestPeerStatsMonitorBehind(t *testing.T) {
	s := newHeldServer(t)
	openSocket(t, s, "xpub", KindXPub, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	ep := boundEndpoint(t, s, "xpub", 0)
	ctx := peerContext(t)
	subscriber := func(prefix string) *zmq.Socket {
		return peerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
			if err := p.SetSubscribe(prefix); err != nil {
				return err
			}
			return p.Connect(ep)
		})
	}
	a, b := subscriber("a"), subscriber("b")
	var subs [][]byte
	for _, m := range recvAll(t, s, "xpub", 2, transport.Limits{}) {
		subs = append(subs, m[0])
	}
	if len(subs) != 2 {
		t.Fatalf("subscriptions %s", showFrames(subs))
	}
	if peers := socketStats(t, s, "xpub").Peers; len(peers) != 2 {
		t.Fatalf("peers %+v, want both subscribers", peers)
	}
	bAddr, err := b.GetLastEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := recvAll(t, s, "xpub", 1, transport.Limits{}); !bytes.Equal(got[0][0], []byte("\x00a")) {
		t.Fatalf("got %s, want a's unsubscription", showFrames(got[0]))
	}
	if peers := socketStats(t, s, "xpub").Peers; len(peers) != 1 {
		t.Fatalf("peers %+v after a left, want one (b, connected to %s)", peers, bAddr)
	}
}

// TestOversizeMonitorBehind: the sender of an oversize message read
// before the monitor reported its connection is disconnected once the
// monitor does, and named in the warning.
func TestOversizeMonitorBehind(t *testing.T) {
	log := &syncbuf.Buffer{}
	s := New(WithLogger(slog.New(slog.NewTextHandler(log, nil))))
	t.Cleanup(func() { _ = s.CloseAll(context.Background()) })
	holdMonitors(t, s)
	openSocket(t, s, "pull", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": "raw", "max_message_frames": 4})
	ep := boundEndpoint(t, s, "pull", 0)
	conn, _ := zmtpConnect(t, ep)
	// A message of five frames, over the limit, then one within it.
	oversize := bytes.Repeat([]byte("\x01\x01o"), 4)
	oversize = append(oversize, zmtpMessages("o")...)
	if _, err := conn.Write(append(oversize, zmtpMessages("ok")...)); err != nil {
		t.Fatal(err)
	}
	if got := recvAll(t, s, "pull", 1, transport.Limits{}); string(got[0][0]) != "ok" {
		t.Fatalf("got %s", showFrames(got[0]))
	}
	st := socketStats(t, s, "pull") // handles the monitor's events
	if st.Drops[transport.DropOversize] != 1 || st.Events[transport.EventPeerOversize] != 1 {
		t.Fatalf("stats %+v: want one oversize drop and event", st)
	}
	// The connection ends.
	if err := conn.SetReadDeadline(time.Now().Add(waitFor)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("the sender of the oversize message is still connected: %v", err)
	}
	want := "peer=" + conn.LocalAddr().String()
	testutil.Eventually(t, waitFor, "the warning naming the sender", func() bool { return strings.Contains(log.String(), want) })
}
