package engine

import (
	"sync"

	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/telemetry"
)

// observers collects what stages register through their Env.Telemetry,
// for the metrics of registerMetrics to read at collection time. The
// engine knows no particular stage: each hands its observations here.
type observers struct {
	mu      sync.Mutex
	members []memberSource
}

// memberSource is a stage's source of the cluster membership gauge.
type memberSource struct {
	pipeline, component string
	fn                  func() []stage.Member
}

// forStage returns the Env.Telemetry of a stage (pipeline.Runner's
// Telemetry).
func (o *observers) forStage(pipeline, component string) stage.Telemetry {
	return stageTelemetry{o: o, pipeline: pipeline, component: component}
}

// memberObservations returns the cluster nodes every registered stage sees up.
func (o *observers) memberObservations() []telemetry.MemberObservation {
	o.mu.Lock()
	sources := o.members[:len(o.members):len(o.members)]
	o.mu.Unlock()
	var obs []telemetry.MemberObservation
	for _, src := range sources {
		for _, m := range src.fn() {
			obs = append(obs, telemetry.MemberObservation{Pipeline: src.pipeline, Component: src.component, Name: m.Name, Role: m.Role})
		}
	}
	return obs
}

// stageTelemetry is one stage's stage.Telemetry.
type stageTelemetry struct {
	o                   *observers
	pipeline, component string
}

// ObserveMembers registers fn as the stage's membership source.
func (t stageTelemetry) ObserveMembers(fn func() []stage.Member) {
	t.o.mu.Lock()
	defer t.o.mu.Unlock()
	t.o.members = append(t.o.members, memberSource{pipeline: t.pipeline, component: t.component, fn: fn})
}
