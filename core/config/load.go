package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var fileSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "transport"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "telemetry"},
		{Type: "pipeline", LabelNames: []string{"name"}},
	},
}

// sourceFile is the text of one configuration file.
type sourceFile struct {
	name string
	src  []byte
}

// IsJSONSyntax reports whether a file of this name is read as HCL JSON
// syntax (.json, .hcl.json) rather than native syntax.
func IsJSONSyntax(path string) bool {
	return strings.HasSuffix(path, ".json")
}

// IsConfigFile reports whether a file of this name is picked up when a
// directory is loaded: .hcl and .hcl.json files. Other .json files are read
// only when named explicitly, so unrelated JSON next to a configuration is
// left alone.
func IsConfigFile(path string) bool {
	return strings.HasSuffix(path, ".hcl") || strings.HasSuffix(path, ".hcl.json")
}

// Load reads, decodes and validates the configuration files at paths. A path
// naming a directory loads the configuration files directly inside it (see
// IsConfigFile), in name order. Load reports every problem it can find in one pass; when the
// diagnostics hold errors the Config is incomplete and must not be run.
func Load(paths []string, opts Options, schemas Schemas) (*Config, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var files []sourceFile
	seen := map[string]bool{}
	add := func(path string) {
		key := filepath.Clean(path)
		if seen[key] {
			return
		}
		seen[key] = true
		src, err := ReadFile(path)
		if err != nil {
			d := &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Failed to read file",
				Detail:   fmt.Sprintf("The configuration file %q could not be read: %s.", path, err),
			}
			if errors.Is(err, errFileTooLarge) {
				d.Summary = "File too large"
				d.Subject = &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}
			}
			diags = append(diags, d)
			return
		}
		files = append(files, sourceFile{name: path, src: src})
	}
	for _, path := range paths {
		info, err := os.Stat(path)
		if err != nil || !info.IsDir() {
			add(path)
			continue
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Failed to read directory",
				Detail:   fmt.Sprintf("The configuration directory %q could not be read: %s.", path, err),
			})
			continue
		}
		found := false
		for _, e := range entries {
			if e.IsDir() || !IsConfigFile(e.Name()) {
				continue
			}
			found = true
			file := filepath.Join(path, e.Name())
			// Only regular files: a FIFO would block the read forever.
			if info, err := os.Stat(file); err == nil && !info.Mode().IsRegular() && !info.IsDir() {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Not a regular file",
					Detail:   fmt.Sprintf("The directory %q holds %q, which is named like a configuration file but is a %s; only regular files are read.", path, e.Name(), fileKind(info.Mode())),
				})
				continue
			}
			add(file)
		}
		if !found {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No configuration files",
				Detail:   fmt.Sprintf("The directory %q holds no .hcl or .hcl.json files.", path),
			})
		}
	}
	if len(paths) == 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No configuration files",
			Detail:   "At least one configuration file is needed.",
		})
	}
	cfg, moreDiags := load(files, opts, schemas)
	return cfg, append(diags, moreDiags...)
}

// errFileTooLarge is returned by ReadFile for a file over MaxFileSize.
var errFileTooLarge = fmt.Errorf("the file is larger than %d bytes (%d MiB), the most a configuration file may hold", MaxFileSize, MaxFileSize>>20)

// ReadFile reads a configuration file of at most MaxFileSize bytes.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(src) > MaxFileSize {
		return nil, errFileTooLarge
	}
	return src, nil
}

// fileKind names the type of a file that is not a regular one.
func fileKind(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "named pipe"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// loader holds the state of one Load across files.
type loader struct {
	opts      Options
	schemas   Schemas
	inputs    variableInputs
	cfg       *Config
	pipelines map[string]*Pipeline
	// binds are the endpoints the sockets bind, as their transports
	// report them.
	binds []bindSite
	// secrets are the texts of sensitive values, for Config.Redact.
	secrets []string
}

// load decodes already read files; the name of each is used in ranges.
func load(files []sourceFile, opts Options, schemas Schemas) (*Config, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	parser := hclparse.NewParser()
	order := map[string]int{}
	var parsed []sourceFile
	parseFailed := false
	for i, f := range files {
		order[f.name] = i
		var file *hcl.File
		var d hcl.Diagnostics
		if IsJSONSyntax(f.name) {
			if d = checkJSONNesting(f.src, f.name); !d.HasErrors() {
				file, d = parser.ParseJSON(f.src, f.name)
			}
		} else {
			if d = checkNativeNesting(f.src, f.name); !d.HasErrors() {
				file, d = parser.ParseHCL(f.src, f.name)
			}
		}
		diags = append(diags, d...)
		if d.HasErrors() || file == nil || file.Body == nil {
			parseFailed = true
			continue
		}
		parsed = append(parsed, f)
	}

	inputs, moreDiags := newVariableInputs(opts)
	diags = append(diags, moreDiags...)
	l := &loader{
		opts:      opts,
		schemas:   schemas,
		inputs:    inputs,
		cfg:       &Config{Files: parser.Files()},
		pipelines: map[string]*Pipeline{},
	}
	if !parseFailed {
		diags = append(diags, l.checkVarNames(parsed)...)
	}
	for _, f := range parsed {
		diags = append(diags, l.loadFile(f.name, l.cfg.Files[f.name])...)
	}
	diags = append(diags, l.checkBinds()...)
	l.cfg.setSecrets(l.secrets)
	for _, d := range diags {
		d.Summary, d.Detail = l.cfg.Redact(d.Summary), l.cfg.Redact(d.Detail)
	}
	sortDiagnostics(diags, order)
	return l.cfg, diags
}

// checkVarNames reports --var and --var-file values naming variables no
// file declares.
func (l *loader) checkVarNames(files []sourceFile) hcl.Diagnostics {
	declared := map[string]bool{}
	for _, f := range files {
		for _, name := range variableNames(l.cfg.Files[f.name].Body) {
			declared[name] = true
		}
	}
	var diags hcl.Diagnostics
	for _, given := range []struct {
		flag  string
		names []string
	}{{"--var", slices.Collect(maps.Keys(l.opts.Vars))}, {"--var-file", slices.Collect(maps.Keys(l.opts.VarFiles))}} {
		sort.Strings(given.names)
		for _, name := range given.names {
			if declared[name] {
				continue
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Undeclared variable",
				Detail:   fmt.Sprintf("A value was given for variable %q by %s, but no configuration file declares a variable of that name.", name, given.flag),
			})
		}
	}
	return diags
}

