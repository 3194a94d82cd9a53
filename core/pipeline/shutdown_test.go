package pipeline

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/internal/syncbuf"
)

// slowSink is a core sink that takes 100 ms per batch, as a slow disk
// would, and notes when its Run has finished after its input was closed
// (where a file sink closes its files).
var slowSinkKind = stage.Kind{
	Name: "slow", Sink: true, Schema: schema.Schema{},
	New: func(stage.Env, []byte) (stage.Stage, error) {
		return &slowSink{counters: stage.NewCounters()}, nil
	},
}

type slowSink struct {
	stage.Sync
	counters *stage.Counters
	closed   atomic.Bool // Run ended after CloseInput
}

func (s *slowSink) Push(ctx context.Context, b *message.Batch) error {
	s.counters.Received(b.Len())
	select {
	case <-time.After(100 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	s.counters.Sent(b.Len())
	return nil
}

func (s *slowSink) Run(ctx context.Context) error {
	err := s.Sync.Run(ctx)
	s.closed.Store(err == nil)
	return err
}

func (s *slowSink) Stats() stage.Stats { return s.counters.Stats() }

// startBacklog starts pull → hwm (block, max_bytes 20 MB) → slow sink,
// logging into log, and fills the hwm stage with 300 KB messages from a
// libzmq peer: several seconds of the sink's work.
func startBacklog(t *testing.T, log io.Writer) *Instance {
	t.Helper()
	h := startCgo(t)
	zctx := newContext(t)
	in, inEP := peer(t, zctx, zmq.PUSH)
	pull := node(config.ClassSource, "pull", "in", "")
	pull.Config = cfgJSON(t, map[string]any{"connect": []string{inEP}, "framing": "raw", "rcvhwm": 10})
	q := stageNode("hwm", "q", cfgJSON(t, map[string]any{"capacity": 10000, "max_bytes": 20 << 20, "policy": "block"}), pull)
	sink := node(config.ClassSink, "slow", "out", "", q)
	sink.Core, sink.Config = true, []byte(`{}`)
	p := &config.Pipeline{Name: "p", Transport: "cgo", Passthrough: true, Nodes: []*config.Node{pull, q, sink}}
	r := stageRunner(t, h, slowSinkKind)
	r.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), log), nil))
	inst, err := r.Start(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 300<<10)
	for range 120 {
		if _, err := in.SendMessage(payload); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(waitFor)
	for inst.Stages()[0].Stats.Bytes < 15<<20 {
		_, _ = in.GetEvents() // keep the libzmq peer's I/O going
		if time.Now().After(deadline) {
			t.Fatalf("the hwm stage never filled: %+v", inst.Stages()[0].Stats)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return inst
}

// TestStopDrainsWithProgress: a stop whose backlog takes seconds to write
// logs what each stage still holds once a second, delivers everything the
// core received and returns nil.
func TestStopDrainsWithProgress(t *testing.T) {
	var log syncbuf.Buffer
	inst := startBacklog(t, &log)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	defer cancel()
	if err := inst.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	q, s := inst.Stages()[0].Stats, inst.Stages()[1]
	if s.Stats.Received != q.Received || q.Sent != q.Received || q.Dropped[stage.DropShutdown] != 0 || !s.Stage.(*slowSink).closed.Load() {
		t.Fatalf("hwm %+v, sink %+v, closed %v", q, s.Stats, s.Stage.(*slowSink).closed.Load())
	}
	if out := log.String(); !strings.Contains(out, "msg=draining pipeline=p component=stage.hwm.q messages=") {
		t.Fatalf("no progress line while draining:\n%s", out)
	}
}

// TestStopGivesUpCounted: a stop whose window is too short for the
// backlog gives it up shortly before the deadline: every message the core
// received is either written by the sink or counted as a shutdown drop,
// the sink's input is still closed (its Run ends, as a file sink's that
// closes its files), and Stop's error and log say how much was given up.
func TestStopGivesUpCounted(t *testing.T) {
	var log syncbuf.Buffer
	inst := startBacklog(t, &log)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := inst.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "messages given up, counted as error_type=\"shutdown\"") {
		t.Fatalf("stop: %v", err)
	}
	qs, ss := inst.stages[0], inst.stages[1]
	own := qs.stage.Stats() // the stage's own counters, without its gate's
	atGate := qs.gate.dropped.Load()
	sink := ss.stage.(*slowSink)
	if !sink.closed.Load() {
		t.Fatal("the sink's Run did not end after its input was closed")
	}
	shutdown := own.Dropped[stage.DropShutdown]
	if shutdown == 0 || own.Received != own.Sent+shutdown || sink.Stats().Received != own.Sent || sink.Stats().Sent != own.Sent {
		t.Fatalf("hwm %+v, sink %+v: every message received must be passed on or counted", own, sink.Stats())
	}
	if got := inst.Stages()[0].Stats.Dropped[stage.DropShutdown]; got != shutdown+atGate {
		t.Fatalf("reported shutdown drops %d, want the stage's %d and the gate's %d", got, shutdown, atGate)
	}
	if !strings.Contains(err.Error(), ": "+strconv.FormatUint(shutdown+atGate, 10)+" messages given up") {
		t.Fatalf("stop error %q does not count %d messages", err, shutdown+atGate)
	}
	out := log.String()
	for _, want := range []string{`msg="shutdown window ending; giving up what is still held"`, `msg="shutdown window ended; gave up data" pipeline=p messages=`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// TestGateCountsAfterClose: a closed gate counts what is pushed to it
// instead of passing it on, and closing waits for the push under way.
func TestGateCountsAfterClose(t *testing.T) {
	release := make(chan struct{})
	var passed atomic.Int64
	g := newGate(stage.InletFunc(func(ctx context.Context, b *message.Batch) error {
		<-release
		passed.Add(int64(b.Len()))
		return nil
	}))
	var b message.Batch
	b.Append([]byte("a"))
	b.Append([]byte("b"))
	pushed := make(chan error, 1)
	go func() { pushed <- g.Push(context.Background(), &b) }()
	for {
		g.mu.Lock()
		active := g.active
		g.mu.Unlock()
		if active == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- g.close(context.Background()) }()
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.close(short); err == nil {
		t.Fatal("close returned while a push was under way")
	}
	if err := g.Push(context.Background(), &b); err != nil || g.dropped.Load() != 2 {
		t.Fatalf("push into a closed gate: %v, %d counted", err, g.dropped.Load())
	}
	close(release)
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil || passed.Load() != 2 {
		t.Fatalf("close: %v, %d passed on", err, passed.Load())
	}
}
