package config

import (
	"fmt"
	"io"
	"os"
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
		{Name: "sensitive"},
	},
}

// sensitiveMark marks the values of sensitive variables, and with cty's
// mark propagation every value computed from them.
const sensitiveMark = "sensitive"

// variableInputs are the values given to variables from outside the files.
type variableInputs struct {
	cli   map[string]string
	files map[string]varFile
	env   map[string]string
}

// varFile is a value read from a file named with --var-file.
type varFile struct {
	path, value string
	// ok is false when the file could not be read (already reported).
	ok bool
}

// newVariableInputs gathers the values of opts, reading the files of
// --var-file: an unreadable file is an error, one that users other than
// its owner can read a warning.
func newVariableInputs(opts Options) (variableInputs, hcl.Diagnostics) {
	in := variableInputs{cli: opts.Vars, files: map[string]varFile{}, env: map[string]string{}}
	for _, kv := range opts.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvVarPrefix) || len(k) == len(EnvVarPrefix) {
			continue
		}
		in.env[strings.TrimPrefix(k, EnvVarPrefix)] = v
	}
	names := make([]string, 0, len(opts.VarFiles))
	for name := range opts.VarFiles {
		names = append(names, name)
	}
	sort.Strings(names)
	var diags hcl.Diagnostics
	for _, name := range names {
		f, moreDiags := readVarFile(name, opts.VarFiles[name])
		diags = append(diags, moreDiags...)
		in.files[name] = f
	}
	return in, diags
}

// readVarFile reads the value of variable name from path: the whole file,
// less one trailing line break.
func readVarFile(name, path string) (varFile, hcl.Diagnostics) {
	f := varFile{path: path}
	fail := func(err error) (varFile, hcl.Diagnostics) {
		return f, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read variable file",
			Detail:   fmt.Sprintf("The file %q given by --var-file %s could not be read: %s.", path, name, err),
		}}
	}
	file, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return fail(err)
	}
	raw, err := io.ReadAll(io.LimitReader(file, MaxFileSize+1))
	if err != nil {
		return fail(err)
	}
	if len(raw) > MaxFileSize {
		return fail(fmt.Errorf("it is larger than %d bytes", MaxFileSize))
	}
	value := string(raw)
	if v, ok := strings.CutSuffix(value, "\n"); ok {
		value = strings.TrimSuffix(v, "\r")
	}
	f.value, f.ok = value, true
	var diags hcl.Diagnostics
	if perm := info.Mode().Perm(); info.Mode().IsRegular() && perm&0o044 != 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Variable file readable by others",
			Detail: fmt.Sprintf("The file %q given by --var-file %s can be read by users other than its owner (mode %04o); a file holding a secret should not be: chmod 600 %s.",
				path, name, perm, path),
		})
	}
	return f, diags
}

// variableInput is the value of a variable given from outside the files.
type variableInput struct {
	raw, origin string
	// failed is set when the value could not be read (already reported).
	failed bool
	// cli is set for --var, which leaves the value in the process list.
	cli bool
}

// lookup returns the outside value of variable name and where it came
// from: --var, --var-file, then the environment.
func (in variableInputs) lookup(name string) (variableInput, bool) {
	if v, ok := in.cli[name]; ok {
		return variableInput{raw: v, origin: "--var " + name, cli: true}, true
	}
	if f, ok := in.files[name]; ok {
		return variableInput{raw: f.value, origin: fmt.Sprintf("--var-file %s (%s)", name, f.path), failed: !f.ok}, true
	}
	if v, ok := in.env[name]; ok {
		return variableInput{raw: v, origin: "environment variable " + EnvVarPrefix + name}, true
	}
	if up := strings.ToUpper(name); up != name {
		if v, ok := in.env[up]; ok {
			return variableInput{raw: v, origin: "environment variable " + EnvVarPrefix + up}, true
		}
	}
	return variableInput{}, false
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
// "var" object expressions of that file may use, and the text of every
// sensitive value (see secretTexts). A variable whose value is in error is
// unknown in the result, so later uses do not repeat the error; the value
// of a sensitive variable is marked sensitiveMark.
func evalVariables(blocks hcl.Blocks, in variableInputs) (cty.Value, []string, hcl.Diagnostics) {
	var secrets []string
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
		v, sensitive, moreDiags := evalVariable(b, name, in)
		diags = append(diags, moreDiags...)
		if sensitive {
			secrets = append(secrets, secretTexts(v)...)
			v = v.Mark(sensitiveMark)
		}
		values[name] = v
	}
	return cty.ObjectVal(values), secrets, diags
}

