package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/transport"
)

// Batch limits for data read through the core. A batch is flushed when it
// holds MaxMessages messages or MaxBytes bytes, or when nothing more is
// immediately available on the socket (natural batching: full batches under
// load, no added latency when idle).
const (
	defaultMaxMessages = 1024
	defaultMaxBytes    = 1 << 20
	defaultWindow      = 4
)

// Runner runs the pipelines of one configuration.
type Runner struct {
	// Transports maps a transport name to its running plugin.
	Transports map[string]transport.Client
	// Stages holds the stage kinds pipelines may use.
	Stages *stage.Registry
	// Codecs decodes and encodes payloads for stages that need it; nil
	// when there are no codecs.
	Codecs *registry.Registry
	// Telemetry, when set, gives each stage and core source its
	// Env.Telemetry, from the pipeline's and the component's name.
	Telemetry func(pipeline, component string) stage.Telemetry
	Logger    *slog.Logger
}

// env returns the environment of component name of pipeline pname.
func (r *Runner) env(in *Instance, pname, name string, out stage.Inlet) stage.Env {
	env := stage.Env{Pipeline: pname, Component: name, Logger: in.logger.With("component", name), Out: out, Codecs: r.Codecs}
	if r.Telemetry != nil {
		env.Telemetry = r.Telemetry(pname, name)
	}
	return env
}

// Instance is a running pipeline.
type Instance struct {
	plan   *Plan
	client transport.Client
	logger *slog.Logger

	// Sources (receive loops, core sources) and subscription routes stop
	// first, then stages drain in order, then everything else (send
	// streams) stops.
	cancelSources context.CancelFunc
	cancelRoutes  context.CancelFunc
	routesWG      sync.WaitGroup // subscription routes
	// drain, closed by Stop, ends the receive loops on sources gracefully:
	// what the transport has read is still delivered.
	drain      chan struct{}
	drainOnce  sync.Once
	dataWG     sync.WaitGroup // receive loops on sources, core sources
	delivering atomic.Int64   // of those, how many still run
	stages     []runningStage
	sources    []runningStage // sources that run in the core
	// sinkGates stand in front of the send streams of the core path, by
	// socket id.
	sinkGates map[string]*inletGate
	// finished is closed once every source of the pipeline has come to
	// its end: only sources that run in the core (a replayed file) can.
	finished       chan struct{}
	pendingSources sync.WaitGroup
	sourceFailed   atomic.Bool
	senders        *senderSet
	cancel         context.CancelFunc
	wg             sync.WaitGroup

	mu      sync.Mutex
	err     error
	failed  chan struct{} // closed on the first flow error
	opened  []string      // socket ids in opening order
	started []string      // link ids
}

// Start opens the sockets of p and starts moving data. It returns once
// every socket is bound/connected; data then flows until Stop.
func (r *Runner) Start(ctx context.Context, p *config.Pipeline) (*Instance, error) {
	client, ok := r.Transports[p.Transport]
	if !ok {
		return nil, fmt.Errorf("pipeline %q: transport %q is not running", p.Name, p.Transport)
	}
	desc, err := client.Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("pipeline %q: describe transport %q: %w", p.Name, p.Transport, err)
	}
	plan, err := MakePlan(p, desc)
	if err != nil {
		return nil, err
	}
	logger := r.Logger
	if logger == nil {
		logger = slog.Default()
	}
	inst := &Instance{plan: plan, client: client, logger: logger.With("pipeline", p.Name), failed: make(chan struct{}),
		drain: make(chan struct{}), finished: make(chan struct{}), sinkGates: make(map[string]*inletGate)}
	if len(plan.Stages) > 0 && r.Stages == nil {
		return nil, fmt.Errorf("pipeline %q: has stages, and no stage kinds are registered", p.Name)
	}
	if err := inst.open(ctx); err != nil {
		inst.closeSockets(context.WithoutCancel(ctx))
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	inst.cancel = cancel
	srcCtx, cancelSources := context.WithCancel(runCtx)
	routesCtx, cancelRoutes := context.WithCancel(runCtx)
	inst.cancelSources, inst.cancelRoutes = cancelSources, cancelRoutes
	if err := inst.startFlows(runCtx, srcCtx, routesCtx, r); err != nil {
		cancelSources()
		cancelRoutes()
		cancel()
		inst.dataWG.Wait()
		inst.routesWG.Wait()
		inst.wg.Wait()
		inst.closeSockets(context.WithoutCancel(ctx))
		return nil, err
	}
	return inst, nil
}

