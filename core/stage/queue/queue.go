// Package queue holds zpipe's queue stages, which decouple receiving from
// processing with a bounded buffer:
//
//   - onloop: Zeek's onloop queue (spec §4.2). Events are dropped and
//     counted when it holds hwm messages; log batches and subscription
//     messages always go in (they count towards the depth).
//   - hwm: a bounded buffer with a policy when full: drop_newest,
//     drop_oldest, or block (backpressure towards the source).
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/msgqueue"
)

// Policies of the hwm stage.
const (
	PolicyDropNewest = "drop_newest"
	PolicyDropOldest = "drop_oldest"
	PolicyBlock      = "block"
)

// takeMax bounds the batches a queue stage passes on.
const takeMax = 1024

// Onloop is the onloop stage kind.
var Onloop = stage.Kind{
	Name:        "onloop",
	Description: "Zeek's onloop queue: a bounded queue between receiving and processing; events are dropped (and counted) when it is full, log batches and subscription messages never are.",
	Schema: schema.Schema{Attributes: []schema.Attribute{
		{Name: "hwm", Type: schema.Number, Default: 10000,
			Description: "Messages the queue holds before events are dropped (Zeek's onloop_queue_hwm); 0 = unbounded."},
	}},
	New: newOnloop,
}

// HWM is the hwm stage kind.
var HWM = stage.Kind{
	Name:        "hwm",
	Description: "A bounded buffer with a policy when full: drop_newest, drop_oldest, or block (backpressure to the source).",
	Schema: schema.Schema{Attributes: []schema.Attribute{
		{Name: "capacity", Type: schema.Number, Default: 10000,
			Description: "Messages the buffer holds (at least 1)."},
		{Name: "policy", Type: schema.String, Default: PolicyBlock, OneOf: []string{PolicyDropNewest, PolicyDropOldest, PolicyBlock},
			Description: "What happens when the buffer is full: drop the arriving message, drop the oldest held, or make the source wait."},
	}},
	New: newHWM,
}

// queued is a stage made of a msgqueue and a delivery loop.
type queued struct {
	env      stage.Env
	q        *msgqueue.Queue
	counters *stage.Counters
	push     func(ctx context.Context, b *message.Batch) error
}

func (s *queued) Push(ctx context.Context, b *message.Batch) error {
	s.counters.Received(b.Len())
	return s.push(ctx, b)
}

// Run passes on what the queue holds until it is closed and empty.
func (s *queued) Run(ctx context.Context) error {
	var b message.Batch
	for {
		if err := s.q.Take(ctx, &b, takeMax); err != nil {
			if errors.Is(err, msgqueue.ErrClosed) {
				return nil
			}
			return err
		}
		if err := s.env.Out.Push(ctx, &b); err != nil {
			return err
		}
		s.counters.Sent(b.Len())
	}
}

func (s *queued) CloseInput() { s.q.Close() }

func (s *queued) Stats() stage.Stats {
	st := s.counters.Stats()
	st.HasDepth, st.Depth, st.Capacity = true, int64(s.q.Len()), int64(s.q.Capacity())
	return st
}

type onloopConfig struct {
	HWM float64 `json:"hwm"`
}

// LogWriteTopic is frame 0 of Zeek's log-write messages (spec §1.2).
const LogWriteTopic = "log-write"

// bypassesOnloop says whether a message goes into the onloop queue even
// when it is full: log batches and subscription messages (spec §4.2).
func bypassesOnloop(it *message.Iter) bool {
	switch it.NumFrames() {
	case 1:
		_, _, ok := message.ParseSubscription(it.Frame(0))
		return ok
	case 4:
		return string(it.Frame(0)) == LogWriteTopic || string(it.Frame(2)) == codec.FormatZeekLog
	}
	return false
}

func newOnloop(env stage.Env, config []byte) (stage.Stage, error) {
	var c onloopConfig
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("onloop: %w", err)
	}
	hwm, err := wholeNumber("hwm", c.HWM, 0)
	if err != nil {
		return nil, err
	}
	s := &queued{env: env, q: msgqueue.New(hwm), counters: stage.NewCounters(stage.DropQueueFull)}
	var warn sync.Once
	s.push = func(_ context.Context, b *message.Batch) error {
		_, dropped, err := s.q.PushDropNewest(b, bypassesOnloop)
		if dropped > 0 {
			s.counters.Drop(stage.DropQueueFull, dropped)
			warn.Do(func() { // once, as Zeek; the counter tells the rest
				env.Logger.Warn("dropped a message due to onloop queue full", "hwm", hwm)
			})
		}
		return err
	}
	return s, nil
}

type hwmConfig struct {
	Capacity float64 `json:"capacity"`
	Policy   string  `json:"policy"`
}

func newHWM(env stage.Env, config []byte) (stage.Stage, error) {
	var c hwmConfig
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("hwm: %w", err)
	}
	capacity, err := wholeNumber("capacity", c.Capacity, 1)
	if err != nil {
		return nil, err
	}
	s := &queued{env: env, q: msgqueue.New(capacity), counters: stage.NewCounters(stage.DropHWM)}
	limiter := stage.NewLogLimiter(env.Logger, stage.DefaultLogInterval)
	drop := func(n int) {
		if n > 0 {
			s.counters.Drop(stage.DropHWM, n)
			limiter.Warn("buffer full, messages dropped", "policy", c.Policy, "capacity", capacity, "dropped", n)
		}
	}
	switch c.Policy {
	case PolicyDropNewest:
		s.push = func(_ context.Context, b *message.Batch) error {
			_, dropped, err := s.q.PushDropNewest(b, nil)
			drop(dropped)
			return err
		}
	case PolicyDropOldest:
		s.push = func(_ context.Context, b *message.Batch) error {
			dropped, err := s.q.PushDropOldest(b)
			drop(dropped)
			return err
		}
	case PolicyBlock:
		s.push = func(ctx context.Context, b *message.Batch) error {
			_, err := s.q.PushBlock(ctx, b)
			return err
		}
	default:
		return nil, fmt.Errorf("attribute \"policy\": %q is not one of %s, %s, %s", c.Policy, PolicyDropNewest, PolicyDropOldest, PolicyBlock)
	}
	return s, nil
}

// wholeNumber checks that attribute name holds a whole number >= least.
func wholeNumber(name string, v float64, least int) (int, error) {
	if v != float64(int(v)) || int(v) < least || v > 1<<31 {
		return 0, fmt.Errorf("attribute %q: want a whole number from %d to %d, have %v", name, least, 1<<31, v)
	}
	return int(v), nil
}
