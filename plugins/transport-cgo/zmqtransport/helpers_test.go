package zmqtransport

import (
	"log/slog"
	"testing"

	"github.com/zpipe/zpipe/internal/testutil"
	"github.com/zpipe/zpipe/internal/transporttest"
)

// The helpers of this package's own tests and benchmarks. The tests every
// transport must pass, and the helpers they are written with, are in
// internal/transporttest (TestConformance runs them here).

type attrs = transporttest.Attrs

const waitFor = transporttest.WaitFor

var (
	openSocket    = transporttest.OpenSocket
	boundEndpoint = transporttest.BoundEndpoint
	mustJSON      = transporttest.MustJSON
	peerContext   = transporttest.PeerContext
	peerSocket    = transporttest.PeerSocket
	sendMessage   = transporttest.SendMessage
	recvMessage   = transporttest.RecvMessage
	recvAll       = transporttest.RecvAll
	event         = transporttest.Event
	frameBytes    = transporttest.FrameBytes
	sub           = transporttest.Sub
	showFrames    = transporttest.ShowFrames
	testCtx       = transporttest.TestCtx
	ipcEndpoint   = transporttest.IPCEndpoint
	socketStats   = transporttest.SocketStats
)

// newTestServer returns a Server that logs to the test's output and is
// closed when the test ends.
func newTestServer(t testing.TB) *Server {
	t.Helper()
	return transporttest.NewServer(t, func(log *slog.Logger) *Server { return New(WithLogger(log)) })
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

// waitReceiving waits until a receive waits on socket id, or on the tap
// of link id.
func waitReceiving(t testing.TB, s *Server, id string) {
	t.Helper()
	testutil.Eventually(t, waitFor, "a receive waiting on "+id, func() bool {
		ok, err := harness.Receiving(s, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
}