// Plan returns the plan the instance runs.
func (in *Instance) Plan() *Plan { return in.plan }

// open creates every socket: sinks first, so that a broker's XPUB exists
// (and collects subscriptions) before its XSUB accepts publishers, as
// Zeek's proxy does.
func (in *Instance) open(ctx context.Context) error {
	p := in.plan.Pipeline
	for _, class := range []string{config.ClassSink, config.ClassSource} {
		for _, n := range p.Nodes {
			if n.Class != class || n.Core {
				continue
			}
			spec := transport.SocketSpec{ID: n.ID, Kind: n.Kind, Config: n.Config}
			if err := in.client.Open(ctx, spec); err != nil {
				return fmt.Errorf("pipeline %q: open %s %s %q: %w", p.Name, n.Class, n.Kind, n.Name, err)
			}
			in.opened = append(in.opened, n.ID)
			in.logger.Info("socket open", "component", n.Class+"."+n.Kind+"."+n.Name)
		}
	}
	return nil
}

// runningStage is a stage of the instance, the gate in front of it and
// the end of its Run.
type runningStage struct {
	plan  StagePlan
	stage stage.Stage
	gate  *inletGate
	done  chan struct{}
	// closeInput calls the stage's CloseInput, once.
	closeInput func()
}

// name returns the stage's component name, "<class>.<kind>.<name>".
func (rs runningStage) name() string {
	n := rs.plan.Node
	return n.Class + "." + n.Kind + "." + n.Name
}

