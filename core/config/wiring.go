package config

import (
	"fmt"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// wire resolves the inputs of every node of p: explicit from lists, or the
// default chain in declaration order. It then checks the graph as a whole.
func wire(p *Pipeline, decls []*nodeDecl) hcl.Diagnostics {
	var diags hcl.Diagnostics
	index := map[string]map[string]*Node{ClassSource: {}, ClassStage: {}, ClassSink: {}}
	var sources, stages, sinks []*Node
	for _, d := range decls {
		n := d.node
		index[n.Class][n.Name] = n
		switch n.Class {
		case ClassSource:
			sources = append(sources, n)
		case ClassStage:
			stages = append(stages, n)
		case ClassSink:
			sinks = append(sinks, n)
		}
	}

	stageIndex := 0
	for _, d := range decls {
		n := d.node
		if n.Class == ClassSource {
			continue
		}
		if d.from != nil {
			inputs, moreDiags := resolveFrom(p, d, index)
			diags = append(diags, moreDiags...)
			n.Inputs = inputs
		} else {
			n.Inputs = defaultInputs(n, sources, stages, stageIndex)
		}
		if n.Class == ClassStage {
			stageIndex++
		}
	}

	if len(sources) == 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Pipeline without source",
			Detail:   fmt.Sprintf("Pipeline %q needs at least one source block.", p.Name),
			Subject:  p.DeclRange.Ptr(),
		})
	}
	if len(sinks) == 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Pipeline without sink",
			Detail:   fmt.Sprintf("Pipeline %q needs at least one sink block.", p.Name),
			Subject:  p.DeclRange.Ptr(),
		})
	}
	diags = append(diags, findCycles(decls)...)
	if !diags.HasErrors() {
		diags = append(diags, unusedNodes(decls)...)
	}
	return diags
}

// defaultInputs is the chain in declaration order: the first stage takes all
// sources, each later stage the previous stage, and sinks the last stage, or
// all sources when there are no stages.
func defaultInputs(n *Node, sources, stages []*Node, stageIndex int) []*Node {
	switch {
	case n.Class == ClassStage && stageIndex > 0:
		return []*Node{stages[stageIndex-1]}
	case n.Class == ClassSink && len(stages) > 0:
		return []*Node{stages[len(stages)-1]}
	}
	return append([]*Node(nil), sources...)
}

// resolveFrom turns a from attribute into nodes.
func resolveFrom(p *Pipeline, d *nodeDecl, index map[string]map[string]*Node) ([]*Node, hcl.Diagnostics) {
	expr := d.from.Expr
	exprs, listDiags := hcl.ExprList(expr)
	if listDiags.HasErrors() {
		// A single reference is accepted without the brackets.
		if _, travDiags := hcl.AbsTraversalForExpr(expr); travDiags.HasErrors() {
			return nil, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid from",
				Detail:   "The from argument must be a list of references to sources or stages, like [source.xsub.nodes_pub].",
				Subject:  expr.Range().Ptr(),
			}}
		}
		exprs = []hcl.Expression{expr}
	}
	if len(exprs) == 0 {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Empty from",
			Detail:   fmt.Sprintf("A %s needs at least one input; remove from to use the default wiring.", d.node.Class),
			Subject:  expr.Range().Ptr(),
		}}
	}
	var diags hcl.Diagnostics
	var inputs []*Node
	seen := map[*Node]bool{}
	for _, e := range exprs {
		n, moreDiags := resolveRef(p, e, index)
		diags = append(diags, moreDiags...)
		if n == nil {
			continue
		}
		if seen[n] {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate input",
				Detail:   fmt.Sprintf("%s is listed more than once.", n.Ref()),
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		seen[n] = true
		inputs = append(inputs, n)
	}
	return inputs, diags
}

// resolveRef finds the node one element of a from list names.
func resolveRef(p *Pipeline, e hcl.Expression, index map[string]map[string]*Node) (*Node, hcl.Diagnostics) {
	invalid := hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid reference",
		Detail:   "Expected a reference to a source or stage of this pipeline, like source.xsub.nodes_pub or stage.filter.events.",
		Subject:  e.Range().Ptr(),
	}}
	trav, diags := hcl.AbsTraversalForExpr(e)
	if diags.HasErrors() {
		return nil, invalid
	}
	class, kind, name, ok := splitRef(trav)
	if !ok {
		return nil, invalid
	}
	if class == ClassSink {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid input",
			Detail:   fmt.Sprintf("%s.%s.%s is a sink; sinks cannot feed other nodes, only sources and stages can.", class, kind, name),
			Subject:  e.Range().Ptr(),
		}}
	}
	n := index[class][name]
	if n != nil && n.Kind == kind {
		return n, nil
	}
	detail := fmt.Sprintf("Pipeline %q has no %s %q %q.", p.Name, class, kind, name)
	if n != nil {
		detail += fmt.Sprintf(" Did you mean %s?", n.Ref())
	} else if s := suggestNode(kind+"."+name, index[class]); s != nil {
		detail += fmt.Sprintf(" Did you mean %s?", s.Ref())
	}
	return nil, hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Reference to undeclared " + class,
		Detail:   detail,
		Subject:  e.Range().Ptr(),
	}}
}

