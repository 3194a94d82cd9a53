// Package stage defines the components that run inside zpipe's core
// process between sources and sinks: the contract a stage implements, the
// counters every stage keeps, and the registry of stage kinds that the
// configuration loader and the pipeline runtime consult.
//
// Data reaches a stage as batches of multipart messages through Push. A
// stage passes what it keeps to Env.Out, possibly later (queues) or changed
// (transcode). The batch given to Push belongs to the caller and is only
// valid during the call: a stage that keeps messages copies them.
package stage

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/schema"
)

// Inlet takes batches into a component of a pipeline's core path.
type Inlet interface {
	// Push hands b to the component. b belongs to the caller: the
	// component must not keep it, or anything pointing into it, after Push
	// returns. Push may block (backpressure); it returns ctx's error if ctx
	// ends first.
	Push(ctx context.Context, b *message.Batch) error
}

// InletFunc adapts a function to Inlet.
type InletFunc func(ctx context.Context, b *message.Batch) error

// Push calls f.
func (f InletFunc) Push(ctx context.Context, b *message.Batch) error { return f(ctx, b) }

// Fanout returns an Inlet that pushes every batch to each of outs in turn.
func Fanout(outs ...Inlet) Inlet {
	if len(outs) == 1 {
		return outs[0]
	}
	return InletFunc(func(ctx context.Context, b *message.Batch) error {
		for _, o := range outs {
			if err := o.Push(ctx, b); err != nil {
				return err
			}
		}
		return nil
	})
}

// Stage is a running stage.
//
// The runtime calls Push from any number of goroutines, Run once in a
// goroutine of its own, and CloseInput once no Push will come any more; Run
// then returns when the stage has passed on everything it holds, or when
// its context ends.
//
// A stage accounts for every message pushed into it: passed on, held, or
// dropped and counted by reason. A Push that returns because its context
// ended counts what it did not take; a stage that holds messages counts
// what it still holds when its Run's context ends (DropShutdown).
type Stage interface {
	Inlet
	// Run does the stage's background work until CloseInput was called and
	// everything held was passed on, or ctx ends.
	Run(ctx context.Context) error
	// CloseInput says that no more Push calls will come.
	CloseInput()
	// Stats returns the stage's counters.
	Stats() Stats
}

// Stats are a stage's counters, monotonic over its life.
type Stats struct {
	// Received counts messages pushed into the stage.
	Received uint64
	// Sent counts messages the stage passed on.
	Sent uint64
	// Undecoded counts messages passed on without decoding because no
	// codec handles their format (or they lack Zeek's four frames), for
	// stages that decode.
	Undecoded uint64
	// Dropped counts messages the stage discarded, by reason (the
	// error.type attribute of zpipe_messages_dropped_total).
	Dropped map[string]uint64
	// Depth is the number of messages the stage holds now, for queues;
	// HasDepth says whether the stage has a queue at all.
	Depth    int64
	HasDepth bool
	// Capacity is the queue's limit in messages (0: unbounded).
	Capacity int64
	// Bytes is the payload bytes the queue holds now, and MaxBytes its
	// limit in bytes (0: unbounded), for queues.
	Bytes, MaxBytes int64
}

// Drop reasons shared by stages (error.type values).
const (
	// DropQueueFull: a queue stage was full (onloop's HWM).
	DropQueueFull = "queue_full"
	// DropHWM: an hwm stage was full and its policy dropped.
	DropHWM = "hwm"
	// DropFiltered: a filter stage did not keep the message.
	DropFiltered = "filtered"
	// DropNoCodec: no codec handles the message's format, and the
	// pipeline says to drop such messages.
	DropNoCodec = "no_codec"
	// DropMalformed: the message does not have the shape the stage needs
	// (frame count), or its payload does not decode.
	DropMalformed = "malformed"
	// DropEncodeFailed: a decoded payload could not be encoded in the
	// target format.
	DropEncodeFailed = "encode_failed"
	// DropMaxBytes: a queue stage held its max_bytes and its policy for
	// the message was to drop (onloop's log batches and subscriptions
	// with when_full = "drop").
	DropMaxBytes = "max_bytes"
	// DropShutdown: the pipeline's shutdown window ended before the
	// message was passed on.
	DropShutdown = "shutdown"
)

