package transporttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/core/zeekproto"
)

// The transports' socket kinds and framings, as the plugin protocol
// spells them.
const (
	KindXSub = "xsub"
	KindXPub = "xpub"
	KindPull = "pull"
	KindPush = "push"

	FramingZeek = "zeek"
	FramingRaw  = "raw"
)

// Drop reasons, as the transport contract spells them.
const (
	DropHWM          = transport.DropHWM
	DropNoPeer       = transport.DropNoPeer
	DropMalformed    = transport.DropMalformed
	DropOversize     = transport.DropOversize
	DropStalledPeer  = transport.DropStalledPeer
	DropSubscription = transport.DropSubscription
)

// WaitFor is how long tests wait for a condition on a loaded machine. It
// bounds waits so that a bug fails a test instead of hanging it; nothing
// is asserted about how long the wait took.
const WaitFor = 20 * time.Second

// Attrs are the attributes of a socket, as in a pipeline's block.
type Attrs map[string]any

// NewServer returns a transport made by newServer, logging to the test's
// output at debug level and closed when the test ends.
func NewServer[S Server](t testing.TB, newServer func(*slog.Logger) S) S {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newServer(log)
	t.Cleanup(func() {
		if err := s.CloseAll(context.Background()); err != nil {
			t.Errorf("close all: %v", err)
		}
	})
	return s
}

// OpenSocket opens socket id of kind with attributes a, failing the test
// if that fails.
func OpenSocket(t testing.TB, s Server, id, kind string, a Attrs) {
	t.Helper()
	if err := s.Open(context.Background(), transport.SocketSpec{ID: id, Kind: kind, Config: MustJSON(t, a)}); err != nil {
		t.Fatalf("open %s %q: %v", kind, id, err)
	}
}

// MustJSON encodes v as JSON.
func MustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BoundEndpoint returns the n-th endpoint socket id is bound to.
func BoundEndpoint(t testing.TB, s Server, id string, n int) string {
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

// IPCEndpoint returns an ipc:// endpoint in a short temporary directory
// (socket paths are limited to 107 bytes), removed when the test ends.
func IPCEndpoint(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "zp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return "ipc://" + filepath.Join(dir, name)
}

// PeerContext returns a libzmq context for test peers, terminated when the
// test ends (after the peers' sockets, closed by their own cleanups, which
// run first because they were registered later).
func PeerContext(t testing.TB) *zmq.Context {
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

// PeerSocket creates a libzmq peer socket with linger 0 and a receive
// timeout of 100 ms, runs setup on it (options, bind, connect) and closes
// it when the test ends.
func PeerSocket(t testing.TB, ctx *zmq.Context, typ zmq.Type, setup func(*zmq.Socket) error) *zmq.Socket {
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

// isEAGAIN reports a receive or send that timed out or would block.
func isEAGAIN(err error) bool {
	return zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN)
}

// RecvMessage reads one message from a peer, waiting up to WaitFor.
func RecvMessage(t testing.TB, s *zmq.Socket) [][]byte {
	t.Helper()
	deadline := time.Now().Add(WaitFor)
	for {
		msg, err := s.RecvMessageBytes(0)
		if err == nil {
			return msg
		}
		if !isEAGAIN(err) { // EAGAIN: receive timeout
			t.Fatalf("receive: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message within %s", WaitFor)
		}
	}
}

// TryRecv reads one message if one arrives within the socket's receive
// timeout.
func TryRecv(t testing.TB, s *zmq.Socket) ([][]byte, bool) {
	t.Helper()
	msg, err := s.RecvMessageBytes(0)
	if err != nil {
		if isEAGAIN(err) {
			return nil, false
		}
		t.Fatalf("receive: %v", err)
	}
	return msg, true
}

// SendMessage sends frames on a peer, waiting for room up to WaitFor.
func SendMessage(t testing.TB, s *zmq.Socket, frames ...[]byte) {
	t.Helper()
	deadline := time.Now().Add(WaitFor)
	for {
		_, err := s.SendMessageDontwait(frames)
		if err == nil {
			return
		}
		if !isEAGAIN(err) {
			t.Fatalf("send: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer could not send within %s", WaitFor)
		}
		time.Sleep(time.Millisecond)
	}
}

// SocketStats returns the counters of one socket (or link).
func SocketStats(t testing.TB, s Server, id string) transport.SocketStats {
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

// Event builds a Zeek-shaped 4-frame event.
func Event(topic, sender string, payload []byte) [][]byte {
	return [][]byte{[]byte(topic), []byte(sender), []byte(zeekproto.FormatBrokerBin), payload}
}

// FrameBytes returns the bytes in frames.
func FrameBytes(frames [][]byte) uint64 {
	var n uint64
	for _, f := range frames {
		n += uint64(len(f))
	}
	return n
}

// Sub returns the subscription message frame for prefix.
func Sub(prefix string) []byte { return message.SubscriptionFrame(true, []byte(prefix)) }

// Unsub returns the unsubscription message frame for prefix.
func Unsub(prefix string) []byte { return message.SubscriptionFrame(false, []byte(prefix)) }

// BatchMessages copies the messages of a batch out as frame lists.
func BatchMessages(b *message.Batch) [][][]byte {
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

// RecvAll receives from handle until want messages have arrived, waiting
// up to WaitFor.
func RecvAll(t testing.TB, s Server, handle string, want int, lim transport.Limits) [][][]byte {
	t.Helper()
	out, err := RecvN(s, handle, want, lim)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// RecvN is RecvAll for goroutines other than the test's: it returns
// errors.
func RecvN(s Server, handle string, want int, lim transport.Limits) ([][][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), WaitFor)
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
		out = append(out, BatchMessages(&b)...)
	}
	return out, nil
}

// ShowFrames formats frames for a failure message.
func ShowFrames(frames [][]byte) string {
	parts := make([]string, len(frames))
	for i, f := range frames {
		parts[i] = fmt.Sprintf("%q", f)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// testCtx bounds a call that should finish quickly to WaitFor, so a bug
// shows as a failure instead of a hung test.
func TestCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), WaitFor)
	t.Cleanup(cancel)
	return ctx
}