// startFlows starts links, then the core path: send streams to sinks,
// stages (downstream first, so each has its outputs), and receive loops
// on sources. Receive loops and core sources run under srcCtx,
// subscription routes under routesCtx, the rest under ctx.
func (in *Instance) startFlows(ctx, srcCtx, routesCtx context.Context, r *Runner) error {
	pname := in.plan.Pipeline.Name
	for _, l := range in.plan.Links {
		spec := transport.LinkSpec{ID: l.ID, Source: l.Source.ID}
		for _, s := range l.Sinks {
			spec.Sinks = append(spec.Sinks, s.ID)
		}
		if err := in.client.StartLink(ctx, spec); err != nil {
			return fmt.Errorf("pipeline %q: start link %s: %w", pname, l.ID, err)
		}
		in.started = append(in.started, l.ID)
		in.logger.Info("link running in transport", "source", l.Source.ID, "sinks", spec.Sinks)
	}
	senders := newSenderSet(in.client)
	in.senders = senders
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		<-ctx.Done()
		senders.closeAll()
	}()

	inlets := make(map[*config.Node]stage.Inlet)  // gated inlets of stages and sinks
	running := make(map[*config.Node]stage.Stage) // the stages themselves
	inletsOf := func(nodes []*config.Node) (stage.Inlet, error) {
		var outs []stage.Inlet
		for _, n := range nodes {
			if x, ok := inlets[n]; ok {
				outs = append(outs, x)
				continue
			}
			if n.Class != config.ClassSink || n.Core {
				return nil, fmt.Errorf("pipeline %q: %s %s.%s is not ready", pname, n.Class, n.Kind, n.Name)
			}
			snd, err := senders.get(ctx, n.ID)
			if err != nil {
				return nil, fmt.Errorf("pipeline %q: open send stream to %s: %w", pname, n.ID, err)
			}
			g := newGate(snd)
			in.sinkGates[n.ID] = g
			inlets[n] = g
			outs = append(outs, g)
		}
		return stage.Fanout(outs...), nil
	}
	for i := len(in.plan.Stages) - 1; i >= 0; i-- {
		sp := in.plan.Stages[i]
		n := sp.Node
		kind, ok := r.Stages.Lookup(n.Class, n.Kind)
		if !ok {
			return fmt.Errorf("pipeline %q: unknown %s kind %q", pname, n.Class, n.Kind)
		}
		var out stage.Inlet
		if !kind.Sink {
			var err error
			if out, err = inletsOf(sp.Outputs); err != nil {
				return err
			}
		}
		name := n.Class + "." + n.Kind + "." + n.Name
		env := r.env(in, pname, name, out)
		var ups []stage.Inlet
		for _, src := range upstreamSources(n) {
			if src.Subscriptions != transport.SubsAccepts {
				continue
			}
			snd, err := senders.get(ctx, src.ID)
			if err != nil {
				return fmt.Errorf("pipeline %q: open subscription stream to %s: %w", pname, src.ID, err)
			}
			ups = append(ups, snd)
		}
		if len(ups) > 0 {
			env.Upstream = stage.Fanout(ups...)
		}
		st, err := kind.New(env, n.Config)
		if err != nil {
			return fmt.Errorf("pipeline %q: %s %s.%s: %w", pname, n.Class, n.Kind, n.Name, err)
		}
		rs := runningStage{plan: sp, stage: st, gate: newGate(st), done: make(chan struct{}), closeInput: sync.OnceFunc(st.CloseInput)}
		inlets[n], running[n] = rs.gate, st
		in.stages = append(in.stages, rs)
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			defer close(rs.done)
			if err := st.Run(ctx); err != nil && ctx.Err() == nil {
				in.fail("stage "+name, err)
			}
		}()
	}
	// Upstream first, the order Stop drains them in.
	slices.Reverse(in.stages)

	for _, path := range in.plan.Paths {
		out, err := inletsOf(path.Outputs)
		if err != nil {
			return err
		}
		if path.Source.Core {
			if err := in.startCoreSource(srcCtx, r, path.Source, out); err != nil {
				return err
			}
			continue
		}
		opts := receiveOptions()
		opts.Drain = in.drain
		in.goRun(srcCtx, &in.dataWG, "data "+path.Source.ID, func(ctx context.Context) error {
			in.delivering.Add(1)
			defer in.delivering.Add(-1)
			return in.client.Receive(ctx, path.Source.ID, opts, func(b *message.Batch) error {
				return out.Push(ctx, b)
			})
		})
	}
	if len(in.sources) == len(in.plan.Links)+len(in.plan.Paths) {
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			// Sources end at the latest when Stop drains them.
			in.pendingSources.Wait()
			if !in.sourceFailed.Load() && ctx.Err() == nil {
				in.logger.Info("every source came to its end")
				close(in.finished)
			}
		}()
	}
	for _, route := range in.plan.SubscriptionRoutes {
		var outs []stage.Inlet
		for _, o := range route.Observers {
			if obs, ok := running[o].(stage.SubscriptionObserver); ok {
				outs = append(outs, stage.InletFunc(obs.ObserveSubscriptions))
			}
		}
		if in.plan.Pipeline.ForwardSubscriptions {
			for _, s := range route.Sources {
				snd, err := senders.get(ctx, s.ID)
				if err != nil {
					return fmt.Errorf("pipeline %q: open subscription stream to %s: %w", pname, s.ID, err)
				}
				outs = append(outs, snd)
			}
		}
		if len(outs) == 0 {
			continue
		}
		out := stage.Fanout(outs...)
		in.goRun(routesCtx, &in.routesWG, "subscriptions "+route.Sink.ID, func(ctx context.Context) error {
			return in.client.Receive(ctx, route.Sink.ID, receiveOptions(), func(b *message.Batch) error {
				return out.Push(ctx, b)
			})
		})
	}
	return nil
}