// Abandoner is implemented by stages that hold messages between Push and
// passing them on (queues). When a stopping pipeline's shutdown window is
// about to end with messages still held, the runtime calls Abandon: the
// stage stops passing on, counts what it holds as dropped (DropShutdown),
// counts pushes that wait for room, and any later ones, the same way, and
// its Run returns once the batch it is passing on, if any, is through.
type Abandoner interface {
	Abandon()
}

// Counters holds the counters of Stats for a stage; safe for concurrent
// use. The drop reasons are fixed when it is made, so counting is lock free.
type Counters struct {
	received, sent, undecoded atomic.Uint64
	reasons                   []string
	dropped                   []atomic.Uint64
}

// NewCounters returns counters for a stage that drops for the given
// reasons.
func NewCounters(reasons ...string) *Counters {
	return &Counters{reasons: reasons, dropped: make([]atomic.Uint64, len(reasons))}
}

// Received counts n messages in.
func (c *Counters) Received(n int) { c.received.Add(uint64(n)) }

// Sent counts n messages passed on.
func (c *Counters) Sent(n int) { c.sent.Add(uint64(n)) }

// Undecoded counts n messages passed on undecoded.
func (c *Counters) Undecoded(n int) { c.undecoded.Add(uint64(n)) }

// Drop counts n messages dropped for reason, which must be one of the
// reasons the counters were made with.
func (c *Counters) Drop(reason string, n int) {
	for i, r := range c.reasons {
		if r == reason {
			c.dropped[i].Add(uint64(n))
			return
		}
	}
	panic(fmt.Sprintf("stage: drop reason %q not declared (have %v)", reason, c.reasons))
}

// Stats returns a snapshot; every declared reason is present, even at 0.
func (c *Counters) Stats() Stats {
	s := Stats{Received: c.received.Load(), Sent: c.sent.Load(), Undecoded: c.undecoded.Load(), Dropped: make(map[string]uint64, len(c.reasons))}
	for i, r := range c.reasons {
		s.Dropped[r] = c.dropped[i].Load()
	}
	return s
}

// Env is what a stage gets from the runtime when it is made.
type Env struct {
	// Pipeline and Component name the stage in logs and metrics
	// (Component is "stage.KIND.NAME").
	Pipeline, Component string
	// Logger is the stage's logger; the runtime gives it the pipeline and
	// component attributes, so log calls need not repeat them.
	Logger *slog.Logger
	// Out receives what the stage passes on.
	Out Inlet
	// Codecs decodes and encodes payloads, for stages that look inside
	// them. Nil when the runtime has no codecs; a stage that needs them
	// fails to start with a clear error.
	Codecs *registry.Registry
	// Upstream sends subscription messages (one frame: 0x01 or 0x00, then
	// the topic prefix) to the subscription-accepting sources (XSUB)
	// upstream of the stage, as if a downstream XPUB had received them.
	// Nil when there are none.
	Upstream Inlet
	// Telemetry takes what the stage observes beyond its Stats to the
	// runtime's metrics. Nil when the runtime exports none; a stage
	// then registers nothing.
	Telemetry Telemetry
}

// Telemetry is how a stage hands the runtime's metrics observations its
// Stats do not carry. The runtime calls what a stage registers at every
// collection, from any goroutine, for as long as it exports metrics (also
// after the stage has stopped): a registered function must be safe for
// that and must not block.
type Telemetry interface {
	// ObserveMembers registers fn as the stage's source of the cluster
	// membership gauge (zpipe.cluster.nodes): the cluster nodes the stage
	// sees up.
	ObserveMembers(fn func() []Member)
}

// Member is a cluster node a stage sees up, as the membership gauge
// counts it.
type Member struct {
	// Name is the node's name; Role is derived from it.
	Name, Role string
}

