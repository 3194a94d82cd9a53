package pipeline

import (
	"slices"

	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/transport"
)

// Component is how a socket appears in telemetry.
type Component struct {
	Pipeline string
	// Name is "<class>.<kind>.<name>", e.g. "source.xsub.publishers".
	Name string
	Kind string
	// ZeekProxyRole is "frontend" for the XSUB source and "backend" for the
	// XPUB sink of a broker-shaped pipeline (Zeek's proxy counters), else "".
	ZeekProxyRole string
}

// Components maps the socket ids of the instance to their telemetry names.
func (in *Instance) Components() map[string]Component {
	p := in.plan.Pipeline
	broker := isBrokerShaped(p)
	m := make(map[string]Component, len(p.Nodes))
	for _, n := range p.Nodes {
		c := Component{Pipeline: p.Name, Name: n.Class + "." + n.Kind + "." + n.Name, Kind: n.Kind}
		if broker {
			switch {
			case n.Class == config.ClassSource && n.Subscriptions == transport.SubsAccepts:
				c.ZeekProxyRole = "frontend"
			case n.Class == config.ClassSink && n.Subscriptions == transport.SubsEmits:
				c.ZeekProxyRole = "backend"
			}
		}
		m[n.ID] = c
	}
	return m
}

// Client returns the transport the instance runs on.
func (in *Instance) Client() transport.Client { return in.client }

// isBrokerShaped reports whether p forwards from a subscription-accepting
// source (XSUB) to a subscription-emitting sink (XPUB), as Zeek's proxy.
func isBrokerShaped(p *config.Pipeline) bool {
	var src, sink bool
	for _, n := range p.Nodes {
		if n.Class == config.ClassSource && n.Subscriptions == transport.SubsAccepts {
			src = true
		}
		if n.Class == config.ClassSink && n.Subscriptions == transport.SubsEmits {
			sink = true
		}
	}
	return src && sink
}

// StageInfo is one running stage of an instance and its counters.
type StageInfo struct {
	Component
	Stats stage.Stats
	// Stage is the running stage, for what only some kinds report.
	Stage stage.Stage
}

// Stages returns the running stages of the instance, and the sources
// that run in the core, with their counters, upstream first. A stage's
// shutdown drops include what a stopping pipeline no longer let reach it;
// every stage reports that reason, at 0 until the pipeline gives data up.
func (in *Instance) Stages() []StageInfo {
	p := in.plan.Pipeline
	out := make([]StageInfo, 0, len(in.sources)+len(in.stages))
	for _, rs := range slices.Concat(in.sources, in.stages) {
		n := rs.plan.Node
		st := rs.stage.Stats()
		if rs.gate != nil {
			if st.Dropped == nil {
				st.Dropped = make(map[string]uint64, 1)
			}
			st.Dropped[stage.DropShutdown] += rs.gate.dropped.Load()
		}
		out = append(out, StageInfo{
			Component: Component{Pipeline: p.Name, Name: rs.name(), Kind: n.Kind},
			Stats:     st,
			Stage:     rs.stage,
		})
	}
	return out
}

// CoreDrops returns, by socket id, the drops the core counted for sinks
// run by the transport: "shutdown" (what a stopping pipeline no longer
// sent them), "plugin_restart" and "stream_error" (what the plugin host
// reported lost on the way to the plugin). Every sink fed by the core path
// is present.
func (in *Instance) CoreDrops() map[string]map[string]uint64 {
	out := make(map[string]map[string]uint64, len(in.sinkGates))
	for id, g := range in.sinkGates {
		out[id] = map[string]uint64{stage.DropShutdown: g.dropped.Load()}
	}
	if in.senders != nil {
		for id, lost := range in.senders.lost() {
			if out[id] == nil {
				out[id] = map[string]uint64{}
			}
			for reason, n := range lost {
				out[id][reason] += n
			}
		}
	}
	return out
}
