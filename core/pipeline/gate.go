package pipeline

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/stage"
)

// inletGate stands in front of the inlet of a component in the core path (a
// stage, a core sink, a send stream) so that a stopping pipeline can shut
// it: once closed, a push no longer reaches the component and is counted
// as a shutdown drop of the component instead, and closing waits for the
// pushes already under way, so that CloseInput can follow safely.
type inletGate struct {
	in stage.Inlet

	mu     sync.Mutex
	closed bool
	active int           // pushes under way
	idle   chan struct{} // closed once the gate is closed and idle
	// dropped counts the messages of pushes that found the gate closed.
	dropped atomic.Uint64
}

func newGate(in stage.Inlet) *inletGate { return &inletGate{in: in, idle: make(chan struct{})} }

// Push passes b on, or counts it once the gate is closed.
func (g *inletGate) Push(ctx context.Context, b *message.Batch) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		g.dropped.Add(uint64(b.Len()))
		return nil
	}
	g.active++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.active--
		if g.closed && g.active == 0 {
			close(g.idle)
		}
		g.mu.Unlock()
	}()
	return g.in.Push(ctx, b)
}

// close shuts the gate and waits until no push is under way, or ctx ends.
func (g *inletGate) close(ctx context.Context) error {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		if g.active == 0 {
			close(g.idle)
		}
	}
	g.mu.Unlock()
	select {
	case <-g.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