// startCoreSource starts a source that runs in the core: its Run pushes
// to out until it has no more, Stop drains the pipeline (CloseInput) or
// srcCtx ends.
func (in *Instance) startCoreSource(srcCtx context.Context, r *Runner, n *config.Node, out stage.Inlet) error {
	pname := in.plan.Pipeline.Name
	kind, ok := r.Stages.Lookup(n.Class, n.Kind)
	if !ok {
		return fmt.Errorf("pipeline %q: unknown source kind %q", pname, n.Kind)
	}
	name := n.Class + "." + n.Kind + "." + n.Name
	env := r.env(in, pname, name, out)
	src, err := kind.New(env, n.Config)
	if err != nil {
		return fmt.Errorf("pipeline %q: source %s.%s: %w", pname, n.Kind, n.Name, err)
	}
	in.sources = append(in.sources, runningStage{plan: StagePlan{Node: n}, stage: src})
	in.pendingSources.Add(1)
	in.goRun(srcCtx, &in.dataWG, "source "+name, func(ctx context.Context) error {
		in.delivering.Add(1)
		defer in.delivering.Add(-1)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			select {
			case <-in.drain:
				src.CloseInput()
			case <-stop:
			}
		}()
		defer in.pendingSources.Done()
		err := src.Run(ctx)
		if err != nil {
			in.sourceFailed.Store(true)
		}
		return err
	})
	return nil
}

// Finished is closed once every source of the pipeline has come to its
// end, which only sources running in the core (a replayed file) do; a
// pipeline with a socket source never finishes by itself.
func (in *Instance) Finished() <-chan struct{} { return in.finished }

func receiveOptions() transport.ReceiveOptions {
	return transport.ReceiveOptions{
		Limits: transport.Limits{MaxMessages: defaultMaxMessages, MaxBytes: defaultMaxBytes},
		Window: defaultWindow,
	}
}

// goRun runs fn in a goroutine counted by wg until ctx ends, recording
// the first unexpected error.
func (in *Instance) goRun(ctx context.Context, wg *sync.WaitGroup, what string, fn func(context.Context) error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := fn(ctx)
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			in.fail(what, err)
		}
	}()
}

// fail records the first error that stopped a flow.
func (in *Instance) fail(what string, err error) {
	in.logger.Error("flow stopped", "flow", what, "err", err)
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.err == nil {
		in.err = fmt.Errorf("%s: %w", what, err)
		close(in.failed)
	}
}

// Failed is closed when a flow of the pipeline stops with an error.
func (in *Instance) Failed() <-chan struct{} { return in.failed }

// Err returns the first error that stopped a flow, if any.
func (in *Instance) Err() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// Stop stops the pipeline within ctx's deadline, writing what it had
// received. Links stop; the receive loops on sources drain (the transport
// stops reading and delivers what it had read, or with transport.Quiescer
// everything its peers had sent); then each stage, upstream first, passes
// on what it holds and closes (a file sink closes its files); then the
// send streams end and the sockets close, sources first. Progress is
// logged once a second while it drains.
//
// If the window is about to end with data still held (giveUpReserve
// before ctx's deadline), Stop gives it up: queue stages count what they
// hold, what still arrives is counted at the component it was for (all as
// error.type "shutdown"), and every stage, sinks included, still has its
// input closed, so files are closed properly. Stop then logs how many
// messages were given up and returns an error saying so.
func (in *Instance) Stop(ctx context.Context) error {
	var errs []error
	for i := len(in.started) - 1; i >= 0; i-- {
		if err := in.client.StopLink(ctx, in.started[i]); err != nil {
			errs = append(errs, fmt.Errorf("stop link %s: %w", in.started[i], err))
		}
	}
	pname := in.plan.Pipeline.Name
	giveUpCtx, cancelGiveUp := withGiveUp(ctx)
	defer cancelGiveUp()
	stopProgress := in.logProgress(ctx)
	defer stopProgress()

	// Receive loops on sources drain; subscription routes just stop.
	in.drainOnce.Do(func() { close(in.drain) })
	clean := waitGroup(giveUpCtx, &in.dataWG) == nil
	in.cancelRoutes()
	if err := waitGroup(ctx, &in.routesWG); err != nil {
		errs = append(errs, fmt.Errorf("pipeline %q: subscription routes did not stop: %w", pname, err))
	}
	next := 0 // the stages before next have drained
	for clean && next < len(in.stages) {
		if clean = drainStage(giveUpCtx, in.stages[next]); clean {
			next++
		}
	}
	if !clean {
		errs = append(errs, in.giveUp(ctx, in.stages[next:])...)
	}
	// Nothing pushes to the send streams any more but the receive loops
	// of a pipeline without stages, which may still be delivering.
	for id, g := range in.sinkGates {
		if err := g.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("pipeline %q: send stream to %s did not finish its batch: %w", pname, id, err))
		}
	}
	if err := waitGroup(ctx, &in.dataWG); err != nil {
		errs = append(errs, fmt.Errorf("pipeline %q: sources did not drain: %w", pname, err))
	}
	in.cancelSources()
	stopProgress()

	// Send streams end once the plugin has acknowledged what they carry;
	// cancelling aborts them.
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		if in.senders != nil {
			in.senders.closeAll()
		}
	}()
	select {
	case <-closed:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("pipeline %q: send streams did not finish: %w", pname, ctx.Err()))
	}
	in.cancel()
	<-closed
	if err := waitGroup(ctx, &in.wg); err != nil {
		errs = append(errs, fmt.Errorf("pipeline %q: flows did not stop: %w", pname, err))
	}
	errs = append(errs, in.closeSockets(ctx)...)
	if n := in.reportGivenUp(); n > 0 {
		errs = append(errs, fmt.Errorf("pipeline %q: the shutdown window ended with data still held: %d messages given up, counted as error_type=%q", pname, n, stage.DropShutdown))
	}
	return errors.Join(errs...)
}

