// Package pipeline turns a loaded configuration into running pipelines:
// it plans which source→sink segments a transport can run in its own
// process, opens the sockets, starts links and in-core data paths, forwards
// subscriptions upstream, and shuts everything down in order.
package pipeline

import (
	"fmt"
	"sort"

	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/transport"
)

// Plan is the execution plan of one pipeline.
type Plan struct {
	Pipeline *config.Pipeline
	// Links are source→sinks segments run inside the transport process.
	Links []LinkPlan
	// Paths are sources whose data flows through the core.
	Paths []PathPlan
	// Stages are the stages, and the sinks that run in zpipe's core,
	// listed upstream before downstream.
	Stages []StagePlan
	// SubscriptionRoutes forward subscription messages received on an
	// emitting sink (XPUB) to the accepting sources (XSUB) upstream of it,
	// for sinks that are not part of a link.
	SubscriptionRoutes []SubscriptionRoute
}

// LinkPlan is one in-transport segment.
type LinkPlan struct {
	ID     string
	Source *config.Node
	Sinks  []*config.Node
}

// PathPlan is one source whose messages the core reads and hands to
// Outputs: the stages and sinks it feeds directly. A source that runs in
// the core (Source.Core) pushes to Outputs itself.
type PathPlan struct {
	Source  *config.Node
	Outputs []*config.Node
}

// StagePlan is one stage and the stages and sinks it feeds, or one sink
// that runs in the core (no outputs).
type StagePlan struct {
	Node    *config.Node
	Outputs []*config.Node
}

// SubscriptionRoute carries the subscription messages of Sink to the
// Observers (stages between the sources and the sink that watch them) and,
// when the pipeline forwards subscriptions, to Sources.
type SubscriptionRoute struct {
	Sink      *config.Node
	Sources   []*config.Node
	Observers []*config.Node
}

// MakePlan decides how a pipeline runs. A source runs as a link when
// passthrough is on, the transport can link, every consumer of the source is
// a sink fed directly by it, and none of those sinks has another input
// (a socket can be owned by one link only). Everything else flows through
// the core.
func MakePlan(p *config.Pipeline, desc *transport.Description) (*Plan, error) {
	plan := &Plan{Pipeline: p}
	consumers := make(map[*config.Node][]*config.Node)
	for _, n := range p.Nodes {
		for _, in := range n.Inputs {
			consumers[in] = append(consumers[in], n)
		}
	}
	stages, err := stageOrder(p, consumers)
	if err != nil {
		return nil, err
	}
	for _, st := range stages {
		if st.Class == config.ClassStage && len(consumers[st]) == 0 {
			return nil, fmt.Errorf("pipeline %q: stage %s.%s feeds nothing", p.Name, st.Kind, st.Name)
		}
		plan.Stages = append(plan.Stages, StagePlan{Node: st, Outputs: consumers[st]})
	}
	canLink := p.Passthrough && desc != nil && desc.HasCapability(transport.CapLink)
	linked := make(map[*config.Node]bool)
	for _, src := range p.Nodes {
		if src.Class != config.ClassSource {
			continue
		}
		sinks := consumers[src]
		if len(sinks) == 0 {
			return nil, fmt.Errorf("pipeline %q: source %s.%s feeds nothing", p.Name, src.Kind, src.Name)
		}
		if canLink && !src.Core && linkable(src, sinks) {
			plan.Links = append(plan.Links, LinkPlan{ID: src.ID + "/link", Source: src, Sinks: sinks})
			for _, s := range sinks {
				linked[s] = true
			}
			continue
		}
		plan.Paths = append(plan.Paths, PathPlan{Source: src, Outputs: sinks})
	}
	for _, sink := range p.Nodes {
		if sink.Class != config.ClassSink || sink.Subscriptions != transport.SubsEmits || linked[sink] {
			continue
		}
		var srcs []*config.Node
		for _, in := range upstreamSources(sink) {
			if in.Subscriptions == transport.SubsAccepts {
				srcs = append(srcs, in)
			}
		}
		var observers []*config.Node
		for _, n := range upstreamNodes(sink) {
			if n.Class == config.ClassStage {
				observers = append(observers, n)
			}
		}
		if len(srcs) > 0 || len(observers) > 0 {
			plan.SubscriptionRoutes = append(plan.SubscriptionRoutes, SubscriptionRoute{Sink: sink, Sources: srcs, Observers: observers})
		}
	}
	return plan, nil
}

// stageOrder returns the stages and core sinks of p, each after every
// stage feeding it; a cycle is an error.
func stageOrder(p *config.Pipeline, consumers map[*config.Node][]*config.Node) ([]*config.Node, error) {
	pending := make(map[*config.Node]int) // stage inputs not yet ordered
	var ready, order []*config.Node
	for _, n := range p.Nodes {
		if !inCore(n) {
			continue
		}
		for _, in := range n.Inputs {
			if in.Class == config.ClassStage {
				pending[n]++
			}
		}
		if pending[n] == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		n := ready[0]
		ready = ready[1:]
		order = append(order, n)
		for _, c := range consumers[n] {
			if !inCore(c) {
				continue
			}
			if pending[c]--; pending[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	for _, n := range p.Nodes {
		if inCore(n) && pending[n] > 0 {
			return nil, fmt.Errorf("pipeline %q: stage %s.%s is part of a cycle", p.Name, n.Kind, n.Name)
		}
	}
	return order, nil
}

// inCore says whether n runs in zpipe's core: a stage, or a sink zpipe
// provides itself.
func inCore(n *config.Node) bool {
	return n.Class == config.ClassStage || (n.Class == config.ClassSink && n.Core)
}

func linkable(src *config.Node, sinks []*config.Node) bool {
	for _, s := range sinks {
		if s.Class != config.ClassSink || s.Core || len(s.Inputs) != 1 || s.Inputs[0] != src {
			return false
		}
	}
	return true
}

// upstreamSources returns every source whose data reaches n.
func upstreamSources(n *config.Node) []*config.Node {
	var out []*config.Node
	for _, x := range upstreamNodes(n) {
		if x.Class == config.ClassSource {
			out = append(out, x)
		}
	}
	return out
}

// upstreamNodes returns every node whose data reaches n, sorted by id.
func upstreamNodes(n *config.Node) []*config.Node {
	seen := make(map[*config.Node]bool)
	var out []*config.Node
	var walk func(*config.Node)
	walk = func(x *config.Node) {
		for _, in := range x.Inputs {
			if seen[in] {
				continue
			}
			seen[in] = true
			out = append(out, in)
			walk(in)
		}
	}
	walk(n)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
