// Command testtransport is an in-memory zpipe transport plugin for the tests
// and benchmarks of the plugin host. It owns no ZeroMQ sockets:
//
//   - memsink (sink): Send appends messages to the named in-process queue
//     (at most queueCapacity messages; the rest are dropped with reason
//     "hwm"). With exit_after > 0 the process exits with status 3, before
//     acknowledging, once that many messages were written to the socket.
//   - memsource (source): Recv reads the queue of the same name, waiting
//     for data. With exit_after > 0 the process exits with status 3 at the
//     next Recv once that many messages were delivered. Quiesce limits it
//     to the messages queued at that moment: Recv delivers those, then
//     returns transport.ErrDrained.
//   - nullsink (sink): Send counts and discards.
//   - gensource (source): Recv returns as many generated messages as the
//     limits allow, at once: frames = 1 gives one payload frame of size
//     bytes, frames = 4 a Zeek-shaped event (topic, node id, format,
//     payload of size bytes).
//
// Links forward a memsource or gensource to sinks in-process. Open logs
// "socket open" through plugin.NewLogger and Close writes a line to stderr,
// so tests can follow both into the host's log. Validate makes the checks
// Open makes (transport.Validator). Setting
// ZPIPE_TESTTRANSPORT_MODE=broken-schema makes Describe report a schema
// whose default does not match its type; ZPIPE_TESTTRANSPORT_MODE=no-validate
// serves a transport without Validate (or Quiesce).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/transport"
)

// queueCapacity bounds each in-process queue, in messages.
const queueCapacity = 10000

// crashStatus is the exit status of a deliberate crash.
const crashStatus = 3

func main() {
	mode := os.Getenv("ZPIPE_TESTTRANSPORT_MODE")
	t := newMemTransport(mode == "broken-schema")
	t.log = plugin.NewLogger(slog.LevelInfo)
	if mode == "no-validate" {
		// Only the Server methods: a transport that does not validate.
		plugin.ServeTransport(struct{ transport.Server }{t})
		return
	}
	plugin.ServeTransport(t)
}

type memTransport struct {
	brokenSchema bool
	log          *slog.Logger

	mu      sync.Mutex
	queues  map[string]*queue
	sockets map[string]*socket
	links   map[string]*link
}

func newMemTransport(brokenSchema bool) *memTransport {
	return &memTransport{
		brokenSchema: brokenSchema,
		queues:       make(map[string]*queue),
		sockets:      make(map[string]*socket),
		links:        make(map[string]*link),
	}
}

// Describe implements transport.Server.
func (t *memTransport) Describe(context.Context) (*transport.Description, error) {
	queueAttr := schema.Attribute{Name: "queue", Type: schema.String, Required: true, Description: "name of the in-process queue"}
	exitAttr := schema.Attribute{Name: "exit_after", Type: schema.Number, Default: 0, Description: "crash after this many messages (0: never)"}
	if t.brokenSchema {
		exitAttr.Default = "soon"
	}
	return &transport.Description{
		Name:         "test",
		Version:      "0.0.0",
		Protocol:     transport.ProtocolVersion,
		Capabilities: []string{transport.CapLink},
		Sockets: []transport.SocketKind{
			{Kind: "memsink", Role: transport.RoleSink, Description: "writes to an in-process queue",
				Schema: schema.Schema{Attributes: []schema.Attribute{queueAttr, exitAttr}}},
			{Kind: "memsource", Role: transport.RoleSource, Description: "reads an in-process queue",
				Schema: schema.Schema{Attributes: []schema.Attribute{queueAttr, exitAttr}}},
			{Kind: "nullsink", Role: transport.RoleSink, Description: "discards everything"},
			{Kind: "gensource", Role: transport.RoleSource, Description: "generates messages",
				Schema: schema.Schema{Attributes: []schema.Attribute{
					{Name: "frames", Type: schema.Number, Default: 1, Description: "1 or 4"},
					{Name: "size", Type: schema.Number, Default: 64, Description: "payload bytes"},
				}}},
		},
	}, nil
}

type socketConfig struct {
	Queue     string  `json:"queue"`
	ExitAfter float64 `json:"exit_after"`
	Frames    float64 `json:"frames"`
	Size      float64 `json:"size"`
}