// giveUpReserve returns how long before the end of a shutdown window of
// length window a stop gives up what it still holds: the time its stages
// need to finish the batch in hand, close their files and stop.
func giveUpReserve(window time.Duration) time.Duration {
	return min(window/4, 2*time.Second)
}

// withGiveUp returns a context that ends giveUpReserve before ctx's
// deadline; without a deadline, with ctx.
func withGiveUp(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline.Add(-giveUpReserve(time.Until(deadline))))
}

// drainStage closes the input of a stage whose upstream has stopped and
// waits until it has passed on what it holds. It reports false if ctx
// ended first.
func drainStage(ctx context.Context, rs runningStage) bool {
	if rs.gate.close(ctx) != nil {
		return false
	}
	rs.closeInput()
	select {
	case <-rs.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// giveUp stops stages that have not drained in time: those that hold
// messages are abandoned (they count what they hold), then, upstream
// first, each one's gate is closed (later pushes are counted) and its
// input too, so that it stops, and a sink closes its files.
func (in *Instance) giveUp(ctx context.Context, stages []runningStage) []error {
	attrs := []any{}
	if d, ok := ctx.Deadline(); ok {
		attrs = append(attrs, "window_left", time.Until(d).Round(time.Millisecond))
	}
	for _, rs := range stages {
		if st := rs.stage.Stats(); st.HasDepth && st.Depth > 0 {
			attrs = append(attrs, rs.name(), fmt.Sprintf("%d messages, %d bytes", st.Depth, st.Bytes))
		}
	}
	if n := in.delivering.Load(); n > 0 {
		attrs = append(attrs, "sources_delivering", n)
	}
	in.logger.Warn("shutdown window ending; giving up what is still held", attrs...)
	for _, rs := range stages {
		if a, ok := rs.stage.(stage.Abandoner); ok {
			a.Abandon()
		}
	}
	var errs []error
	for _, rs := range stages {
		if err := rs.gate.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("pipeline %q: %s did not finish its batch: %w", in.plan.Pipeline.Name, rs.name(), err))
		}
		rs.closeInput()
		select {
		case <-rs.done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("pipeline %q: %s did not stop: %w", in.plan.Pipeline.Name, rs.name(), ctx.Err()))
		}
	}
	return errs
}

