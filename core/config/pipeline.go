package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var pipelineSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "passthrough"}, {Name: "forward_subscriptions"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: ClassSource, LabelNames: []string{"kind", "name"}},
		{Type: ClassStage, LabelNames: []string{"kind", "name"}},
		{Type: ClassSink, LabelNames: []string{"kind", "name"}},
	},
}

// fromSchema extracts the core attributes of node bodies (from, enabled);
// the rest of a body belongs to the component.
var fromSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "from"}, {Name: "enabled"}}}

// nodeDecl is a node with what wiring needs from its block.
type nodeDecl struct {
	node *Node
	// from is nil when the block has no from attribute.
	from *hcl.Attribute
	// disabled is set by enabled = false: the block is checked, then left
	// out of the pipeline.
	disabled bool
}

// loadPipeline decodes one pipeline block and appends it to the Config.
func (l *loader) loadPipeline(file string, b *hcl.Block, transport string, ctx *hcl.EvalContext) hcl.Diagnostics {
	if len(b.Labels) != 1 || len(b.LabelRanges) != 1 {
		return nil // reported by HCL
	}
	name := b.Labels[0]
	diags := validName("pipeline name", name, b.LabelRanges[0])
	if prev, dup := l.pipelines[name]; dup {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate pipeline",
			Detail:   fmt.Sprintf("A pipeline named %q is already declared at %s.", name, prev.DeclRange),
			Subject:  b.LabelRanges[0].Ptr(),
		})
	}
	p := &Pipeline{Name: name, File: file, Transport: transport, Passthrough: true, ForwardSubscriptions: true, DeclRange: b.DefRange}
	l.pipelines[name] = p
	l.cfg.Pipelines = append(l.cfg.Pipelines, p)

	content, moreDiags := b.Body.Content(pipelineSchema)
	diags = append(diags, moreDiags...)
	for _, setting := range []struct {
		name string
		dst  *bool
	}{{"passthrough", &p.Passthrough}, {"forward_subscriptions", &p.ForwardSubscriptions}} {
		if attr, ok := content.Attributes[setting.name]; ok {
			v, moreDiags := evalAs(attr.Expr, ctx, cty.Bool, strings.ReplaceAll(setting.name, "_", " ")+" setting")
			diags = append(diags, moreDiags...)
			if !moreDiags.HasErrors() && v.IsKnown() {
				*setting.dst = v.True()
			}
		}
	}

	names := map[string]map[string]*Node{}
	var decls []*nodeDecl
	for _, class := range []string{ClassSource, ClassStage, ClassSink} {
		names[class] = map[string]*Node{}
		for _, nb := range content.Blocks.OfType(class) {
			d, moreDiags := l.loadNode(p, class, nb, transport, ctx, names[class])
			diags = append(diags, moreDiags...)
			if d != nil && !d.disabled {
				decls = append(decls, d)
				p.Nodes = append(p.Nodes, d.node)
			}
		}
	}
	return append(diags, wire(p, decls)...)
}

// loadNode decodes one source, stage or sink block. It returns nil when the
// block cannot become a node (a duplicate name).
func (l *loader) loadNode(p *Pipeline, class string, b *hcl.Block, transport string, ctx *hcl.EvalContext, names map[string]*Node) (*nodeDecl, hcl.Diagnostics) {
	if len(b.Labels) != 2 || len(b.LabelRanges) != 2 {
		return nil, nil // reported by HCL
	}
	kind, name := b.Labels[0], b.Labels[1]
	var diags hcl.Diagnostics
	diags = append(diags, validName(class+" kind", kind, b.LabelRanges[0])...)
	diags = append(diags, validName(class+" name", name, b.LabelRanges[1])...)
	if prev, dup := names[name]; dup {
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate " + class + " name",
			Detail: fmt.Sprintf("Pipeline %q already has a %s named %q (%s %q at %s); %s names must be unique within a pipeline.",
				p.Name, class, name, class, prev.Kind, prev.DeclRange, class),
			Subject: b.LabelRanges[1].Ptr(),
		})
	}
	n := &Node{
		Class:     class,
		Kind:      kind,
		Name:      name,
		ID:        p.Name + "/" + class + "." + kind + "." + name,
		DeclRange: b.DefRange,
		TypeRange: b.LabelRanges[0],
	}
	names[name] = n
	d := &nodeDecl{node: n}

	partial, remain, moreDiags := b.Body.PartialContent(fromSchema)
	diags = append(diags, moreDiags...)
	if attr, ok := partial.Attributes["from"]; ok {
		if class == ClassSource {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported argument",
				Detail:   "Sources read from their sockets and take no inputs; from is only for stages and sinks.",
				Subject:  attr.NameRange.Ptr(),
			})
		} else {
			d.from = attr
		}
	}

	if attr, ok := partial.Attributes["enabled"]; ok {
		enabled, moreDiags := enabledSetting(attr, ctx)
		diags = append(diags, moreDiags...)
		if !enabled {
			d.disabled = true
			delete(names, name) // a from naming it finds nothing
		}
	}

	compTransport := transport
	if class == ClassStage {
		compTransport = ""
	}
	comp, err := l.component(compTransport, class, kind)
	if err != nil {
		return d, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Unsupported %s kind", class),
			Detail:   fmt.Sprintf("Cannot use %s %q: %s.", class, kind, strings.TrimSuffix(err.Error(), ".")),
			Subject:  b.LabelRanges[0].Ptr(),
		})
	}
	n.Subscriptions = comp.Subscriptions
	n.Core = comp.Core || class == ClassStage
	var caps *capabilityCheck
	if class != ClassStage {
		caps = &capabilityCheck{transport: transport, capabilities: comp.Capabilities}
	}
	dec, moreDiags := decodeBody(remain, &comp.Schema, ctx, caps)
	diags = append(diags, moreDiags...)
	if !moreDiags.HasErrors() {
		n.Config = marshalObject(dec.val)
	}
	for name := range dec.sensitive {
		n.Sensitive = append(n.Sensitive, name)
	}
	slices.Sort(n.Sensitive)
	// A socket is checked by its transport as well, unless left out; a
	// core component by its kind.
	if n.Config != nil && !n.Core && !d.disabled {
		diags = append(diags, l.validateSocket(p, n, b, dec)...)
	}
	if n.Config != nil && comp.Validate != nil {
		diags = append(diags, validateCore(comp.Validate, n, b, dec)...)
	}
	return d, diags
}

// component asks the caller's Schemas, guarding against a missing answer.
func (l *loader) component(transport, class, kind string) (*Component, error) {
	if l.schemas == nil {
		return nil, errors.New("no component schemas are available")
	}
	comp, err := l.schemas.Component(transport, class, kind)
	if err != nil {
		return nil, err
	}
	if comp == nil {
		return nil, fmt.Errorf("no schema for %s kind %q", class, kind)
	}
	return comp, nil
}

// enabledSetting evaluates an enabled attribute; anything but a known
// false (an error included, which is reported) counts as enabled.
func enabledSetting(attr *hcl.Attribute, ctx *hcl.EvalContext) (bool, hcl.Diagnostics) {
	v, diags := evalAs(attr.Expr, ctx, cty.Bool, "enabled setting")
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() {
		return true, diags
	}
	return v.True(), diags
}
