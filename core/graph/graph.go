// Package graph draws loaded pipelines as Graphviz DOT or Mermaid
// flowcharts.
//
// Each pipeline is a cluster (DOT) or subgraph (Mermaid) whose nodes are
// labelled `class kind "name"`. Data edges are solid and run from sources
// through stages to sinks. Subscription edges are dashed and run the other
// way: from every sink that emits subscriptions (XPUB) back along the data
// paths to every source that accepts them (XSUB) and is connected to it.
// Output is deterministic: pipelines, nodes and edges appear in
// configuration order.
package graph

import (
	"fmt"
	"strings"

	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/transport"
)

// edge is one drawn edge between node indexes of a pipeline.
type edge struct {
	from, to int
}

// layout is a pipeline reduced to what both renderers draw.
type layout struct {
	pipeline *config.Pipeline
	// data edges run input → consumer; subs edges consumer → input.
	data, subs []edge
}

// newLayout computes the edges of p. A data edge u→v carries subscriptions
// back when some accepting source reaches u and v reaches some emitting
// sink, that is when it lies on a path between the two.
func newLayout(p *config.Pipeline) layout {
	l := layout{pipeline: p}
	index := make(map[*config.Node]int, len(p.Nodes))
	for i, n := range p.Nodes {
		index[n] = i
	}
	consumers := make([][]int, len(p.Nodes))
	inputs := make([][]int, len(p.Nodes))
	for v, n := range p.Nodes {
		for _, in := range n.Inputs {
			u, ok := index[in]
			if !ok {
				continue // not part of this pipeline
			}
			l.data = append(l.data, edge{from: u, to: v})
			consumers[u] = append(consumers[u], v)
			inputs[v] = append(inputs[v], u)
		}
	}
	fromAccepting := reach(p.Nodes, consumers, func(n *config.Node) bool {
		return n.Class == config.ClassSource && n.Subscriptions == transport.SubsAccepts
	})
	toEmitting := reach(p.Nodes, inputs, func(n *config.Node) bool {
		return n.Class == config.ClassSink && n.Subscriptions == transport.SubsEmits
	})
	for _, e := range l.data {
		if fromAccepting[e.from] && toEmitting[e.to] {
			l.subs = append(l.subs, edge{from: e.to, to: e.from})
		}
	}
	return l
}

// reach marks every node reachable along next from a node that satisfies
// start, the start nodes included.
func reach(nodes []*config.Node, next [][]int, start func(*config.Node) bool) []bool {
	seen := make([]bool, len(nodes))
	var queue []int
	for i, n := range nodes {
		if start(n) {
			seen[i] = true
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, v := range next[u] {
			if !seen[v] {
				seen[v] = true
				queue = append(queue, v)
			}
		}
	}
	return seen
}

func layouts(cfg *config.Config) []layout {
	if cfg == nil {
		return nil
	}
	out := make([]layout, 0, len(cfg.Pipelines))
	for _, p := range cfg.Pipelines {
		out = append(out, newLayout(p))
	}
	return out
}

// nodeLabel is the text shown for a node: class kind "name".
func nodeLabel(n *config.Node) string {
	return fmt.Sprintf("%s %s %q", n.Class, n.Kind, n.Name)
}

// subscriptionsLabel labels dashed edges.
const subscriptionsLabel = "subscriptions"

// DOT renders cfg as a Graphviz digraph. Subscription edges do not
// constrain the layout (constraint=false), so ranks follow the data flow.
func DOT(cfg *config.Config) string {
	var b strings.Builder
	b.WriteString("digraph zpipe {\n")
	b.WriteString("  rankdir=LR;\n")
	b.WriteString("  node [shape=box];\n")
	for i, l := range layouts(cfg) {
		p := l.pipeline
		fmt.Fprintf(&b, "\n  subgraph %s {\n", dotQuote(fmt.Sprintf("cluster_%d", i)))
		fmt.Fprintf(&b, "    label=%s;\n", dotQuote(fmt.Sprintf("pipeline %q", p.Name)))
		for _, n := range p.Nodes {
			fmt.Fprintf(&b, "    %s [label=%s];\n", dotQuote(n.ID), dotQuote(nodeLabel(n)))
		}
		for _, e := range l.data {
			fmt.Fprintf(&b, "    %s -> %s;\n", dotQuote(p.Nodes[e.from].ID), dotQuote(p.Nodes[e.to].ID))
		}
		for _, e := range l.subs {
			fmt.Fprintf(&b, "    %s -> %s [style=dashed, constraint=false, label=%s];\n",
				dotQuote(p.Nodes[e.from].ID), dotQuote(p.Nodes[e.to].ID), dotQuote(subscriptionsLabel))
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// dotQuote writes s as a DOT double-quoted string.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`)
	return `"` + r.Replace(s) + `"`
}

// Mermaid renders cfg as a Mermaid flowchart.
func Mermaid(cfg *config.Config) string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for i, l := range layouts(cfg) {
		p := l.pipeline
		id := func(n int) string { return fmt.Sprintf("p%dn%d", i, n) }
		fmt.Fprintf(&b, "  subgraph p%d[%s]\n", i, mermaidQuote(fmt.Sprintf("pipeline %q", p.Name)))
		for j, n := range p.Nodes {
			fmt.Fprintf(&b, "    %s[%s]\n", id(j), mermaidQuote(nodeLabel(n)))
		}
		for _, e := range l.data {
			fmt.Fprintf(&b, "    %s --> %s\n", id(e.from), id(e.to))
		}
		for _, e := range l.subs {
			fmt.Fprintf(&b, "    %s -. %s .-> %s\n", id(e.from), subscriptionsLabel, id(e.to))
		}
		b.WriteString("  end\n")
	}
	return b.String()
}

// mermaidQuote writes s as a quoted Mermaid label, with the characters
// Mermaid would interpret written as entity codes.
func mermaidQuote(s string) string {
	r := strings.NewReplacer(`#`, "#35;", `"`, "#quot;", `<`, "#lt;", `>`, "#gt;", "\n", " ", "\r", " ")
	return `"` + r.Replace(s) + `"`
}
