// Package queue holds zpipe's queue stages, which decouple receiving from
// processing with a buffer bounded in messages and in bytes:
//
//   - onloop: Zeek's onloop queue (docs/zeek-wire.md#zeeks-onloop-queue).
//     Events are dropped and counted when it holds hwm messages; log
//     batches and subscription messages go in past hwm (they count towards
//     the depth). Nothing passes max_bytes: there events are dropped, and
//     log batches and subscriptions wait for room (when_full = "block",
//     backpressure towards the source) or are dropped and counted
//     (when_full = "drop").
//   - hwm: a bounded buffer with a policy when either limit is reached:
//     drop_newest, drop_oldest, or block (backpressure towards the
//     source).
package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/ratelog"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/msgqueue"
	"github.com/zpipe/zpipe/core/zeekproto"
)

// Policies of the hwm stage.
const (
	PolicyDropNewest = "drop_newest"
	PolicyDropOldest = "drop_oldest"
	PolicyBlock      = "block"
)

// What the onloop stage does with log batches and subscription messages
// when it holds max_bytes.
const (
	WhenFullBlock = "block"
	WhenFullDrop  = "drop"
)

// DefaultMaxBytes is the byte limit of both queue stages, 64 MiB: about
// 180 batches of a thousand conn records, two seconds of a logger's
// writing, while zpipe and its plugins stay well under 1 GiB.
const DefaultMaxBytes = 64 << 20

// A queue stage passes on batches of at most takeMax messages and
// takeMaxBytes bytes (a larger message goes alone), the size of the
// batches read from sockets: what a sink has in hand when a pipeline
// stops is one such batch.
const (
	takeMax      = 1024
	takeMaxBytes = 1 << 20
)

var maxBytesAttr = schema.Attribute{Name: "max_bytes", Type: schema.Number, Default: DefaultMaxBytes,
	Description: "Payload bytes the queue holds at most (at least 1; default 64 MiB). A message larger than this is taken when the queue is empty, alone."}

// onloopSchema is the attribute schema of the onloop stage kind.
var onloopSchema = schema.Schema{Attributes: []schema.Attribute{
	{Name: "hwm", Type: schema.Number, Default: 10000,
		Description: "Messages the queue holds before events are dropped (Zeek's onloop_queue_hwm); 0 = no limit in messages."},
	maxBytesAttr,
	{Name: "when_full", Type: schema.String, Default: WhenFullBlock, OneOf: []string{WhenFullBlock, WhenFullDrop},
		Description: "What log batches and subscription messages do when the queue holds max_bytes: block waits for room (the source stops reading; its socket's HWM pushes back on the peers), " +
			"drop drops and counts them (max_bytes). Events are dropped either way, as in Zeek."},
}}

// Onloop is the onloop stage kind.
var Onloop = stage.Kind{
	Name: "onloop",
	Description: "Zeek's onloop queue: a bounded queue between receiving and processing; events are dropped (and counted) when it is full, " +
		"log batches and subscription messages pass its hwm but not its max_bytes, where they wait for room (or are dropped, when_full = \"drop\").",
	Schema:   onloopSchema,
	New:      newOnloop,
	Validate: func(config []byte) error { _, err := parseOnloop(config); return err },
}

// hwmSchema is the attribute schema of the hwm stage kind.
var hwmSchema = schema.Schema{Attributes: []schema.Attribute{
	{Name: "capacity", Type: schema.Number, Default: 10000,
		Description: "Messages the buffer holds (at least 1)."},
	maxBytesAttr,
	{Name: "policy", Type: schema.String, Default: PolicyBlock, OneOf: []string{PolicyDropNewest, PolicyDropOldest, PolicyBlock},
		Description: "What happens when the buffer holds capacity messages or max_bytes: drop the arriving message, drop the oldest held, or make the source wait."},
}}

// HWM is the hwm stage kind.
var HWM = stage.Kind{
	Name:        "hwm",
	Description: "A buffer bounded in messages and bytes with a policy when full: drop_newest, drop_oldest, or block (backpressure to the source).",
	Schema:      hwmSchema,
	New:         newHWM,
	Validate:    func(config []byte) error { _, err := parseHWM(config); return err },
}