// evalVariable evaluates one variable block: its value and whether it is
// sensitive.
func evalVariable(b *hcl.Block, name string, in variableInputs) (cty.Value, bool, hcl.Diagnostics) {
	content, diags := b.Body.Content(variableSchema)
	sensitive := false
	if attr, ok := content.Attributes["sensitive"]; ok {
		v, moreDiags := attr.Expr.Value(nil)
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			if v.Type() != cty.Bool || v.IsNull() || !v.IsKnown() {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid sensitive setting",
					Detail:   fmt.Sprintf("The sensitive setting of variable %q must be true or false.", name),
					Subject:  attr.Expr.Range().Ptr(),
				})
			} else {
				sensitive = v.True()
			}
		}
	}
	v, moreDiags := variableValue(b, name, content, sensitive, in)
	return v, sensitive, append(diags, moreDiags...)
}

// variableValue works out the type and value of a variable.
func variableValue(b *hcl.Block, name string, content *hcl.BodyContent, sensitive bool, in variableInputs) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
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

	if input, ok := in.lookup(name); ok {
		if input.failed {
			return cty.UnknownVal(ty), diags
		}
		if sensitive && input.cli {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Sensitive value on the command line",
				Detail: fmt.Sprintf("Variable %q is sensitive, but --var puts its value on the command line, where every local user can read it (ps, /proc/PID/cmdline). Give it with --var-file %s=PATH or the environment variable %s%s instead.",
					name, name, EnvVarPrefix, name),
				Subject: b.DefRange.Ptr(),
			})
		}
		v, moreDiags := parseVariableValue(input, name, ty, sensitive, b.DefRange)
		return v, append(diags, moreDiags...)
	}
	if def != nil {
		return *def, diags
	}
	how := fmt.Sprintf("--var %s=VALUE", name)
	if sensitive {
		how = fmt.Sprintf("--var-file %s=PATH", name)
	}
	return cty.UnknownVal(ty), append(diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "No value for required variable",
		Detail: fmt.Sprintf("The variable %q has no default, so it must be set with %s or the environment variable %s%s.",
			name, how, EnvVarPrefix, name),
		Subject: b.DefRange.Ptr(),
	})
}

// secretTexts returns the text of every non-empty string in v, where a
// sensitive value could show in a message.
func secretTexts(v cty.Value) []string {
	var out []string
	_ = cty.Walk(v, func(_ cty.Path, v cty.Value) (bool, error) {
		if v.IsKnown() && !v.IsNull() && v.Type() == cty.String && v.AsString() != "" {
			out = append(out, v.AsString())
		}
		return true, nil
	})
	return out
}

// parseVariableValue turns a value given as text on the command line or in
// the environment into a value of type ty: strings are taken literally,
// numbers and bools as written, anything else is read as an HCL
// expression. A value that does not fit is an error naming the variable,
// its type and declaration, the value and where it came from.
func parseVariableValue(in variableInput, name string, ty cty.Type, sensitive bool, declRange hcl.Range) (cty.Value, hcl.Diagnostics) {
	raw, origin := in.raw, in.origin
	invalid := func(reason string) (cty.Value, hcl.Diagnostics) {
		typ := typeexpr.TypeString(ty)
		shown := fmt.Sprintf("%q", raw)
		if sensitive {
			shown = "a value (not shown: the variable is sensitive)"
		}
		return cty.UnknownVal(ty), hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail: fmt.Sprintf("Variable %q, declared at %s, is a %s; %s gives it %s, which is not a %s: %s.",
				name, declRange, typ, origin, shown, typ, reason),
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
		if !numberInRange(strings.TrimSpace(raw)) {
			return invalid(fmt.Sprintf("it is not zero and not from 1e-%d to below 1e%d", MaxExponent, MaxExponent+1))
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
		return invalid(strings.TrimSuffix(diags[0].Detail, "."))
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
