package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/zpipe/zpipe/core/schema"
)

// capabilityCheck tells decodeAttributes which capabilities the transport
// behind a block has. A nil *capabilityCheck disables the check.
type capabilityCheck struct {
	transport    string
	capabilities []string
}

// ctyType maps a schema type to the cty type its values decode to.
func ctyType(t schema.Type) (cty.Type, error) {
	switch t {
	case schema.String, schema.Duration:
		return cty.String, nil
	case schema.Number:
		return cty.Number, nil
	case schema.Bool:
		return cty.Bool, nil
	case schema.ListString:
		return cty.List(cty.String), nil
	case schema.MapString:
		return cty.Map(cty.String), nil
	}
	return cty.NilType, fmt.Errorf("unknown attribute type %q", t)
}

// defaultValue converts a's Go default to a value of type ty, going through
// JSON so that every Go shape schema.Attribute.Default allows is accepted.
func defaultValue(a schema.Attribute, ty cty.Type) (cty.Value, error) {
	if a.Default == nil {
		return cty.NullVal(ty), nil
	}
	raw, err := json.Marshal(a.Default)
	if err != nil {
		return cty.NilVal, fmt.Errorf("attribute %q: encode default: %w", a.Name, err)
	}
	v, err := ctyjson.Unmarshal(raw, ty)
	if err != nil {
		return cty.NilVal, fmt.Errorf("attribute %q: default %s is not a %s: %w", a.Name, raw, a.Type, err)
	}
	return v, nil
}

// attrSpecs are the hcldec specs of a schema: one AttrSpec per attribute,
// wrapped in a DefaultSpec when the attribute has a default.
type attrSpecs struct {
	object   hcldec.ObjectSpec
	defaults map[string]cty.Value
}

func buildSpecs(sch *schema.Schema) (*attrSpecs, error) {
	if err := sch.Check(); err != nil {
		return nil, err
	}
	s := &attrSpecs{
		object:   hcldec.ObjectSpec{},
		defaults: make(map[string]cty.Value, len(sch.Attributes)),
	}
	for _, a := range sch.Attributes {
		ty, err := ctyType(a.Type)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		def, err := defaultValue(a, ty)
		if err != nil {
			return nil, err
		}
		spec := &hcldec.AttrSpec{Name: a.Name, Type: ty, Required: a.Required}
		s.defaults[a.Name] = def
		if a.Default != nil {
			s.object[a.Name] = &hcldec.DefaultSpec{Primary: spec, Default: &hcldec.LiteralSpec{Value: def}}
		} else {
			s.object[a.Name] = spec
		}
	}
	return s, nil
}

// decodedBody is a decoded block body.
type decodedBody struct {
	// val is an object holding every attribute of the schema, or
	// cty.NilVal when the body or the schema is unusable.
	val cty.Value
	// attrs are the attributes as written, for their ranges.
	attrs hcl.Attributes
	// sensitive are the attributes whose values come from sensitive
	// variables, and their values (val holds them unmarked).
	sensitive map[string]cty.Value
}

// decodeAttributes decodes body against sch: unknown arguments, wrong types
// and missing required arguments are reported by HCL itself; durations,
// one_of lists and capabilities are checked here. The result is an object
// holding every attribute of sch, or cty.NilVal when sch is unusable.
func decodeAttributes(body hcl.Body, sch *schema.Schema, ctx *hcl.EvalContext, caps *capabilityCheck) (cty.Value, hcl.Diagnostics) {
	d, diags := decodeBody(body, sch, ctx, caps)
	return d.val, diags
}