// queued is a stage made of a msgqueue and a delivery loop.
type queued struct {
	env      stage.Env
	q        *msgqueue.Queue
	counters *stage.Counters
	// push queues b and returns how many of its messages it took or
	// dropped (and counted); on an error the rest were not looked at.
	push func(ctx context.Context, b *message.Batch) (int, error)
}

var _ stage.Abandoner = (*queued)(nil)

// newQueued returns a queue stage dropping for reasons (and for
// stage.DropShutdown).
func newQueued(env stage.Env, lim msgqueue.Limits, reasons ...string) *queued {
	return &queued{env: env, q: msgqueue.New(lim), counters: stage.NewCounters(append(reasons, stage.DropShutdown)...)}
}

// Push queues the messages of b. Those it could not queue because the
// pipeline stopped (the stage was abandoned, or ctx ended) are counted as
// shutdown drops.
func (s *queued) Push(ctx context.Context, b *message.Batch) error {
	s.counters.Received(b.Len())
	handled, err := s.push(ctx, b)
	if err == nil {
		return nil
	}
	if rest := b.Len() - handled; rest > 0 {
		s.counters.Drop(stage.DropShutdown, rest)
	}
	if errors.Is(err, msgqueue.ErrClosed) {
		return nil // abandoned: counted, and the sender may go on
	}
	return err
}

// Run passes on what the queue holds until it is closed and empty. If ctx
// ends first, what it still holds is counted as shutdown drops.
func (s *queued) Run(ctx context.Context) error {
	var b message.Batch
	for {
		if err := s.q.Take(ctx, &b, takeMax, takeMaxBytes); err != nil {
			if errors.Is(err, msgqueue.ErrClosed) {
				return nil
			}
			s.Abandon()
			return err
		}
		if err := s.env.Out.Push(ctx, &b); err != nil {
			s.Abandon()
			return err
		}
		s.counters.Sent(b.Len())
	}
}

func (s *queued) CloseInput() { s.q.Close() }

// Abandon implements stage.Abandoner.
func (s *queued) Abandon() {
	s.q.Close()
	if n, _ := s.q.Clear(); n > 0 {
		s.counters.Drop(stage.DropShutdown, n)
	}
}

func (s *queued) Stats() stage.Stats {
	st := s.counters.Stats()
	lim := s.q.Limits()
	st.HasDepth, st.Depth, st.Capacity = true, int64(s.q.Len()), int64(lim.Messages)
	st.Bytes, st.MaxBytes = int64(s.q.Bytes()), int64(lim.Bytes)
	return st
}

// onloopSettings is a checked onloop configuration.
type onloopSettings struct {
	hwm, maxBytes int
	block         bool // when_full = "block"
}

// parseOnloop checks an onloop configuration, naming the attribute at
// fault.
func parseOnloop(config []byte) (onloopSettings, error) {
	v, err := onloopSchema.Decode(config)
	if err != nil {
		return onloopSettings{}, fmt.Errorf("onloop: %w", err)
	}
	var s onloopSettings
	if s.hwm, err = v.Int("hwm", 0); err != nil {
		return s, err
	}
	if s.maxBytes, err = v.Int("max_bytes", 1); err != nil {
		return s, err
	}
	switch w := v.String("when_full"); w {
	case WhenFullBlock:
		s.block = true
	case WhenFullDrop:
	default:
		return s, fmt.Errorf("attribute \"when_full\": %q is not one of %s, %s", w, WhenFullBlock, WhenFullDrop)
	}
	return s, nil
}

// bypassesOnloop says whether a message goes into the onloop queue even
// when it holds hwm messages: log batches and subscription messages
// (docs/zeek-wire.md#zeeks-onloop-queue).
func bypassesOnloop(it *message.Iter) bool {
	switch it.NumFrames() {
	case 1:
		_, _, ok := message.ParseSubscription(it.Frame(0))
		return ok
	case 4:
		return string(it.Frame(0)) == zeekproto.LogWriteTopic || string(it.Frame(2)) == zeekproto.FormatZeekLog
	}
	return false
}