// parseConfig decodes and checks a socket's configuration: the checks of
// Open, which Validate reports as problems.
func parseConfig(kind string, config []byte) (socketConfig, []transport.Problem, error) {
	cfg := socketConfig{Frames: 1, Size: 64}
	if len(config) > 0 {
		if err := json.Unmarshal(config, &cfg); err != nil {
			return cfg, nil, fmt.Errorf("config: %v: %w", err, plugin.ErrInvalidArgument)
		}
	}
	var problems []transport.Problem
	problem := func(attr, format string, args ...any) {
		problems = append(problems, transport.Problem{Attribute: attr, Index: -1, Message: fmt.Sprintf(format, args...)})
	}
	switch kind {
	case "memsink", "memsource":
		if cfg.Queue == "" {
			problem("queue", "%s needs a queue", kind)
		}
	case "nullsink":
	case "gensource":
		if cfg.Frames != 1 && cfg.Frames != 4 {
			problem("frames", "frames must be 1 or 4, not %v", cfg.Frames)
		}
		if cfg.Size < 0 {
			problem("size", "negative size %v", cfg.Size)
		}
	default:
		return cfg, nil, fmt.Errorf("unknown kind %q: %w", kind, plugin.ErrInvalidArgument)
	}
	return cfg, problems, nil
}

// Validate implements transport.Validator: the checks Open makes. The
// transport binds nothing, so Binds stays empty.
func (t *memTransport) Validate(_ context.Context, kind string, config []byte) (*transport.Validation, error) {
	_, problems, err := parseConfig(kind, config)
	if err != nil {
		return nil, err
	}
	return &transport.Validation{Problems: problems}, nil
}

