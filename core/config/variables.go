package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "description"},
		{Name: "type"},
		{Name: "default"},
	},
}

// variableInputs are the values given to variables from outside the files.
type variableInputs struct {
	cli map[string]string
	env map[string]string
}

func newVariableInputs(opts Options) variableInputs {
	in := variableInputs{cli: opts.Vars, env: map[string]string{}}
	for _, kv := range opts.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvVarPrefix) || len(k) == len(EnvVarPrefix) {
			continue
		}
		in.env[strings.TrimPrefix(k, EnvVarPrefix)] = v
	}
	return in
}

// lookup returns the outside value of variable name and where it came from.
func (in variableInputs) lookup(name string) (value, origin string, ok bool) {
	if v, ok := in.cli[name]; ok {
		return v, fmt.Sprintf("--var %s", name), true
	}
	if v, ok := in.env[name]; ok {
		return v, "environment variable " + EnvVarPrefix + name, true
	}
	if up := strings.ToUpper(name); up != name {
		if v, ok := in.env[up]; ok {
			return v, "environment variable " + EnvVarPrefix + up, true
		}
	}
	return "", "", false
}

// variableNames returns the names declared by the variable blocks of body,
// without evaluating anything; used to check --var names.
func variableNames(body hcl.Body) []string {
	content, _, _ := body.PartialContent(&hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}},
	})
	var names []string
	for _, b := range content.Blocks {
		if len(b.Labels) == 1 {
			names = append(names, b.Labels[0])
		}
	}
	return names
}

// evalVariables evaluates the variable blocks of one file and returns the
// "var" object expressions of that file may use. A variable whose value is
// in error is unknown in the result, so later uses do not repeat the error.
func evalVariables(blocks hcl.Blocks, in variableInputs) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	values := map[string]cty.Value{}
	declared := map[string]*hcl.Block{}
	for _, b := range blocks {
		if len(b.Labels) != 1 || len(b.LabelRanges) != 1 {
			continue // reported by HCL
		}
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable name",
				Detail:   fmt.Sprintf("%q is not a valid name: use letters, digits, underscores and dashes, starting with a letter.", name),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		if prev, dup := declared[name]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate variable",
				Detail:   fmt.Sprintf("The variable %q was already declared at %s.", name, prev.DefRange),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		declared[name] = b
		v, moreDiags := evalVariable(b, name, in)
		diags = append(diags, moreDiags...)
		values[name] = v
	}
	return cty.ObjectVal(values), diags
}

func evalVariable(b *hcl.Block, name string, in variableInputs) (cty.Value, hcl.Diagnostics) {
	content, diags := b.Body.Content(variableSchema)
	ty := cty.String
	if attr, ok := content.Attributes["type"]; ok {
		if moreDiags := checkTypeNesting(attr.Expr); moreDiags.HasErrors() {
			return cty.DynamicVal, append(diags, moreDiags...)
		}
		t, moreDiags := typeexpr.Type(attr.Expr)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			return cty.DynamicVal, diags
		}
		ty = t
	}
	if attr, ok := content.Attributes["description"]; ok {
		v, moreDiags := attr.Expr.Value(nil)
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			if _, err := convert.Convert(v, cty.String); err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid description",
					Detail:   fmt.Sprintf("The description of variable %q must be a string: %s.", name, err),
					Subject:  attr.Expr.Range().Ptr(),
				})
			}
		}
	}

	var def *cty.Value
	if attr, ok := content.Attributes["default"]; ok {
		v, moreDiags := attr.Expr.Value(nil)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			v = cty.UnknownVal(ty)
		} else if cv, err := convert.Convert(v, ty); err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid default value for variable",
				Detail:   fmt.Sprintf("The default of variable %q is not a %s: %s.", name, typeexpr.TypeString(ty), err),
				Subject:  attr.Expr.Range().Ptr(),
			})
			v = cty.UnknownVal(ty)
		} else {
			v = cv
		}
		def = &v
	}

	if raw, origin, ok := in.lookup(name); ok {
		v, moreDiags := parseVariableValue(raw, origin, name, ty, b.DefRange)
		return v, append(diags, moreDiags...)
	}
	if def != nil {
		return *def, diags
	}
	return cty.UnknownVal(ty), append(diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "No value for required variable",
		Detail: fmt.Sprintf("The variable %q has no default, so it must be set with --var %s=VALUE or the environment variable %s%s.",
			name, name, EnvVarPrefix, name),
		Subject: b.DefRange.Ptr(),
	})
}

