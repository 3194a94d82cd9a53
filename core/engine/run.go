package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/pipeline"
	"github.com/zpipe/zpipe/core/telemetry"
	"github.com/zpipe/zpipe/core/transport"
)

// DefaultShutdownTimeout bounds the orderly stop after a signal: time
// for a logger to write a full backlog (its onloop's max_bytes, the
// batches in flight and what its PULL socket's peers had sent) at the
// file sink's rate on a loaded machine.
const DefaultShutdownTimeout = 30 * time.Second

// statsTimeout bounds how long a metrics collection waits for a transport
// plugin's counters. A plugin that hangs (stopped, swamped) must not hang
// the metrics endpoint: its sockets keep their last readings and the
// collection reports the error.
const statsTimeout = 2 * time.Second

// RunOptions tune Run.
type RunOptions struct {
	// ShutdownTimeout bounds the orderly stop after ctx ends (default
	// DefaultShutdownTimeout). A stop that has to give up data within it
	// counts what it gave up and makes Run return an error.
	ShutdownTimeout time.Duration
	// OnStarted, if set, is called once every pipeline is running, with the
	// bound address of the Prometheus endpoint ("" when off).
	OnStarted func(metricsAddr string)
	// StatusInterval, when positive, logs a status line per pipeline
	// (rates and totals of messages in, out and dropped) at this interval.
	StatusInterval time.Duration
}

// Run starts telemetry and every pipeline of cfg, and keeps them running
// until ctx ends or a pipeline fails; then it stops them in order.
func (e *Engine) Run(ctx context.Context, cfg *config.Config, opts RunOptions) (err error) {
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	var mp metric.MeterProvider = noop.NewMeterProvider()
	metricsAddr := ""
	var tel *telemetry.Telemetry
	if cfg.Telemetry != nil {
		var err error
		tel, err = telemetry.New(ctx, telemetryConfig(cfg.Telemetry))
		if err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownTimeout)
			defer cancel()
			if serr := tel.Shutdown(sctx); serr != nil {
				err = errors.Join(err, fmt.Errorf("telemetry shutdown: %w", serr))
			}
		}()
		mp = tel.MeterProvider()
		if a := tel.PrometheusAddr(); a != nil {
			metricsAddr = a.String()
			e.logger.Info("metrics endpoint", "url", "http://"+metricsAddr+cfg.Telemetry.Prometheus.Path)
		}
	}

	obs := &observers{}
	runner := &pipeline.Runner{Transports: e.Clients(), Stages: e.stages, Telemetry: obs.forStage, Logger: e.logger}
	for _, p := range cfg.Pipelines {
		for _, n := range p.Nodes {
			if n.Core {
				runner.Codecs = e.Codecs()
			}
		}
	}
	var instances []*pipeline.Instance
	stopAll := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownTimeout)
		defer cancel()
		var errs []error
		for i := len(instances) - 1; i >= 0; i-- {
			if err := instances[i].Stop(sctx); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for _, p := range cfg.Pipelines {
		inst, err := runner.Start(ctx, p)
		if err != nil {
			return errors.Join(err, stopAll())
		}
		instances = append(instances, inst)
		e.logger.Info("pipeline running", "pipeline", p.Name, "transport", p.Transport,
			"links", len(inst.Plan().Links), "core_paths", len(inst.Plan().Paths), "stages", len(inst.Plan().Stages))
	}

	zeekNode := ""
	if cfg.Telemetry != nil {
		zeekNode = cfg.Telemetry.ZeekNode
	}
	regs, err := e.registerMetrics(mp, zeekNode, instances, obs)
	if err != nil {
		return errors.Join(err, stopAll())
	}
	defer func() {
		for _, r := range regs {
			_ = r.Unregister()
		}
	}()
	if opts.OnStarted != nil {
		opts.OnStarted(metricsAddr)
	}

	// The waiters and the status reporter below end with Run.
	waitCtx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	if opts.StatusInterval > 0 {
		r := &statusReporter{logger: e.logger, interval: opts.StatusInterval,
			read: func(ctx context.Context) map[string]pipelineTotals { return totals(ctx, instances) }}
		for _, in := range instances {
			r.order = append(r.order, in.Plan().Pipeline.Name)
		}
		reported := make(chan struct{})
		go func() {
			defer close(reported)
			r.run(waitCtx)
		}()
		defer func() { <-reported }()
		defer stopWaiting()
	}
	var runErr error
	select {
	case <-ctx.Done():
		e.logger.Info("stopping: writing what was received", "shutdown_timeout", opts.ShutdownTimeout)
	case <-allFinished(waitCtx, instances):
		e.logger.Info("every pipeline came to its end; stopping")
	case i := <-firstFailure(waitCtx, instances):
		runErr = fmt.Errorf("pipeline %q failed: %w", instances[i].Plan().Pipeline.Name, instances[i].Err())
	}
	err = errors.Join(runErr, stopAll())
	if tel != nil {
		// The last counts, while the collection callbacks are still
		// registered: an OTLP push interval may be far from over.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownTimeout)
		if ferr := tel.ForceFlush(fctx); ferr != nil {
			e.logger.Warn("telemetry: last export failed", "err", ferr.Error())
		}
		cancel()
	}
	return err
}