// loadFile decodes the top level of one file.
func (l *loader) loadFile(name string, file *hcl.File) hcl.Diagnostics {
	content, diags := file.Body.Content(fileSchema)

	vars, secrets, moreDiags := evalVariables(content.Blocks.OfType("variable"), l.inputs)
	diags = append(diags, moreDiags...)
	l.secrets = append(l.secrets, secrets...)
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": vars}}

	transport := DefaultTransport
	if attr, ok := content.Attributes["transport"]; ok {
		v, moreDiags := evalString(attr.Expr, ctx, "transport")
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			if v == "" {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid transport",
					Detail:   "The transport must name a transport plugin, like \"cgo\" or \"purego\".",
					Subject:  attr.Expr.Range().Ptr(),
				})
			} else {
				transport = v
			}
		}
	}
	if l.opts.Transport != "" {
		transport = l.opts.Transport
	}

	for _, b := range content.Blocks.OfType("telemetry") {
		if prev := l.cfg.Telemetry; prev != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate telemetry block",
				Detail:   fmt.Sprintf("Only one telemetry block is allowed across all files; one is already declared at %s.", prev.DeclRange),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		t, moreDiags := decodeTelemetry(b, ctx)
		diags = append(diags, moreDiags...)
		l.cfg.Telemetry = t
	}

	for _, b := range content.Blocks.OfType("pipeline") {
		diags = append(diags, l.loadPipeline(name, b, transport, ctx)...)
	}
	return diags
}

// evalString evaluates expr to a known, non-null string.
func evalString(expr hcl.Expression, ctx *hcl.EvalContext, what string) (string, hcl.Diagnostics) {
	v, diags := evalAs(expr, ctx, cty.String, what)
	if diags.HasErrors() || v.IsNull() || !v.IsKnown() {
		return "", diags
	}
	return v.AsString(), diags
}

// evalAs evaluates expr and converts it to ty. A null result is an error; an
// unknown result (left by an earlier error) is returned without one.
func evalAs(expr hcl.Expression, ctx *hcl.EvalContext, ty cty.Type, what string) (cty.Value, hcl.Diagnostics) {
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return cty.UnknownVal(ty), diags
	}
	v, _ = v.UnmarkDeep() // what Redact hides is hidden in messages anyway
	if v.IsNull() {
		return cty.UnknownVal(ty), append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing value",
			Detail:   fmt.Sprintf("The %s must not be null.", what),
			Subject:  expr.Range().Ptr(),
		})
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		return cty.UnknownVal(ty), append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect value type",
			Detail:   fmt.Sprintf("The %s must be a %s: %s.", what, ty.FriendlyName(), err),
			Subject:  expr.Range().Ptr(),
		})
	}
	return cv, diags
}

// validName reports a diagnostic when a label is not an identifier, which
// names must be so that they can be referenced and form readable IDs.
func validName(what, name string, rng hcl.Range) hcl.Diagnostics {
	if hclsyntax.ValidIdentifier(name) {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid " + what,
		Detail:   fmt.Sprintf("%q is not a valid %s: use letters, digits, underscores and dashes, starting with a letter.", name, what),
		Subject:  rng.Ptr(),
	}}
}

// sortDiagnostics orders diagnostics by file (in load order) and position;
// diagnostics without a place come first. HCL reports some problems in map
// order, so sorting keeps the output stable.
func sortDiagnostics(diags hcl.Diagnostics, order map[string]int) {
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		switch {
		case a.Subject == nil && b.Subject == nil:
			return 0
		case a.Subject == nil:
			return -1
		case b.Subject == nil:
			return 1
		}
		fa, okA := order[a.Subject.Filename]
		fb, okB := order[b.Subject.Filename]
		if !okA {
			fa = len(order)
		}
		if !okB {
			fb = len(order)
		}
		return cmp.Or(
			cmp.Compare(fa, fb),
			cmp.Compare(a.Subject.Filename, b.Subject.Filename),
			cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte),
		)
	})
}
