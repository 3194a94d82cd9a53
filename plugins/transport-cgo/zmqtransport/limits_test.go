package zmqtransport

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/syncbuf"
	"github.com/zpipe/zpipe/internal/testutil"
	"github.com/zpipe/zpipe/internal/transporttest"
	"github.com/zpipe/zpipe/internal/zmqopts"
)

// TestOversizeMessages: a message over max_message_frames or
// max_message_bytes is dropped as it is read (counted as oversize), its
// peer disconnected, counted (peer_oversize) and named in a WARN line;
// another peer's messages keep flowing, through a link and through Recv.
func TestOversizeMessages(t *testing.T) {
	for _, c := range []struct {
		name   string
		frames [][]byte
	}{
		{"frames", make([][]byte, 5000)},
		{"bytes", [][]byte{[]byte("t"), bytes.Repeat([]byte{'x'}, 600<<10), bytes.Repeat([]byte{'y'}, 600<<10)}},
	} {
		for _, viaLink := range []bool{true, false} {
			name := c.name + "/recv"
			if viaLink {
				name = c.name + "/link"
			}
			t.Run(name, func(t *testing.T) {
				for i := range c.frames {
					if c.frames[i] == nil {
						c.frames[i] = []byte{}
					}
				}
				testOversize(t, c.frames, viaLink)
			})
		}
	}
}

func testOversize(t *testing.T, huge [][]byte, viaLink bool) {
	log := &syncbuf.Buffer{}
	s := New(WithLogger(slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	t.Cleanup(func() { _ = s.CloseAll(context.Background()) })
	openSocket(t, s, "pull", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": "raw",
		"max_message_frames": 1024, "max_message_bytes": 1 << 20, "linger_ms": 0})
	ctx := peerContext(t)
	ep := boundEndpoint(t, s, "pull", 0)
	var out *zmq.Socket
	if viaLink {
		openSocket(t, s, "push", KindPush, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "linger_ms": 0})
		if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "pull", Sinks: []string{"push"}}); err != nil {
			t.Fatal(err)
		}
		out = peerSocket(t, ctx, zmq.PULL, func(p *zmq.Socket) error { return p.Connect(boundEndpoint(t, s, "push", 0)) })
	}
	recv := func() [][]byte {
		t.Helper()
		if out != nil {
			return recvMessage(t, out)
		}
		return recvAll(t, s, "pull", 1, transport.Limits{})[0]
	}
	bad := peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(ep) })
	good := peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(ep) })

	// Both connections known to the socket's monitor.
	testutil.Eventually(t, waitFor, "both peers connected", func() bool {
		n, err := harness.Peers(s, "pull")
		return err == nil && n == 2
	})
	sendMessage(t, good, []byte("before"))
	if got := recv(); string(got[0]) != "before" {
		t.Fatalf("got %s", showFrames(got))
	}
	sendMessage(t, bad, huge...)
	sendMessage(t, good, []byte("after"))
	if got := recv(); len(got) != 1 || string(got[0]) != "after" {
		t.Fatalf("after the oversize message: got %d frames, want the good peer's message", len(got))
	}
	testutil.Eventually(t, waitFor, "the oversize message counted", func() bool {
		if out == nil {
			// Fair queueing may have served the good peer first: go on
			// reading so that the oversize message is read too.
			rctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			var b message.Batch
			err := s.Recv(rctx, "pull", &b, transport.Limits{})
			cancel()
			if err == nil && b.Len() > 0 {
				t.Fatalf("unexpected message %s", showFrames(transporttest.BatchMessages(&b)[0]))
			}
		}
		st := socketStats(t, s, "pull")
		return st.Drops[transport.DropOversize] == 1 && st.Events[transport.EventPeerOversize] == 1
	})
	// The bad peer was disconnected (it reconnects by itself later).
	testutil.Eventually(t, waitFor, "the oversize peer disconnected", func() bool {
		return logHas(log.String(), `msg="peer disconnected"`, "socket=pull")
	})
	sendMessage(t, good, []byte("still"))
	if got := recv(); string(got[0]) != "still" {
		t.Fatalf("got %s", showFrames(got))
	}
	testutil.Eventually(t, waitFor, "a WARN line naming the peer", func() bool {
		return logHas(log.String(), "level=WARN", "over the limits", "peer=127.0.0.1:")
	})
	if strings.Count(log.String(), "over the limits") != 1 {
		t.Errorf("want one WARN line:\n%s", log.String())
	}
}