// splitRef splits class.kind.name; kind and name may also be written as
// string indexes (source.xsub["name"]).
func splitRef(trav hcl.Traversal) (class, kind, name string, ok bool) {
	if len(trav) != 3 {
		return "", "", "", false
	}
	root, isRoot := trav[0].(hcl.TraverseRoot)
	if !isRoot || (root.Name != ClassSource && root.Name != ClassStage && root.Name != ClassSink) {
		return "", "", "", false
	}
	step := func(t hcl.Traverser) (string, bool) {
		switch t := t.(type) {
		case hcl.TraverseAttr:
			return t.Name, true
		case hcl.TraverseIndex:
			if t.Key.Type() == cty.String && t.Key.IsKnown() && !t.Key.IsNull() {
				return t.Key.AsString(), true
			}
		}
		return "", false
	}
	kind, okKind := step(trav[1])
	name, okName := step(trav[2])
	return root.Name, kind, name, okKind && okName
}

// suggestNode returns the node whose "kind.name" is closest to want, if any
// is close enough to be a likely typo.
func suggestNode(want string, nodes map[string]*Node) *Node {
	var best *Node
	bestDist := 3 // further than this is not a typo
	for _, n := range nodes {
		dist := levenshtein.Distance(want, n.Kind+"."+n.Name, nil)
		if dist < bestDist || (dist == bestDist && best != nil && n.Ref() < best.Ref()) {
			best, bestDist = n, dist
		}
	}
	return best
}

// findCycles reports every group of stages that feed each other in a loop,
// once per group.
func findCycles(decls []*nodeDecl) hcl.Diagnostics {
	var stages []*nodeDecl
	for _, d := range decls {
		if d.node.Class == ClassStage {
			stages = append(stages, d)
		}
	}
	var diags hcl.Diagnostics
	for _, comp := range stronglyConnected(stages) {
		cycle := cyclePath(comp)
		if cycle == nil {
			continue
		}
		subject := comp[0].node.DeclRange
		for _, d := range comp {
			if d.from != nil {
				subject = d.from.Expr.Range()
				break
			}
		}
		refs := make([]string, len(cycle))
		for i, n := range cycle {
			refs[i] = n.Ref()
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cycle in pipeline",
			Detail:   fmt.Sprintf("Stages feed each other in a loop: %s.", strings.Join(refs, " → ")),
			Subject:  subject.Ptr(),
		})
	}
	return diags
}

// stronglyConnected returns the strongly connected components of the stage
// graph (Tarjan's algorithm), each in declaration order, ordered by their
// first member.
func stronglyConnected(stages []*nodeDecl) [][]*nodeDecl {
	pos := map[*Node]int{}
	for i, d := range stages {
		pos[d.node] = i
	}
	index := make([]int, len(stages))
	low := make([]int, len(stages))
	onStack := make([]bool, len(stages))
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var comps [][]int
	next := 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, in := range stages[v].node.Inputs {
			w, isStage := pos[in]
			if !isStage {
				continue
			}
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			comps = append(comps, comp)
		}
	}
	for v := range stages {
		if index[v] < 0 {
			visit(v)
		}
	}
	result := make([][]*nodeDecl, 0, len(comps))
	for _, comp := range comps {
		members := make([]bool, len(stages))
		for _, v := range comp {
			members[v] = true
		}
		var ordered []*nodeDecl
		for v, d := range stages {
			if members[v] {
				ordered = append(ordered, d)
			}
		}
		result = append(result, ordered)
	}
	// Order components by their first member's declaration position.
	first := func(c []*nodeDecl) int { return pos[c[0].node] }
	for i := 1; i < len(result); i++ {
		for j := i; j > 0 && first(result[j]) < first(result[j-1]); j-- {
			result[j], result[j-1] = result[j-1], result[j]
		}
	}
	return result
}

// cyclePath returns a shortest loop through the first member of a strongly
// connected component, in the direction data flows, starting and ending at
// that member; nil when the component holds no loop.
func cyclePath(comp []*nodeDecl) []*Node {
	members := map[*Node]bool{}
	for _, d := range comp {
		members[d.node] = true
	}
	consumers := map[*Node][]*Node{}
	for _, d := range comp {
		for _, in := range d.node.Inputs {
			if members[in] {
				consumers[in] = append(consumers[in], d.node)
			}
		}
	}
	start := comp[0].node
	prev := map[*Node]*Node{}
	queue := []*Node{start}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, v := range consumers[u] {
			if v == start {
				path := []*Node{start}
				for w := u; w != start; w = prev[w] {
					path = append(path, w)
				}
				// path is start, u, …, reversed; put it in data order.
				for i, j := 1, len(path)-1; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return append(path, start)
			}
			if _, visited := prev[v]; !visited {
				prev[v] = u
				queue = append(queue, v)
			}
		}
	}
	return nil
}

// unusedNodes warns about sources and stages no node reads from.
func unusedNodes(decls []*nodeDecl) hcl.Diagnostics {
	used := map[*Node]bool{}
	for _, d := range decls {
		for _, in := range d.node.Inputs {
			used[in] = true
		}
	}
	var diags hcl.Diagnostics
	for _, d := range decls {
		n := d.node
		if n.Class == ClassSink || used[n] {
			continue
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Unused " + n.Class,
			Detail:   fmt.Sprintf("No stage or sink reads from %s, so what it receives goes nowhere.", n.Ref()),
			Subject:  n.DeclRange.Ptr(),
		})
	}
	return diags
}