// logProgress logs, once a second until the returned function is called,
// what the stopping pipeline still holds: the messages and bytes of each
// queue that holds some, and how many sources are still delivering.
func (in *Instance) logProgress(ctx context.Context) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var left []any
			if d, ok := ctx.Deadline(); ok {
				left = []any{"window_left", time.Until(d).Round(100 * time.Millisecond)}
			}
			if n := in.delivering.Load(); n > 0 {
				in.logger.Info("draining", append([]any{"sources_delivering", n}, left...)...)
			}
			for _, rs := range in.stages {
				if st := rs.stage.Stats(); st.HasDepth && st.Depth > 0 {
					in.logger.Info("draining", append([]any{"component", rs.name(), "messages", st.Depth, "bytes", st.Bytes}, left...)...)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}

// reportGivenUp logs the shutdown drops of every component of the
// pipeline, if any, and returns their sum.
func (in *Instance) reportGivenUp() uint64 {
	var total uint64
	var attrs []any
	for _, s := range in.Stages() {
		if n := s.Stats.Dropped[stage.DropShutdown]; n > 0 {
			total += n
			attrs = append(attrs, s.Name, n)
		}
	}
	comps := in.Components()
	for id, n := range in.CoreDrops() {
		if n := n[stage.DropShutdown]; n > 0 {
			total += n
			attrs = append(attrs, comps[id].Name, n)
		}
	}
	if total > 0 {
		in.logger.Warn("shutdown window ended; gave up data", append([]any{"messages", total}, attrs...)...)
	}
	return total
}

// waitGroup waits for wg, or returns ctx's error first.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (in *Instance) closeSockets(ctx context.Context) []error {
	var errs []error
	// Opened sinks first, then sources; close in reverse: sources, then sinks.
	for i := len(in.opened) - 1; i >= 0; i-- {
		if err := in.client.Close(ctx, in.opened[i]); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", in.opened[i], err))
		}
	}
	in.opened = nil
	return errs
}

// sharedSender serializes sends from several flows into one stream.
type sharedSender struct {
	mu  sync.Mutex
	snd transport.Sender
}

// sendLoss counts the messages the plugin host reported lost on their way
// to one socket's plugin (the plugin cannot count them: it never had them,
// or is gone).
type sendLoss struct {
	restart, streamError atomic.Uint64
}

// count is the send stream's OnAck: it keeps the host's own drops; the
// plugin counts the others (hwm, no_peer) in the socket's stats.
func (l *sendLoss) count(r transport.SendResult) {
	switch r.DropReason {
	case transport.DropPluginRestart:
		l.restart.Add(uint64(r.Dropped))
	case transport.DropStreamError:
		l.streamError.Add(uint64(r.Dropped))
	}
}

// Push sends b; it makes a sharedSender a stage.Inlet.
func (s *sharedSender) Push(ctx context.Context, b *message.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snd.Send(ctx, b)
}

type senderSet struct {
	client transport.Client
	mu     sync.Mutex
	m      map[string]*sharedSender
	// loss outlives the senders, so that the counts stay monotonic.
	loss map[string]*sendLoss
}

func newSenderSet(c transport.Client) *senderSet {
	return &senderSet{client: c, m: make(map[string]*sharedSender), loss: make(map[string]*sendLoss)}
}

func (ss *senderSet) get(ctx context.Context, id string) (*sharedSender, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s, ok := ss.m[id]; ok {
		return s, nil
	}
	l := ss.loss[id]
	if l == nil {
		l = &sendLoss{}
		ss.loss[id] = l
	}
	snd, err := ss.client.Sender(ctx, id, transport.SendOptions{Window: defaultWindow, OnAck: l.count})
	if err != nil {
		return nil, err
	}
	s := &sharedSender{snd: snd}
	ss.m[id] = s
	return s, nil
}

// lost returns, by socket id, the messages the plugin host reported lost
// on their way to the socket, by reason.
func (ss *senderSet) lost() map[string]map[string]uint64 {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make(map[string]map[string]uint64, len(ss.loss))
	for id, l := range ss.loss {
		out[id] = map[string]uint64{
			transport.DropPluginRestart: l.restart.Load(),
			transport.DropStreamError:   l.streamError.Load(),
		}
	}
	return out
}

func (ss *senderSet) closeAll() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, s := range ss.m {
		s.mu.Lock()
		_ = s.snd.Close()
		s.mu.Unlock()
		delete(ss.m, id)
	}
}