// TestOversizeFrameLibzmq: a single frame over max_message_bytes is refused
// by libzmq itself (ZMQ_MAXMSGSIZE), which disconnects the peer; the
// message never reaches zpipe. libzmq 4.3's monitor reports this as a plain
// disconnect, so it is not counted as peer_oversize.
func TestOversizeFrameLibzmq(t *testing.T) {
	s := newTestServer(t)
	openSocket(t, s, "pull", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": "raw",
		"max_message_bytes": 1 << 20, "linger_ms": 0})
	ctx := peerContext(t)
	ep := boundEndpoint(t, s, "pull", 0)
	bad := peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(ep) })
	good := peerSocket(t, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(ep) })
	testutil.Eventually(t, waitFor, "both peers connected", func() bool {
		n, err := harness.Peers(s, "pull")
		return err == nil && n == 2
	})
	sendMessage(t, bad, bytes.Repeat([]byte{'x'}, 2<<20))
	sendMessage(t, good, []byte("after"))
	if got := recvAll(t, s, "pull", 1, transport.Limits{})[0]; string(got[0]) != "after" {
		t.Fatalf("got %s", showFrames(got))
	}
	// The bad peer reconnects by itself; its disconnect is what shows.
	st := socketStats(t, s, "pull")
	if st.MessagesReceived != 1 {
		t.Errorf("received %d messages, want only the good one", st.MessagesReceived)
	}
}

// BenchmarkFrameFlood measures what one message of floodFrames empty
// frames costs a link (pull → push): the time until a message another
// peer sent after it comes out, and the process's peak RSS (the flooding
// peer and the receiving peers are in the same process and cost the same
// in both cases). "limited" has the default max_message_frames, "unlimited"
// lets the flood through as before the limit existed.
//
//	go test -run '^$' -bench FrameFlood ./plugins/transport-cgo/zmqtransport/
func BenchmarkFrameFlood(b *testing.B) {
	const floodFrames = 1 << 20
	for _, c := range []struct {
		name      string
		maxFrames int
	}{{"limited", zmqopts.DefaultMaxMessageFrames}, {"unlimited", math.MaxInt32}} {
		b.Run(c.name, func(b *testing.B) {
			s := New()
			defer s.CloseAll(context.Background())
			openSocket(b, s, "pull", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": "raw",
				"max_message_frames": c.maxFrames, "linger_ms": 0})
			openSocket(b, s, "push", KindPush, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "linger_ms": 0})
			if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "pull", Sinks: []string{"push"}}); err != nil {
				b.Fatal(err)
			}
			ctx := peerContext(b)
			ep := boundEndpoint(b, s, "pull", 0)
			out := peerSocket(b, ctx, zmq.PULL, func(p *zmq.Socket) error { return p.Connect(boundEndpoint(b, s, "push", 0)) })
			good := peerSocket(b, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(ep) })
			bad := peerSocket(b, ctx, zmq.PUSH, func(p *zmq.Socket) error { return p.Connect(ep) })
			flood := make([][]byte, floodFrames)
			for i := range flood {
				flood[i] = []byte{}
			}
			resetPeakRSS(b)
			b.ResetTimer()
			for range b.N {
				sendMessage(b, bad, flood...)
				sendMessage(b, good, []byte("after"))
				for {
					msg := recvMessage(b, out)
					if len(msg) == 1 && string(msg[0]) == "after" {
						break
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(peakRSSMiB(b), "peak-RSS-MiB")
		})
	}
}

// resetPeakRSS resets the kernel's peak RSS record of this process.
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak RSS: %v", err)
	}
}

// peakRSSMiB reads VmHWM from /proc/self/status.
func peakRSSMiB(b *testing.B) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
