package puresock

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/internal/testutil"
)

// waitFor is how long tests wait for a condition on a loaded machine.
const waitFor = 20 * time.Second

// newSocket returns a socket with libzmq's defaults changed by set, a
// linger of 0 and a logger writing to the test's output. It is closed
// when the test ends, and the test fails if it does not shut down.
func newSocket(t testing.TB, typ Type, set func(*Options)) *Socket {
	t.Helper()
	o := DefaultOptions()
	o.Linger = 0
	o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	if set != nil {
		set(&o)
	}
	s, err := New(typ, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndWait(t, s) })
	return s
}

// closeAndWait closes s and waits until it has shut down.
func closeAndWait(t testing.TB, s *Socket) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	select {
	case <-s.Done():
	case <-time.After(waitFor):
		t.Errorf("%s socket still running %s after close", s.Type(), waitFor)
	}
}

func bind(t testing.TB, s *Socket, ep string) string {
	t.Helper()
	bound, err := s.Bind(ep)
	if err != nil {
		t.Fatal(err)
	}
	return bound
}

func connect(t testing.TB, s *Socket, ep string) {
	t.Helper()
	if err := s.Connect(ep); err != nil {
		t.Fatal(err)
	}
}

// ipcEndpoint returns an ipc:// endpoint in a short temporary directory.
func ipcEndpoint(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "zp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return "ipc://" + filepath.Join(dir, name)
}

// peerContext returns a libzmq context for test peers, terminated when the
// test ends (after the peers' sockets, closed by their own cleanups).
func peerContext(t testing.TB) *zmq.Context {
	t.Helper()
	ctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ctx.Term(); err != nil {
			t.Errorf("terminate peer context: %v", err)
		}
	})
	return ctx
}

// peerSocket creates a libzmq peer socket with linger 0 and a receive
// timeout, closed when the test ends.
func peerSocket(t testing.TB, ctx *zmq.Context, typ zmq.Type, setup func(*zmq.Socket) error) *zmq.Socket {
	t.Helper()
	s, err := ctx.NewSocket(typ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, err := range []error{s.SetLinger(0), s.SetRcvtimeo(100 * time.Millisecond)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if setup != nil {
		if err := setup(s); err != nil {
			t.Fatalf("set up %s peer: %v", typ, err)
		}
	}
	return s
}

// boundPeer creates a peer socket bound to ep and returns it with the
// endpoint it bound.
func boundPeer(t testing.TB, ctx *zmq.Context, typ zmq.Type, ep string, setup func(*zmq.Socket) error) (*zmq.Socket, string) {
	t.Helper()
	p := peerSocket(t, ctx, typ, func(s *zmq.Socket) error {
		if setup != nil {
			if err := setup(s); err != nil {
				return err
			}
		}
		return s.Bind(ep)
	})
	last, err := p.GetLastEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	return p, last
}

const eagain = zmq.Errno(11)

// recvPeer reads one message from a peer, waiting up to waitFor.
func recvPeer(t testing.TB, s *zmq.Socket) [][]byte {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		msg, err := s.RecvMessageBytes(0)
		if err == nil {
			return msg
		}
		if zmq.AsErrno(err) != eagain {
			t.Fatalf("peer receive: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer got no message within %s", waitFor)
		}
	}
}

// tryRecvPeer reads one message if one arrives within the peer's receive
// timeout.
func tryRecvPeer(t testing.TB, s *zmq.Socket) ([][]byte, bool) {
	t.Helper()
	msg, err := s.RecvMessageBytes(0)
	if err != nil {
		if zmq.AsErrno(err) == eagain {
			return nil, false
		}
		t.Fatalf("peer receive: %v", err)
	}
	return msg, true
}

// sendPeer sends frames on a peer, waiting for room up to waitFor.
func sendPeer(t testing.TB, s *zmq.Socket, frames ...[]byte) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		_, err := s.SendMessageDontwait(frames)
		if err == nil {
			return
		}
		if zmq.AsErrno(err) != eagain {
			t.Fatalf("peer send: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer could not send within %s", waitFor)
		}
		time.Sleep(time.Millisecond)
	}
}

// recv reads one message from our socket, waiting up to waitFor.
func recv(t testing.TB, s *Socket) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	msg, err := s.Recv(ctx)
	if err != nil {
		t.Fatalf("receive on %s: %v", s.Type(), err)
	}
	return msg
}

// send sends on our socket, waiting for room up to waitFor.
func send(t testing.TB, s *Socket, frames ...[]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := s.Send(ctx, frames); err != nil {
		t.Fatalf("send on %s: %v", s.Type(), err)
	}
}

func waitPeers(t testing.TB, s *Socket, n int) {
	t.Helper()
	testutil.Eventually(t, waitFor, fmt.Sprintf("%d peers on the %s socket", n, s.Type()), func() bool { return s.Peers() == n })
}

func sub(prefix string) []byte   { return append([]byte{1}, prefix...) }
func unsub(prefix string) []byte { return append([]byte{0}, prefix...) }

func show(frames [][]byte) string {
	parts := make([]string, len(frames))
	for i, f := range frames {
		parts[i] = fmt.Sprintf("%q", f)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// event builds a Zeek-shaped 4-frame event.
func event(topic, sender, payload string) [][]byte {
	return [][]byte{[]byte(topic), []byte(sender), []byte("broker-bin-v1"), []byte(payload)}
}