// SubscriptionObserver is implemented by stages that watch subscription
// messages: the runtime hands them every subscription and unsubscription
// that the subscription-emitting sinks (XPUB) downstream of the stage
// receive, before forwarding them upstream. The batch is only valid during
// the call.
type SubscriptionObserver interface {
	ObserveSubscriptions(ctx context.Context, b *message.Batch) error
}

// Kind is a kind of stage, or of sink that runs in zpipe's core (a file,
// an exporter): its name, its attribute schema and how to make one.
type Kind struct {
	Name        string
	Description string
	Schema      schema.Schema
	// NeedsCodecs says the stage decodes payloads (Env.Codecs must be set).
	NeedsCodecs bool
	// Sink marks a kind used as a sink block (sink "KIND" "NAME"): it
	// passes nothing on, and its Env.Out is nil.
	Sink bool
	// Source marks a kind used as a source block (source "KIND" "NAME"):
	// its Run produces messages and pushes them to Env.Out until it has
	// no more, CloseInput is called or ctx ends; Push is never called.
	Source bool
	// New makes a stage from its decoded configuration (a JSON object
	// holding every attribute of Schema, defaults filled in). It checks
	// what the schema cannot (ranges, combinations) and fails with an
	// error naming the attribute.
	New func(env Env, config []byte) (Stage, error)
	// Validate makes every check New makes on a configuration, without
	// making a stage or starting anything, so that a configuration is
	// refused before it runs. Its errors are New's, naming the attribute
	// at fault (`attribute "NAME": …`). Nil when New checks nothing.
	Validate func(config []byte) error
}

// Class returns the block class the kind is used as: "source", "stage"
// or "sink".
func (k Kind) Class() string {
	switch {
	case k.Sink:
		return "sink"
	case k.Source:
		return "source"
	}
	return "stage"
}

// Registry maps block classes and kind names to kinds: a source and a
// sink may share a name (the file source replays what the file sink
// writes). It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	kinds map[kindKey]Kind
}

type kindKey struct{ class, name string }

// NewRegistry returns a registry holding kinds. It fails on a kind whose
// schema is invalid or whose class and name are taken.
func NewRegistry(kinds ...Kind) (*Registry, error) {
	r := &Registry{kinds: make(map[kindKey]Kind, len(kinds))}
	for _, k := range kinds {
		if err := r.Add(k); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Add registers k.
func (r *Registry) Add(k Kind) error {
	if k.Name == "" || k.New == nil {
		return fmt.Errorf("stage kind %q: name and constructor are required", k.Name)
	}
	if err := k.Schema.Check(); err != nil {
		return fmt.Errorf("stage kind %q: %w", k.Name, err)
	}
	if k.Sink && k.Source {
		return fmt.Errorf("stage kind %q: both a sink and a source", k.Name)
	}
	key := kindKey{k.Class(), k.Name}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.kinds[key]; ok {
		return fmt.Errorf("%s kind %q registered twice", key.class, k.Name)
	}
	r.kinds[key] = k
	return nil
}

// Lookup returns the kind of a block class ("source", "stage", "sink")
// called name.
func (r *Registry) Lookup(class, name string) (Kind, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.kinds[kindKey{class, name}]
	return k, ok
}

// Kinds returns the registered kinds of a class, sorted by name.
func (r *Registry) Kinds(class string) []Kind {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Kind
	for key, k := range r.kinds {
		if key.class == class {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len returns the number of registered kinds.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.kinds)
}

// Sync provides Run and CloseInput for stages that do their work inside
// Push and hold nothing: Run waits for CloseInput or ctx. Embed it.
type Sync struct {
	once   sync.Once
	closed chan struct{}
	mu     sync.Mutex
}

func (s *Sync) ch() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed == nil {
		s.closed = make(chan struct{})
	}
	return s.closed
}

// Run returns once CloseInput was called (nil) or ctx ends (its error).
func (s *Sync) Run(ctx context.Context) error {
	select {
	case <-s.ch():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CloseInput ends Run.
func (s *Sync) CloseInput() {
	s.once.Do(func() { close(s.ch()) })
}
