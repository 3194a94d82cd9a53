package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/builtin"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/zmqtest"
)

func stageNode(kind, name string, cfg []byte, inputs ...*config.Node) *config.Node {
	n := node(config.ClassStage, kind, name, "", inputs...)
	n.Core, n.Config = true, cfg
	return n
}

func stageRunner(t *testing.T, h transport.Client, extra ...stage.Kind) *Runner {
	t.Helper()
	reg, err := stage.NewRegistry(append(builtin.Kinds(), extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &Runner{Transports: map[string]transport.Client{"cgo": h}, Stages: reg, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
}

// TestStagesInCore: pull → filter → hwm (block) → push, on the real
// transport: the filter keeps one topic, the buffer passes everything on
// in order, and the counters agree.
func TestStagesInCore(t *testing.T) {
	h := startCgo(t)
	zctx := newContext(t)
	in, inEP := peer(t, zctx, zmq.PUSH)
	out, outEP := peer(t, zctx, zmq.PULL)
	pull := node(config.ClassSource, "pull", "in", "")
	pull.Config = cfgJSON(t, map[string]any{"connect": []string{inEP}})
	filter := stageNode("filter", "keep", cfgJSON(t, map[string]any{
		"topics": []string{"keep."}, "exclude_topics": []string{"keep.not"}, "formats": []string{}, "events": []string{}, "log_paths": []string{},
	}), pull)
	buffer := stageNode("hwm", "buf", cfgJSON(t, map[string]any{"capacity": 10, "policy": "block"}), filter)
	push := node(config.ClassSink, "push", "out", "", buffer)
	push.Config = cfgJSON(t, map[string]any{"connect": []string{outEP}})
	p := &config.Pipeline{Name: "p", Transport: "cgo", Passthrough: true, Nodes: []*config.Node{pull, filter, buffer, push}}
	inst, err := stageRunner(t, h).Start(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := inst.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	if len(inst.Plan().Links) != 0 || len(inst.Plan().Stages) != 2 {
		t.Fatalf("plan: %+v", inst.Plan())
	}
	const n = 3000
	for i := range n {
		topic := []string{"keep.a", "drop.b", "keep.not"}[i%3]
		if _, err := in.SendMessage(topic, "node", "raw", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 3 {
		got := zmqtest.Recv(t, waitFor, out, in)
		if string(got[0]) != "keep.a" || string(got[3]) != fmt.Sprint(i) {
			t.Fatalf("want keep.a %d, got %q", i, got)
		}
	}
	infos := inst.Stages()
	if len(infos) != 2 || infos[0].Name != "stage.filter.keep" || infos[1].Name != "stage.hwm.buf" {
		t.Fatalf("stages: %+v", infos)
	}
	f, b := infos[0].Stats, infos[1].Stats
	if f.Received != n || f.Sent != n/3 || f.Dropped[stage.DropFiltered] != 2*n/3 {
		t.Errorf("filter stats %+v", f)
	}
	if b.Received != n/3 || b.Sent != n/3 || b.Dropped[stage.DropHWM] != 0 || !b.HasDepth || b.Capacity != 10 {
		t.Errorf("hwm stats %+v", b)
	}
}

// gate holds every message it gets until its input is closed, then
// passes them all on: Stop must close it and wait for it to finish
// before it ends the send streams.
var gateKind = stage.Kind{
	Name:   "gate",
	Schema: schema.Schema{},
	New: func(env stage.Env, _ []byte) (stage.Stage, error) {
		return &gate{env: env, closed: make(chan struct{}), counters: stage.NewCounters()}, nil
	},
}

type gate struct {
	env      stage.Env
	held     message.Batch
	closed   chan struct{}
	counters *stage.Counters
}

func (g *gate) Push(_ context.Context, b *message.Batch) error {
	g.counters.Received(b.Len())
	for it := b.Iter(); it.Next(); {
		g.held.AppendFrom(b, &it)
	}
	return nil
}

func (g *gate) Run(ctx context.Context) error {
	select {
	case <-g.closed:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := g.env.Out.Push(ctx, &g.held); err != nil {
		return err
	}
	g.counters.Sent(g.held.Len())
	return nil
}

func (g *gate) CloseInput()        { close(g.closed) }
func (g *gate) Stats() stage.Stats { return g.counters.Stats() }

// TestStopDrainsStages: what a stage holds when the pipeline stops still
// reaches the sink.
func TestStopDrainsStages(t *testing.T) {
	h := startCgo(t)
	zctx := newContext(t)
	in, inEP := peer(t, zctx, zmq.PUSH)
	out, outEP := peer(t, zctx, zmq.PULL)
	pull := node(config.ClassSource, "pull", "in", "")
	pull.Config = cfgJSON(t, map[string]any{"connect": []string{inEP}, "framing": "raw"})
	g := stageNode("gate", "g", []byte(`{}`), pull)
	push := node(config.ClassSink, "push", "out", "", g)
	push.Config = cfgJSON(t, map[string]any{"connect": []string{outEP}, "linger_ms": 5000})
	p := &config.Pipeline{Name: "p", Transport: "cgo", Passthrough: true, Nodes: []*config.Node{pull, g, push}}
	inst, err := stageRunner(t, h, gateKind).Start(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := range n {
		if _, err := in.SendMessage("m", i); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(waitFor)
	for inst.Stages()[0].Stats.Received < n {
		_, _ = in.GetEvents() // keep the libzmq peer's I/O going
		if time.Now().After(deadline) {
			t.Fatalf("the gate got %d of %d messages", inst.Stages()[0].Stats.Received, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := out.RecvMessageBytes(zmq.DONTWAIT); err == nil {
		t.Fatal("the gate let a message through before the stop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := inst.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		got := zmqtest.Recv(t, waitFor, out)
		if string(got[1]) != fmt.Sprint(i) {
			t.Fatalf("message %d arrived as %q", i, got)
		}
	}
}

func TestPlanStages(t *testing.T) {
	src := node(config.ClassSource, "pull", "in", "")
	a := stageNode("filter", "a", nil, src)
	b := stageNode("hwm", "b", nil, a)
	sink := node(config.ClassSink, "push", "out", "", b)
	// Declared downstream first: the plan still orders a before b.
	plan, err := MakePlan(&config.Pipeline{Name: "p", Passthrough: true, Nodes: []*config.Node{src, b, a, sink}}, linkingTransport)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Links) != 0 || len(plan.Paths) != 1 || plan.Paths[0].Outputs[0] != a {
		t.Fatalf("a source feeding a stage runs through the core: %+v", plan)
	}
	if len(plan.Stages) != 2 || plan.Stages[0].Node != a || plan.Stages[1].Node != b || plan.Stages[1].Outputs[0] != sink {
		t.Fatalf("stage order: %+v", plan.Stages)
	}

	// A cycle between stages.
	x := stageNode("filter", "x", nil, src)
	y := stageNode("filter", "y", nil, x)
	x.Inputs = append(x.Inputs, y)
	_, err = MakePlan(&config.Pipeline{Name: "p", Nodes: []*config.Node{src, x, y, node(config.ClassSink, "push", "o", "", y)}}, linkingTransport)
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("cycle: %v", err)
	}
	// A stage whose output goes nowhere.
	lone := stageNode("filter", "lone", nil, src)
	_, err = MakePlan(&config.Pipeline{Name: "p", Nodes: []*config.Node{src, lone}}, linkingTransport)
	if err == nil || !strings.Contains(err.Error(), "stage filter.lone feeds nothing") {
		t.Fatalf("dangling stage: %v", err)
	}
}

// TestCoreSinkFanOut: a stage feeds a transport sink and a discard sink
// (a sink running in the core) alike.
func TestCoreSinkFanOut(t *testing.T) {
	h := startCgo(t)
	zctx := newContext(t)
	in, inEP := peer(t, zctx, zmq.PUSH)
	out, outEP := peer(t, zctx, zmq.PULL)
	pull := node(config.ClassSource, "pull", "in", "")
	pull.Config = cfgJSON(t, map[string]any{"connect": []string{inEP}, "framing": "raw"})
	q := stageNode("hwm", "q", cfgJSON(t, map[string]any{"capacity": 100, "policy": "block"}), pull)
	push := node(config.ClassSink, "push", "out", "", q)
	push.Config = cfgJSON(t, map[string]any{"connect": []string{outEP}})
	discard := node(config.ClassSink, "discard", "count", "", q)
	discard.Core, discard.Config = true, []byte(`{}`)
	p := &config.Pipeline{Name: "p", Transport: "cgo", Passthrough: true, Nodes: []*config.Node{pull, q, push, discard}}
	inst, err := stageRunner(t, h).Start(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := inst.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	const n = 1000
	for i := range n {
		if _, err := in.SendMessage("m", i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if got := zmqtest.Recv(t, waitFor, out, in); string(got[1]) != fmt.Sprint(i) {
			t.Fatalf("message %d arrived as %q", i, got)
		}
	}
	infos := inst.Stages()
	if len(infos) != 2 || infos[1].Name != "sink.discard.count" || infos[1].Stats.Received != n {
		t.Fatalf("stages %+v", infos)
	}
}

// TestOverload: a burst far larger than the queue into a sink that does
// not read. onloop drops, and what arrives plus what it counted as
// dropped is exactly what was sent, its depth never above its HWM; hwm
// with policy block loses nothing and holds the source back instead.
func TestOverload(t *testing.T) {
	for _, c := range []struct {
		name, kind string
		config     map[string]any
		lossless   bool
	}{
		{"onloop", "onloop", map[string]any{"hwm": 50}, false},
		{"block", "hwm", map[string]any{"capacity": 50, "policy": "block"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := startCgo(t)
			zctx := newContext(t)
			in, inEP := peer(t, zctx, zmq.PUSH)
			if err := in.SetSndhwm(0); err != nil {
				t.Fatal(err)
			}
			// A sink peer with small buffers that does not read yet.
			out, err := zctx.NewSocket(zmq.PULL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { out.Close() })
			for _, err := range []error{out.SetLinger(0), out.SetRcvhwm(10), out.SetRcvbuf(4096), out.Bind("tcp://127.0.0.1:*")} {
				if err != nil {
					t.Fatal(err)
				}
			}
			outEP, _ := out.GetLastEndpoint()
			pull := node(config.ClassSource, "pull", "in", "")
			pull.Config = cfgJSON(t, map[string]any{"connect": []string{inEP}, "rcvhwm": 10, "framing": "raw"})
			q := stageNode(c.kind, "q", cfgJSON(t, c.config), pull)
			push := node(config.ClassSink, "push", "out", "", q)
			push.Config = cfgJSON(t, map[string]any{"connect": []string{outEP}, "sndhwm": 10, "sndbuf": 4096})
			p := &config.Pipeline{Name: "p", Transport: "cgo", Passthrough: true, Nodes: []*config.Node{pull, q, push}}
			inst, err := stageRunner(t, h).Start(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				defer cancel()
				if err := inst.Stop(ctx); err != nil {
					t.Errorf("stop: %v", err)
				}
			})
			const n = 20000
			payload := make([]byte, 100)
			for i := range n {
				if _, err := in.SendMessage(payload, fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
			}
			stats := func() stage.Stats { return inst.Stages()[0].Stats }
			// Let the burst settle against the stuck sink, watching the depth.
			deadline := time.Now().Add(waitFor)
			maxDepth, last, since := int64(0), uint64(0), time.Now()
			for time.Since(since) < 300*time.Millisecond {
				_, _ = in.GetEvents()
				st := stats()
				maxDepth = max(maxDepth, st.Depth)
				if seen := st.Received; seen != last {
					last, since = seen, time.Now()
				}
				if time.Now().After(deadline) {
					t.Fatal("the pipeline never settled")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if maxDepth > 50 {
				t.Fatalf("queue held %d messages, limit 50", maxDepth)
			}
			if c.lossless && stats().Received >= n {
				t.Fatalf("the blocked queue took all %d messages: no backpressure", n)
			}
			// Now the sink reads: count what arrives until the counters
			// account for every message sent.
			got, prev := 0, -1
			for {
				if _, err := out.RecvMessageBytes(zmq.DONTWAIT); err == nil {
					got++
					continue
				}
				_, _ = in.GetEvents()
				st := stats()
				dropped := int(st.Dropped[stage.DropQueueFull] + st.Dropped[stage.DropHWM])
				if got+dropped == n {
					if c.lossless && dropped != 0 {
						t.Fatalf("block policy dropped %d", dropped)
					}
					if !c.lossless && dropped == 0 {
						t.Fatal("onloop dropped nothing although the sink was stuck")
					}
					t.Logf("%s: %d delivered, %d dropped (queue peak %d)", c.name, got, dropped, maxDepth)
					return
				}
				if got+dropped > n {
					t.Fatalf("delivered %d + dropped %d > sent %d", got, dropped, n)
				}
				if got != prev {
					prev, deadline = got, time.Now().Add(waitFor)
				}
				if time.Now().After(deadline) {
					t.Fatalf("delivered %d + dropped %d of %d sent, and nothing more arrives", got, dropped, n)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}