func newOnloop(env stage.Env, config []byte) (stage.Stage, error) {
	set, err := parseOnloop(config)
	if err != nil {
		return nil, err
	}
	hwm, maxBytes, block := set.hwm, set.maxBytes, set.block
	s := newQueued(env, msgqueue.Limits{Messages: hwm, Bytes: maxBytes}, stage.DropQueueFull, stage.DropMaxBytes)
	rule := func(it *message.Iter) msgqueue.Rule {
		if bypassesOnloop(it) {
			return msgqueue.Rule{IgnoreCount: true, Block: block}
		}
		return msgqueue.Rule{}
	}
	var warn sync.Once
	limiter := ratelog.New(env.Logger, ratelog.DefaultInterval)
	s.push = func(ctx context.Context, b *message.Batch) (int, error) {
		r, err := s.q.Push(ctx, b, rule)
		if events := r.Dropped - r.DroppedIgnoringCount; events > 0 {
			s.counters.Drop(stage.DropQueueFull, events)
			warn.Do(func() { // once, as Zeek; the counter tells the rest
				env.Logger.Warn("dropped a message due to onloop queue full", "hwm", hwm, "max_bytes", maxBytes)
			})
		}
		if n := r.DroppedIgnoringCount; n > 0 {
			s.counters.Drop(stage.DropMaxBytes, n)
			limiter.Warn("queue at max_bytes, log batches or subscriptions dropped", "max_bytes", maxBytes, "dropped", n)
		}
		return r.Taken + r.Dropped, err
	}
	return s, nil
}

// hwmSettings is a checked hwm configuration.
type hwmSettings struct {
	capacity, maxBytes int
	policy             string
}

// parseHWM checks an hwm configuration, naming the attribute at fault.
func parseHWM(config []byte) (hwmSettings, error) {
	v, err := hwmSchema.Decode(config)
	if err != nil {
		return hwmSettings{}, fmt.Errorf("hwm: %w", err)
	}
	s := hwmSettings{policy: v.String("policy")}
	if s.capacity, err = v.Int("capacity", 1); err != nil {
		return s, err
	}
	if s.maxBytes, err = v.Int("max_bytes", 1); err != nil {
		return s, err
	}
	switch s.policy {
	case PolicyDropNewest, PolicyDropOldest, PolicyBlock:
	default:
		return s, fmt.Errorf("attribute \"policy\": %q is not one of %s, %s, %s", s.policy, PolicyDropNewest, PolicyDropOldest, PolicyBlock)
	}
	return s, nil
}

func newHWM(env stage.Env, config []byte) (stage.Stage, error) {
	set, err := parseHWM(config)
	if err != nil {
		return nil, err
	}
	capacity, maxBytes := set.capacity, set.maxBytes
	s := newQueued(env, msgqueue.Limits{Messages: capacity, Bytes: maxBytes}, stage.DropHWM)
	limiter := ratelog.New(env.Logger, ratelog.DefaultInterval)
	drop := func(n int) {
		if n > 0 {
			s.counters.Drop(stage.DropHWM, n)
			limiter.Warn("buffer full, messages dropped", "policy", set.policy, "capacity", capacity, "max_bytes", maxBytes, "dropped", n)
		}
	}
	switch set.policy {
	case PolicyDropNewest:
		s.push = func(ctx context.Context, b *message.Batch) (int, error) {
			r, err := s.q.Push(ctx, b, nil)
			drop(r.Dropped)
			return r.Taken + r.Dropped, err
		}
	case PolicyDropOldest:
		s.push = func(_ context.Context, b *message.Batch) (int, error) {
			dropped, err := s.q.PushDropOldest(b)
			if err != nil {
				return 0, err
			}
			drop(dropped)
			return b.Len(), nil
		}
	case PolicyBlock:
		block := func(*message.Iter) msgqueue.Rule { return msgqueue.Rule{Block: true} }
		s.push = func(ctx context.Context, b *message.Batch) (int, error) {
			r, err := s.q.Push(ctx, b, block)
			return r.Taken, err
		}
	}
	return s, nil
}