// decodeBody is decodeAttributes, also returning the attributes as written.
func decodeBody(body hcl.Body, sch *schema.Schema, ctx *hcl.EvalContext, caps *capabilityCheck) (decodedBody, hcl.Diagnostics) {
	specs, err := buildSpecs(sch)
	if err != nil {
		return decodedBody{val: cty.NilVal}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid component schema",
			Detail:   fmt.Sprintf("The component's schema is unusable: %s.", err),
			Subject:  body.MissingItemRange().Ptr(),
		}}
	}
	val, diags := hcldec.Decode(body, specs.object, ctx)
	if val == cty.NilVal || val.IsNull() || !val.IsKnown() || !val.Type().IsObjectType() {
		return decodedBody{val: cty.NilVal}, diags
	}
	// Values computed from sensitive variables carry a mark; the checks
	// below and the JSON encoding need plain values.
	val, marks := val.UnmarkDeepWithPaths()
	// The attributes as written, for their ranges; problems with the body
	// itself were reported by Decode.
	present, _, _ := body.PartialContent(hcldec.ImpliedSchema(specs.object))
	decoded := decodedBody{val: val, attrs: present.Attributes}
	for _, pm := range marks {
		if step, ok := firstAttr(pm.Path); ok && val.Type().HasAttribute(step) {
			if decoded.sensitive == nil {
				decoded.sensitive = map[string]cty.Value{}
			}
			decoded.sensitive[step] = val.GetAttr(step)
		}
	}
	for _, a := range sch.Attributes {
		attr, ok := present.Attributes[a.Name]
		if !ok || !val.Type().HasAttribute(a.Name) {
			continue // absent: HCL reported it if required, else the default applies
		}
		v := val.GetAttr(a.Name)
		rng := attr.Expr.Range()
		if a.Required && v.IsNull() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   fmt.Sprintf("The argument %q is required and cannot be null.", a.Name),
				Subject:  rng.Ptr(),
			})
			continue
		}
		if !v.IsWhollyKnown() || v.IsNull() {
			continue
		}
		diags = append(diags, checkAttribute(a, v, specs.defaults[a.Name], rng, caps)...)
	}
	return decoded, diags
}

// firstAttr returns the attribute name a path starts with.
func firstAttr(p cty.Path) (string, bool) {
	if len(p) == 0 {
		return "", false
	}
	step, ok := p[0].(cty.GetAttrStep)
	return step.Name, ok
}

// checkAttribute applies the checks HCL's types cannot express.
func checkAttribute(a schema.Attribute, v, def cty.Value, rng hcl.Range, caps *capabilityCheck) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if (a.Type == schema.ListString || a.Type == schema.MapString) && hasNullElement(v) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value",
			Detail:   fmt.Sprintf("The argument %q must not hold null elements.", a.Name),
			Subject:  rng.Ptr(),
		})
	}
	if a.Type == schema.Number && !floatInRange(v.AsBigFloat()) {
		diags = append(diags, numberDiagnostic(rng))
	}
	if a.Type == schema.Duration {
		if _, err := time.ParseDuration(v.AsString()); err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid duration",
				Detail:   fmt.Sprintf("The argument %q must be a duration like \"500ms\" or \"10s\": %s.", a.Name, err),
				Subject:  rng.Ptr(),
			})
		}
	}
	if len(a.OneOf) > 0 && v.Type() == cty.String && !slices.Contains(a.OneOf, v.AsString()) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported value",
			Detail:   fmt.Sprintf("The argument %q must be one of %s; %q is not.", a.Name, quoteList(a.OneOf), v.AsString()),
			Subject:  rng.Ptr(),
		})
	}
	if caps != nil && a.Capability != "" && !slices.Contains(caps.capabilities, a.Capability) && !sameValue(v, def) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported option",
			Detail: fmt.Sprintf("The option %q needs the %q capability, which transport %q does not have.",
				a.Name, a.Capability, caps.transport),
			Subject: rng.Ptr(),
		})
	}
	return diags
}

// hasNullElement reports whether a list or map holds a null element.
func hasNullElement(v cty.Value) bool {
	if !v.CanIterateElements() {
		return false
	}
	for it := v.ElementIterator(); it.Next(); {
		if _, e := it.Element(); e.IsNull() {
			return true
		}
	}
	return false
}

// sameValue reports whether v equals def; a null def matches only null.
func sameValue(v, def cty.Value) bool {
	if def.IsNull() || v.IsNull() {
		return def.IsNull() && v.IsNull()
	}
	eq := v.Equals(def)
	return eq.IsKnown() && eq.True()
}

// marshalObject encodes a decoded object as JSON, or returns nil when it is
// not complete (unknown parts left by earlier errors).
func marshalObject(v cty.Value) []byte {
	if v == cty.NilVal || v.IsNull() || !v.IsWhollyKnown() {
		return nil
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil
	}
	return b
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
