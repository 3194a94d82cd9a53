package puretransport

import (
	"log/slog"
	"testing"

	"github.com/zpipe/zpipe/internal/transporttest"
)

// The helpers of this package's own tests and benchmarks. The tests every
// transport must pass, and the helpers they are written with, are in
// internal/transporttest (TestConformance runs them here).

type attrs = transporttest.Attrs

const waitFor = transporttest.WaitFor

var (
	mustJSON   = transporttest.MustJSON
	event      = transporttest.Event
	frameBytes = transporttest.FrameBytes
	sub        = transporttest.Sub
)

// newTestServer returns a Server that logs to the test's output and is
// closed when the test ends.
func newTestServer(t testing.TB) *Server {
	t.Helper()
	return transporttest.NewServer(t, func(log *slog.Logger) *Server { return New(WithLogger(log)) })
}
