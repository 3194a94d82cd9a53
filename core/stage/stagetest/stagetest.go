// Package stagetest has what tests of stages share: an Inlet that records
// what reaches it, an Env around it, and the built-in codecs in process.
package stagetest

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/builtin"
	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/stage"
)

// Collector is an Inlet that keeps a copy of every message pushed to it.
// While Gate is set, Push waits until it is closed (a stuck sink).
type Collector struct {
	mu   sync.Mutex
	msgs [][][]byte
	// Gate, when not nil, holds every Push until it is closed.
	Gate chan struct{}
}

// Push records the messages of b.
func (c *Collector) Push(ctx context.Context, b *message.Batch) error {
	if c.Gate != nil {
		select {
		case <-c.Gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for it := b.Iter(); it.Next(); {
		var msg [][]byte
		for _, f := range it.Frames(nil) {
			msg = append(msg, bytes.Clone(f))
		}
		c.msgs = append(c.msgs, msg)
	}
	return nil
}

// Messages returns what was pushed so far.
func (c *Collector) Messages() [][][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][][]byte(nil), c.msgs...)
}

// Env returns an Env for a stage under test that passes on to out and logs
// to the test's output.
func Env(t testing.TB, out stage.Inlet) stage.Env {
	return stage.Env{
		Pipeline: "p", Component: "stage.test.t", Out: out,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// Batch returns a batch of the given messages.
func Batch(msgs ...[][]byte) *message.Batch {
	var b message.Batch
	for _, m := range msgs {
		b.Append(m...)
	}
	return &b
}

// Msg builds a message from strings.
func Msg(frames ...string) [][]byte {
	out := make([][]byte, len(frames))
	for i, f := range frames {
		out[i] = []byte(f)
	}
	return out
}

// Codecs returns a registry of every built-in codec, run in process, for
// stages that decode or encode payloads.
func Codecs(t testing.TB) *registry.Registry {
	t.Helper()
	local, err := batch.NewLocal("codecs", "test", builtin.All()...)
	if err != nil {
		t.Fatal(err)
	}
	return registry.New(nil, registry.LocalSource("codecs", local))
}