// allFinished returns a channel closed once every instance has finished
// (its sources came to their end); it stops waiting when ctx ends.
func allFinished(ctx context.Context, instances []*pipeline.Instance) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		for _, in := range instances {
			select {
			case <-in.Finished():
			case <-ctx.Done():
				return
			}
		}
		close(out)
	}()
	return out
}

// firstFailure returns a channel that yields the index of the first failed
// instance; it stops waiting when ctx ends.
func firstFailure(ctx context.Context, instances []*pipeline.Instance) <-chan int {
	out := make(chan int, 1)
	cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}}
	for _, in := range instances {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(in.Failed())})
	}
	go func() {
		chosen, _, _ := reflect.Select(cases)
		if chosen > 0 {
			out <- chosen - 1
		}
	}()
	return out
}

func telemetryConfig(t *config.Telemetry) telemetry.Config {
	c := telemetry.Config{
		ServiceName:        t.ServiceName,
		ResourceAttributes: t.ResourceAttributes,
		ZeekNode:           t.ZeekNode,
	}
	if t.Prometheus != nil {
		c.Prometheus = &telemetry.PrometheusConfig{Listen: t.Prometheus.Listen, Path: t.Prometheus.Path}
	}
	if t.OTLP != nil {
		c.OTLP = &telemetry.OTLPConfig{
			Endpoint: t.OTLP.Endpoint, Protocol: t.OTLP.Protocol, Insecure: t.OTLP.Insecure,
			Headers: t.OTLP.Headers, Interval: t.OTLP.Interval, Timeout: t.OTLP.Timeout,
		}
	}
	return c
}

// supervisedPlugin is a plugin process zpipe restarts when it exits (a
// codec plugin's host).
type supervisedPlugin interface {
	Name() string
	Up() bool
	Restarts() uint64
}