// Open implements transport.Server.
func (t *memTransport) Open(_ context.Context, spec transport.SocketSpec) error {
	cfg, problems, err := parseConfig(spec.Kind, spec.Config)
	if err != nil {
		return fmt.Errorf("socket %q: %w", spec.ID, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("socket %q: %s: %w", spec.ID, problems[0].Message, plugin.ErrInvalidArgument)
	}
	s := &socket{id: spec.ID, kind: spec.Kind, exitAfter: int(cfg.ExitAfter), closed: make(chan struct{})}
	s.stats.ID = spec.ID
	if spec.Kind == "gensource" {
		payload := make([]byte, int(cfg.Size))
		if cfg.Frames == 4 {
			s.template = [][]byte{[]byte("zeek.cluster.worker"), []byte("worker-1-1234"), []byte("broker-bin-v1"), payload}
		} else {
			s.template = [][]byte{payload}
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.sockets[spec.ID]; ok {
		return fmt.Errorf("socket %q: %w", spec.ID, plugin.ErrAlreadyExists)
	}
	if cfg.Queue != "" {
		q, ok := t.queues[cfg.Queue]
		if !ok {
			q = &queue{ready: make(chan struct{}, 1)}
			t.queues[cfg.Queue] = q
		}
		s.q = q
	}
	t.sockets[spec.ID] = s
	if t.log != nil {
		t.log.Info("socket open", "id", spec.ID, "kind", spec.Kind)
	}
	return nil
}

// Close implements transport.Server.
func (t *memTransport) Close(_ context.Context, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.sockets[id]
	if !ok {
		return fmt.Errorf("socket %q: %w", id, plugin.ErrNotFound)
	}
	delete(t.sockets, id)
	close(s.closed)
	fmt.Fprintf(os.Stderr, "closing socket %s\n", id)
	return nil
}

func (t *memTransport) socket(id string) (*socket, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.sockets[id]
	if !ok {
		return nil, fmt.Errorf("socket %q: %w", id, plugin.ErrNotFound)
	}
	return s, nil
}

// StartLink implements transport.Server.
func (t *memTransport) StartLink(_ context.Context, spec transport.LinkSpec) error {
	if spec.TapSubscriptions {
		return fmt.Errorf("link %q: the memory transport has no subscriptions to tap: %w", spec.ID, plugin.ErrInvalidArgument)
	}
	src, err := t.socket(spec.Source)
	if err != nil {
		return fmt.Errorf("link %q: source: %w", spec.ID, err)
	}
	if !src.isSource() {
		return fmt.Errorf("link %q: %q is not a source: %w", spec.ID, spec.Source, plugin.ErrInvalidArgument)
	}
	var sinks []*socket
	for _, id := range spec.Sinks {
		s, err := t.socket(id)
		if err != nil {
			return fmt.Errorf("link %q: sink: %w", spec.ID, err)
		}
		if s.isSource() {
			return fmt.Errorf("link %q: %q is not a sink: %w", spec.ID, id, plugin.ErrInvalidArgument)
		}
		sinks = append(sinks, s)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.links[spec.ID]; ok {
		return fmt.Errorf("link %q: %w", spec.ID, plugin.ErrAlreadyExists)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &link{cancel: cancel, done: make(chan struct{})}
	t.links[spec.ID] = l
	go l.run(ctx, src, sinks)
	return nil
}

// StopLink implements transport.Server.
func (t *memTransport) StopLink(_ context.Context, id string) error {
	t.mu.Lock()
	l, ok := t.links[id]
	delete(t.links, id)
	t.mu.Unlock()
	if !ok {
		return fmt.Errorf("link %q: %w", id, plugin.ErrNotFound)
	}
	l.cancel()
	<-l.done
	return nil
}

// Recv implements transport.Server.
func (t *memTransport) Recv(ctx context.Context, handle string, b *message.Batch, lim transport.Limits) error {
	s, err := t.socket(handle)
	if err != nil {
		return err
	}
	if !s.isSource() {
		return fmt.Errorf("socket %q is a %s, not a source: %w", handle, s.kind, plugin.ErrInvalidArgument)
	}
	return s.recv(ctx, b, lim)
}

// Quiesce implements transport.Quiescer for memsource sockets.
func (t *memTransport) Quiesce(_ context.Context, id string) error {
	s, err := t.socket(id)
	if err != nil {
		return err
	}
	if s.kind != "memsource" {
		return fmt.Errorf("socket %q is a %s; only memsource sockets drain: %w", id, s.kind, errors.ErrUnsupported)
	}
	s.q.mu.Lock()
	n := s.q.count
	s.q.mu.Unlock()
	s.mu.Lock()
	s.quiesced, s.remaining = true, n
	s.mu.Unlock()
	return nil
}

// Send implements transport.Server.
func (t *memTransport) Send(_ context.Context, handle string, b *message.Batch) (transport.SendResult, error) {
	s, err := t.socket(handle)
	if err != nil {
		return transport.SendResult{}, err
	}
	if s.isSource() {
		return transport.SendResult{}, fmt.Errorf("socket %q is a %s, not a sink: %w", handle, s.kind, plugin.ErrInvalidArgument)
	}
	return s.send(b)
}

// Stats implements transport.Server.
func (t *memTransport) Stats(context.Context) (*transport.Stats, error) {
	t.mu.Lock()
	socks := make([]*socket, 0, len(t.sockets))
	for _, s := range t.sockets {
		socks = append(socks, s)
	}
	t.mu.Unlock()
	sort.Slice(socks, func(i, j int) bool { return socks[i].id < socks[j].id })
	out := &transport.Stats{}
	for _, s := range socks {
		s.mu.Lock()
		st := s.stats
		st.Drops = make(map[string]uint64, len(s.stats.Drops))
		for k, v := range s.stats.Drops {
			st.Drops[k] = v
		}
		s.mu.Unlock()
		out.Sockets = append(out.Sockets, st)
	}
	return out, nil
}

type socket struct {
	id, kind  string
	q         *queue
	exitAfter int
	template  [][]byte // gensource's message
	closed    chan struct{}

	mu    sync.Mutex
	count int // messages delivered (sources) or written (sinks)
	stats transport.SocketStats
	// quiesced memsources deliver remaining more messages, then report
	// transport.ErrDrained.
	quiesced  bool
	remaining int
}

func (s *socket) isSource() bool { return s.kind == "memsource" || s.kind == "gensource" }

func (s *socket) recv(ctx context.Context, b *message.Batch, lim transport.Limits) error {
	s.mu.Lock()
	crash := s.exitAfter > 0 && s.count >= s.exitAfter
	s.mu.Unlock()
	if crash {
		os.Exit(crashStatus)
	}
	start, frames0, bytes0 := b.Len(), b.Frames(), b.Bytes()
	switch s.kind {
	case "gensource":
		select {
		case <-s.closed:
			return transport.ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		for b.Len()-start < lim.MaxMessages && (b.Len() == start || b.Bytes()-bytes0 < lim.MaxBytes) {
			b.Append(s.template...)
		}
	default:
		s.mu.Lock()
		quiesced, remaining := s.quiesced, s.remaining
		s.mu.Unlock()
		if quiesced {
			if remaining == 0 {
				return transport.ErrDrained
			}
			lim.MaxMessages = min(lim.MaxMessages, remaining)
		}
		if err := s.q.pop(ctx, s.closed, b, lim); err != nil {
			return err
		}
	}
	s.mu.Lock()
	n := b.Len() - start
	if s.quiesced {
		s.remaining -= n
	}
	s.count += n
	s.stats.MessagesReceived += uint64(n)
	s.stats.FramesReceived += uint64(b.Frames() - frames0)
	s.stats.BytesReceived += uint64(b.Bytes() - bytes0)
	s.mu.Unlock()
	return nil
}

func (s *socket) send(b *message.Batch) (transport.SendResult, error) {
	select {
	case <-s.closed:
		return transport.SendResult{}, transport.ErrClosed
	default:
	}
	var res transport.SendResult
	var frames, size int
	for it := b.Iter(); it.Next(); {
		if s.q == nil || s.q.push(b, &it) {
			res.Sent++
			frames += it.NumFrames()
			size += it.Size()
		} else {
			res.Dropped++
		}
	}
	if res.Dropped > 0 {
		res.DropReason = "hwm"
	}
	s.mu.Lock()
	s.count += res.Sent
	crash := s.exitAfter > 0 && s.count >= s.exitAfter
	s.stats.MessagesSent += uint64(res.Sent)
	s.stats.FramesSent += uint64(frames)
	s.stats.BytesSent += uint64(size)
	if res.Dropped > 0 {
		if s.stats.Drops == nil {
			s.stats.Drops = make(map[string]uint64)
		}
		s.stats.Drops["hwm"] += uint64(res.Dropped)
	}
	s.mu.Unlock()
	if crash {
		os.Exit(crashStatus)
	}
	return res, nil
}

// queue is a bounded FIFO of messages shared by the sockets naming it.
type queue struct {
	mu    sync.Mutex
	msgs  message.Batch
	next  message.Iter // position of the oldest unread message in msgs
	count int          // unread messages
	read  int          // messages read since msgs was last emptied or compacted
	ready chan struct{}
}

// push copies the message at it into the queue; false when full.
func (q *queue) push(src *message.Batch, it *message.Iter) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.count >= queueCapacity {
		return false
	}
	if q.count == 0 {
		q.msgs.Reset()
		q.next = q.msgs.Iter()
		q.read = 0
	}
	q.msgs.AppendFrom(src, it)
	q.count++
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// compact drops the messages already read, so the queue's memory is bounded
// by its unread messages.
func (q *queue) compact() {
	var rest message.Batch
	for it := q.next; it.Next(); {
		rest.AppendFrom(&q.msgs, &it)
	}
	q.msgs = rest
	q.next = q.msgs.Iter()
	q.read = 0
}

// pop waits for messages, then moves up to lim of them into b.
func (q *queue) pop(ctx context.Context, closed <-chan struct{}, b *message.Batch, lim transport.Limits) error {
	for {
		q.mu.Lock()
		if q.count > 0 {
			bytes0 := b.Bytes()
			for n := 0; q.count > 0 && n < lim.MaxMessages; n++ {
				peek := q.next
				peek.Next()
				if n > 0 && b.Bytes()-bytes0+peek.Size() > lim.MaxBytes {
					break
				}
				q.next = peek
				b.AppendFrom(&q.msgs, &q.next)
				q.count--
				q.read++
			}
			if q.read > 1024 && q.read > q.count {
				q.compact()
			}
			if q.count > 0 {
				select {
				case q.ready <- struct{}{}:
				default:
				}
			}
			q.mu.Unlock()
			return nil
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-closed:
			return transport.ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type link struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *link) run(ctx context.Context, src *socket, sinks []*socket) {
	defer close(l.done)
	var b message.Batch
	lim := transport.Limits{MaxMessages: plugin.DefaultMaxMessages, MaxBytes: plugin.DefaultMaxBytes}
	for {
		b.Reset()
		if err := src.recv(ctx, &b, lim); err != nil {
			return
		}
		for _, s := range sinks {
			if _, err := s.send(&b); err != nil {
				return
			}
		}
	}
}
