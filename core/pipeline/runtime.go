package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/message"
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
	Logger     *slog.Logger
}

// Instance is a running pipeline.
type Instance struct {
	plan   *Plan
	client transport.Client
	logger *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup

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
	inst := &Instance{plan: plan, client: client, logger: logger.With("pipeline", p.Name), failed: make(chan struct{})}
	if err := inst.open(ctx); err != nil {
		inst.closeSockets(context.WithoutCancel(ctx))
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	inst.cancel = cancel
	if err := inst.startFlows(runCtx); err != nil {
		cancel()
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
			if n.Class != class {
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

func (in *Instance) startFlows(ctx context.Context) error {
	for _, l := range in.plan.Links {
		spec := transport.LinkSpec{ID: l.ID, Source: l.Source.ID}
		for _, s := range l.Sinks {
			spec.Sinks = append(spec.Sinks, s.ID)
		}
		if err := in.client.StartLink(ctx, spec); err != nil {
			return fmt.Errorf("pipeline %q: start link %s: %w", in.plan.Pipeline.Name, l.ID, err)
		}
		in.started = append(in.started, l.ID)
		in.logger.Info("link running in transport", "source", l.Source.ID, "sinks", spec.Sinks)
	}
	senders := newSenderSet(in.client)
	for _, path := range in.plan.Paths {
		var outs []*sharedSender
		for _, s := range path.Sinks {
			snd, err := senders.get(ctx, s.ID)
			if err != nil {
				return fmt.Errorf("pipeline %q: open send stream to %s: %w", in.plan.Pipeline.Name, s.ID, err)
			}
			outs = append(outs, snd)
		}
		in.goRun(ctx, "data "+path.Source.ID, func(ctx context.Context) error {
			return in.client.Receive(ctx, path.Source.ID, receiveOptions(), func(b *message.Batch) error {
				for _, o := range outs {
					if err := o.Send(ctx, b); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
	for _, route := range in.plan.SubscriptionRoutes {
		var outs []*sharedSender
		for _, s := range route.Sources {
			snd, err := senders.get(ctx, s.ID)
			if err != nil {
				return fmt.Errorf("pipeline %q: open subscription stream to %s: %w", in.plan.Pipeline.Name, s.ID, err)
			}
			outs = append(outs, snd)
		}
		in.goRun(ctx, "subscriptions "+route.Sink.ID, func(ctx context.Context) error {
			return in.client.Receive(ctx, route.Sink.ID, receiveOptions(), func(b *message.Batch) error {
				for _, o := range outs {
					if err := o.Send(ctx, b); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		<-ctx.Done()
		senders.closeAll()
	}()
	return nil
}

func receiveOptions() transport.ReceiveOptions {
	return transport.ReceiveOptions{
		Limits: transport.Limits{MaxMessages: defaultMaxMessages, MaxBytes: defaultMaxBytes},
		Window: defaultWindow,
	}
}

// goRun runs fn until ctx ends, recording the first unexpected error.
func (in *Instance) goRun(ctx context.Context, what string, fn func(context.Context) error) {
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		err := fn(ctx)
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			in.logger.Error("flow stopped", "flow", what, "err", err)
			in.mu.Lock()
			if in.err == nil {
				in.err = fmt.Errorf("%s: %w", what, err)
				close(in.failed)
			}
			in.mu.Unlock()
		}
	}()
}

// Failed is closed when a flow of the pipeline stops with an error.
func (in *Instance) Failed() <-chan struct{} { return in.failed }

// Err returns the first error that stopped a flow, if any.
func (in *Instance) Err() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// Stop stops links and flows, then closes sockets (sources first, so no new
// data enters while sinks drain within their linger time). ctx bounds the
// whole shutdown.
func (in *Instance) Stop(ctx context.Context) error {
	var errs []error
	for i := len(in.started) - 1; i >= 0; i-- {
		if err := in.client.StopLink(ctx, in.started[i]); err != nil {
			errs = append(errs, fmt.Errorf("stop link %s: %w", in.started[i], err))
		}
	}
	in.cancel()
	done := make(chan struct{})
	go func() { in.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("pipeline %q: flows did not stop: %w", in.plan.Pipeline.Name, ctx.Err()))
	}
	errs = append(errs, in.closeSockets(ctx)...)
	return errors.Join(errs...)
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

func (s *sharedSender) Send(ctx context.Context, b *message.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snd.Send(ctx, b)
}

type senderSet struct {
	client transport.Client
	mu     sync.Mutex
	m      map[string]*sharedSender
}

func newSenderSet(c transport.Client) *senderSet {
	return &senderSet{client: c, m: make(map[string]*sharedSender)}
}

func (ss *senderSet) get(ctx context.Context, id string) (*sharedSender, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s, ok := ss.m[id]; ok {
		return s, nil
	}
	snd, err := ss.client.Sender(ctx, id, transport.SendOptions{Window: defaultWindow})
	if err != nil {
		return nil, err
	}
	s := &sharedSender{snd: snd}
	ss.m[id] = s
	return s, nil
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
