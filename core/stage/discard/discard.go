// Package discard is the discard sink: it counts what reaches it and keeps
// nothing. It measures what a pipeline reaches without the cost of a real
// sink, and ends branches whose output nobody needs.
package discard

import (
	"context"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/stage"
)

// Kind is the discard sink kind.
var Kind = stage.Kind{
	Name:        "discard",
	Description: "Counts the messages that reach it and keeps nothing (a sink for measurements and unused branches).",
	Sink:        true,
	New: func(stage.Env, []byte) (stage.Stage, error) {
		return &Sink{counters: stage.NewCounters()}, nil
	},
}

// Sink is a running discard sink.
type Sink struct {
	stage.Sync
	counters *stage.Counters
}

// Push counts the messages of b.
func (s *Sink) Push(_ context.Context, b *message.Batch) error {
	s.counters.Received(b.Len())
	return nil
}

// Stats returns the sink's counters.
func (s *Sink) Stats() stage.Stats { return s.counters.Stats() }
