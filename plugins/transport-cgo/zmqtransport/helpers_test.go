package zmqtransport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
)

// waitFor is how long tests wait for a condition on a loaded machine.
const waitFor = 20 * time.Second

// newTestServer returns a Server that logs to the test's output and is
// closed when the test ends.
func newTestServer(t testing.TB) *Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(WithLogger(log))
	t.Cleanup(func() {
		if err := s.CloseAll(context.Background()); err != nil {
			t.Errorf("close all: %v", err)
		}
	})
	return s
}

type attrs map[string]any

func openSocket(t testing.TB, s *Server, id, kind string, a attrs) {
	t.Helper()
	if err := s.Open(context.Background(), transport.SocketSpec{ID: id, Kind: kind, Config: mustJSON(t, a)}); err != nil {
		t.Fatalf("open %s %q: %v", kind, id, err)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// boundEndpoint returns the n-th endpoint socket id is bound to.
func boundEndpoint(t testing.TB, s *Server, id string, n int) string {
	t.Helper()
	eps, err := s.BoundEndpoints(id)
	if err != nil {
		t.Fatal(err)
	}
	if n >= len(eps) {
		t.Fatalf("socket %q has %d bound endpoints, want at least %d", id, len(eps), n+1)
	}
	return eps[n]
}

// ipcEndpoint returns an ipc:// endpoint in a short temporary directory
// (socket paths are limited to 107 bytes).
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

// peerSocket creates a peer socket with linger 0 and a receive timeout,
// closed when the test ends.
func peerSocket(t testing.TB, ctx *zmq.Context, typ zmq.Type, setup func(*zmq.Socket) error) *zmq.Socket {
	t.Helper()
	s, err := ctx.NewSocket(typ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRcvtimeo(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		if err := setup(s); err != nil {
			t.Fatalf("set up %s peer: %v", typ, err)
		}
	}
	return s
}

// recvMessage reads one message from a peer, waiting up to waitFor.
func recvMessage(t testing.TB, s *zmq.Socket) [][]byte {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		msg, err := s.RecvMessageBytes(0)
		if err == nil {
			return msg
		}
		if zmq.AsErrno(err) != zmq.Errno(11) { // EAGAIN: receive timeout
			t.Fatalf("receive: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message within %s", waitFor)
		}
	}
}

// tryRecv reads one message if one arrives within the socket's receive
// timeout.
func tryRecv(t testing.TB, s *zmq.Socket) ([][]byte, bool) {
	t.Helper()
	msg, err := s.RecvMessageBytes(0)
	if err != nil {
		if zmq.AsErrno(err) == zmq.Errno(11) {
			return nil, false
		}
		t.Fatalf("receive: %v", err)
	}
	return msg, true
}

// sendMessage sends frames on a peer, waiting for room up to waitFor.
func sendMessage(t testing.TB, s *zmq.Socket, frames ...[]byte) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		_, err := s.SendMessageDontwait(frames)
		if err == nil {
			return
		}
		if zmq.AsErrno(err) != zmq.Errno(11) {
			t.Fatalf("send: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer could not send within %s", waitFor)
		}
		time.Sleep(time.Millisecond)
	}
}

// eventually polls cond until it holds, failing the test after waitFor.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitFor, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// socketStats returns the counters of one socket (or link).
func socketStats(t testing.TB, s *Server, id string) transport.SocketStats {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range st.Sockets {
		if x.ID == id {
			return x
		}
	}
	t.Fatalf("no stats for %q", id)
	return transport.SocketStats{}
}

// event builds a Zeek-shaped 4-frame event.
func event(topic, sender string, payload []byte) [][]byte {
	return [][]byte{[]byte(topic), []byte(sender), []byte("broker-bin-v1"), payload}
}

func frameBytes(frames [][]byte) uint64 {
	var n uint64
	for _, f := range frames {
		n += uint64(len(f))
	}
	return n
}

func sub(prefix string) []byte   { return message.SubscriptionFrame(true, []byte(prefix)) }
func unsub(prefix string) []byte { return message.SubscriptionFrame(false, []byte(prefix)) }

// batchMessages copies the messages of a batch out as frame lists.
func batchMessages(b *message.Batch) [][][]byte {
	var out [][][]byte
	for it := b.Iter(); it.Next(); {
		var msg [][]byte
		for _, f := range it.Frames(nil) {
			msg = append(msg, bytes.Clone(f))
		}
		out = append(out, msg)
	}
	return out
}

// recvAll receives from handle until want messages have arrived.
func recvAll(t testing.TB, s *Server, handle string, want int, lim transport.Limits) [][][]byte {
	t.Helper()
	out, err := recvN(s, handle, want, lim)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// recvN is recvAll for goroutines other than the test's: it returns errors.
func recvN(s *Server, handle string, want int, lim transport.Limits) ([][][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var out [][][]byte
	var b message.Batch
	for len(out) < want {
		b.Reset()
		if err := s.Recv(ctx, handle, &b, lim); err != nil {
			return out, fmt.Errorf("receive from %q after %d of %d messages: %w", handle, len(out), want, err)
		}
		if err := b.Validate(); err != nil {
			return out, fmt.Errorf("received batch: %w", err)
		}
		out = append(out, batchMessages(&b)...)
	}
	return out, nil
}

func showFrames(frames [][]byte) string {
	parts := make([]string, len(frames))
	for i, f := range frames {
		parts[i] = fmt.Sprintf("%q", f)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// internalSock returns the open socket id.
func internalSock(t testing.TB, s *Server, id string) *sock {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	sk, ok := s.sockets[id]
	if !ok {
		t.Fatalf("no socket %q", id)
	}
	return sk
}

// waitPeers waits until socket id has n connected peers.
func waitPeers(t testing.TB, s *Server, id string, n int32) {
	t.Helper()
	sk := internalSock(t, s, id)
	eventually(t, fmt.Sprintf("%d peers on %q", n, id), func() bool { return sk.c.peerCount() == n })
}

// waitReceiving waits until a receive holds socket id, or the tap of link
// id (it is waiting in C).
func waitReceiving(t testing.TB, s *Server, id string) {
	t.Helper()
	s.mu.Lock()
	sk, ok := s.sockets[id]
	if l, isLink := s.links[id]; !ok && isLink {
		sk, ok = l.tap, l.tap != nil
	}
	s.mu.Unlock()
	if !ok {
		t.Fatalf("no socket or tap %q", id)
	}
	eventually(t, "a receive waiting on "+id, func() bool {
		if sk.mu.TryLock() {
			sk.mu.Unlock()
			return false
		}
		return true
	})
}

// testCtx bounds a call that should finish quickly, so a bug shows as a
// failure instead of a hung test.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}
