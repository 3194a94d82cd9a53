package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// PluginObservation is the state of one plugin at collection time.
type PluginObservation struct {
	// Name is the plugin's name, the value of the plugin attribute.
	Name string
	// Up tells whether the plugin process is running and answering.
	Up bool
	// Restarts counts restarts after failures since zpipe started.
	Restarts uint64
}

// PipelineObservation is the state of one pipeline at collection time.
type PipelineObservation struct {
	Name string
	Up   bool
}

// RegisterPlugins registers zpipe.plugin.up and zpipe.plugin.restarts, fed
// by fn at collection time.
func RegisterPlugins(mp metric.MeterProvider, fn func() []PluginObservation) (Registration, error) {
	if mp == nil {
		return nil, errors.New("register plugin metrics: nil meter provider")
	}
	if fn == nil {
		return nil, errors.New("register plugin metrics: nil observation function")
	}
	meter := mp.Meter(instrumentationScope)
	insts, err := newObservables(meter, MetricPluginUp, MetricPluginRestarts)
	if err != nil {
		return nil, fmt.Errorf("register plugin metrics: %w", err)
	}
	up, restarts := insts[0], insts[1]
	var (
		mu    sync.Mutex
		state = make(map[string]*monotonic)
	)
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		obs := fn()
		mu.Lock()
		defer mu.Unlock()
		seen := make(map[string]uint64, len(obs))
		ups := make(map[string]bool, len(obs))
		for _, p := range obs {
			seen[p.Name] += p.Restarts
			ups[p.Name] = ups[p.Name] || p.Up
		}
		for name, n := range seen {
			m, ok := state[name]
			if !ok {
				m = &monotonic{}
				state[name] = m
			}
			m.update(n)
			attrs := metric.WithAttributes(attribute.String(AttrPlugin, name))
			o.ObserveInt64(up, boolToInt(ups[name]), attrs)
			o.ObserveInt64(restarts, toInt64(m.value()), attrs)
		}
		return nil
	}, up, restarts)
	if err != nil {
		return nil, fmt.Errorf("register plugin metrics: %w", err)
	}
	return reg, nil
}

// RegisterPipelines registers zpipe.pipeline.up, fed by fn at collection
// time.
func RegisterPipelines(mp metric.MeterProvider, fn func() []PipelineObservation) (Registration, error) {
	if mp == nil {
		return nil, errors.New("register pipeline metrics: nil meter provider")
	}
	if fn == nil {
		return nil, errors.New("register pipeline metrics: nil observation function")
	}
	meter := mp.Meter(instrumentationScope)
	up, err := newObservable(meter, MetricPipelineUp)
	if err != nil {
		return nil, fmt.Errorf("register pipeline metrics: %w", err)
	}
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		ups := make(map[string]bool)
		for _, p := range fn() {
			ups[p.Name] = ups[p.Name] || p.Up
		}
		for name, u := range ups {
			o.ObserveInt64(up, boolToInt(u), metric.WithAttributes(attribute.String(AttrPipeline, name)))
		}
		return nil
	}, up)
	if err != nil {
		return nil, fmt.Errorf("register pipeline metrics: %w", err)
	}
	return reg, nil
}

func boolToInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