// parseVariableValue turns a value given as text on the command line or in
// the environment into a value of type ty: strings are taken literally,
// numbers and bools as written, anything else is read as an HCL
// expression. A value that does not fit is an error naming the variable,
// its type and declaration, the value and where it came from.
func parseVariableValue(raw, origin, name string, ty cty.Type, declRange hcl.Range) (cty.Value, hcl.Diagnostics) {
	invalid := func(reason string) (cty.Value, hcl.Diagnostics) {
		typ := typeexpr.TypeString(ty)
		return cty.UnknownVal(ty), hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail: fmt.Sprintf("Variable %q, declared at %s, is a %s; %s gives it %q, which is not a %s: %s.",
				name, declRange, typ, origin, raw, typ, reason),
			Subject: declRange.Ptr(),
		}}
	}
	switch {
	case ty == cty.String:
		return cty.StringVal(raw), nil
	case ty == cty.Number:
		v, err := cty.ParseNumberVal(strings.TrimSpace(raw))
		if err != nil || v.AsBigFloat().IsInf() {
			return invalid("write a number, like 10, -1 or 2.5")
		}
		return v, nil
	case ty == cty.Bool:
		switch strings.TrimSpace(raw) {
		case "true":
			return cty.True, nil
		case "false":
			return cty.False, nil
		}
		return invalid("write true or false")
	}
	hint := "write it in HCL syntax, like " + exampleValue(ty)
	if diags := checkExpressionNesting([]byte(raw), origin, hcl.InitialPos); diags.HasErrors() {
		return invalid(fmt.Sprintf("it nests more than %d levels deep", MaxNesting))
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), origin, hcl.InitialPos)
	if diags.HasErrors() {
		return invalid(hint)
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return invalid(hint)
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		return invalid(fmt.Sprintf("%s; %s", strings.TrimSuffix(err.Error(), "."), hint))
	}
	return cv, nil
}

// exampleValue writes a value of type ty in HCL syntax, for hints.
func exampleValue(ty cty.Type) string {
	switch {
	case ty == cty.String || ty == cty.DynamicPseudoType:
		return `"text"`
	case ty == cty.Number:
		return "10"
	case ty == cty.Bool:
		return "true"
	case ty.IsListType() || ty.IsSetType():
		e := exampleValue(ty.ElementType())
		return "[" + e + ", " + e + "]"
	case ty.IsMapType():
		return "{ name = " + exampleValue(ty.ElementType()) + " }"
	case ty.IsTupleType():
		var elems []string
		for _, et := range ty.TupleElementTypes() {
			elems = append(elems, exampleValue(et))
		}
		return "[" + strings.Join(elems, ", ") + "]"
	case ty.IsObjectType():
		var names []string
		for n := range ty.AttributeTypes() {
			names = append(names, n)
		}
		sort.Strings(names)
		var attrs []string
		for _, n := range names {
			attrs = append(attrs, n+" = "+exampleValue(ty.AttributeType(n)))
		}
		return "{ " + strings.Join(attrs, ", ") + " }"
	}
	return typeexpr.TypeString(ty)
}

// checkTypeNesting checks a type given as a string, which is how HCL's
// JSON syntax writes one ("list(string)"): it is parsed as a native syntax
// expression that the file's own check did not see.
func checkTypeNesting(expr hcl.Expression) hcl.Diagnostics {
	v, diags := expr.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String || !v.IsKnown() || v.IsNull() {
		return nil
	}
	rng := expr.Range()
	return checkExpressionNesting([]byte(v.AsString()), rng.Filename, rng.Start)
}