// registerMetrics wires the plugins' socket counters and the plugin
// restart counters, the pipelines' and stages' counters and what stages
// registered in obs into the meter provider; they are read at collection
// time, so the data path pays nothing for them.
func (e *Engine) registerMetrics(mp metric.MeterProvider, zeekNode string, instances []*pipeline.Instance, obs *observers) ([]telemetry.Registration, error) {
	type group struct {
		client     transport.Client
		components map[string]pipeline.Component
		instances  []*pipeline.Instance
	}
	var groups []*group
	for _, in := range instances {
		var g *group
		for _, x := range groups {
			if x.client == in.Client() {
				g = x
			}
		}
		if g == nil {
			g = &group{client: in.Client(), components: make(map[string]pipeline.Component)}
			groups = append(groups, g)
		}
		for id, c := range in.Components() {
			g.components[id] = c
		}
		g.instances = append(g.instances, in)
	}
	sockets, err := telemetry.RegisterSockets(mp, zeekNode, func(ctx context.Context) ([]telemetry.SocketObservation, error) {
		var obs []telemetry.SocketObservation
		var errs []error
		for _, g := range groups {
			sctx, cancel := context.WithTimeout(ctx, statsTimeout)
			st, err := g.client.Stats(sctx)
			cancel()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			core := coreDrops(g.instances)
			for _, s := range st.Sockets {
				c, ok := g.components[s.ID]
				if !ok {
					continue
				}
				s.Drops = withCoreDrops(s.Drops, core[s.ID])
				obs = append(obs, telemetry.SocketObservation{
					Pipeline: c.Pipeline, Component: c.Name, Kind: c.Kind,
					ZeekProxyRole: c.ZeekProxyRole, Stats: s,
				})
			}
		}
		return obs, errors.Join(errs...)
	})
	if err != nil {
		return nil, fmt.Errorf("register socket metrics: %w", err)
	}
	plugins, err := telemetry.RegisterPlugins(mp, func() []telemetry.PluginObservation {
		var obs []telemetry.PluginObservation
		for name, h := range e.Hosts() {
			obs = append(obs, telemetry.PluginObservation{Name: "transport-" + name, Up: h.Up(), Restarts: h.Restarts()})
		}
		if codecs := e.startedCodecs(); codecs != nil {
			for _, c := range codecs.Started() {
				if h, ok := c.(supervisedPlugin); ok {
					obs = append(obs, telemetry.PluginObservation{Name: h.Name(), Up: h.Up(), Restarts: h.Restarts()})
				}
			}
		}
		return obs
	})
	if err != nil {
		_ = sockets.Unregister()
		return nil, fmt.Errorf("register plugin metrics: %w", err)
	}
	pipelines, err := telemetry.RegisterPipelines(mp, func() []telemetry.PipelineObservation {
		obs := make([]telemetry.PipelineObservation, 0, len(instances))
		for _, in := range instances {
			obs = append(obs, telemetry.PipelineObservation{Name: in.Plan().Pipeline.Name, Up: in.Err() == nil})
		}
		return obs
	})
	if err != nil {
		_ = sockets.Unregister()
		_ = plugins.Unregister()
		return nil, fmt.Errorf("register pipeline metrics: %w", err)
	}
	stages, err := telemetry.RegisterStages(mp, zeekNode, func() []telemetry.StageObservation {
		var obs []telemetry.StageObservation
		for _, in := range instances {
			for _, s := range in.Stages() {
				obs = append(obs, telemetry.StageObservation{
					Pipeline: s.Pipeline, Component: s.Name, Kind: s.Kind,
					Received: s.Stats.Received, Sent: s.Stats.Sent, Undecoded: s.Stats.Undecoded,
					Dropped: s.Stats.Dropped, HasDepth: s.Stats.HasDepth, Depth: s.Stats.Depth, Capacity: s.Stats.Capacity,
					Bytes: s.Stats.Bytes, MaxBytes: s.Stats.MaxBytes,
				})
			}
		}
		return obs
	})
	if err != nil {
		_ = sockets.Unregister()
		_ = plugins.Unregister()
		_ = pipelines.Unregister()
		return nil, fmt.Errorf("register stage metrics: %w", err)
	}
	membership, err := telemetry.RegisterMembership(mp, obs.memberObservations)
	if err != nil {
		for _, r := range []telemetry.Registration{sockets, plugins, pipelines, stages} {
			_ = r.Unregister()
		}
		return nil, fmt.Errorf("register membership metrics: %w", err)
	}
	return []telemetry.Registration{sockets, plugins, pipelines, stages, membership}, nil
}
