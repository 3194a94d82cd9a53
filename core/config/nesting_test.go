package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// deep is how deeply the hostile inputs below nest: far beyond what HCL's
// recursive parser survives on Go's 1 GB stack with the larger shapes.
const deep = 100_000

// nested returns open n times, then middle, then close n times.
func nested(open, middle, close string, n int) string {
	return strings.Repeat(open, n) + middle + strings.Repeat(close, n)
}

// defaultFile is a native syntax file whose variable "x" has expr as default,
// on line 2 from column 13.
func defaultFile(expr string) string {
	return "variable \"x\" {\n  default = " + expr + "\n}\n"
}

// nestingCases are expressions nesting n steps deep, by every construct
// that makes HCL recurse. Each step counts levels levels; base more levels
// are open at the innermost point (the key of the last index; the quote
// and the closing %{endif} around template directives).
var nestingCases = []struct {
	name         string
	expr         func(n int) string
	levels, base int
}{
	{"parentheses", func(n int) string { return nested("(", "1", ")", n) }, 1, 0},
	{"tuples", func(n int) string { return nested("[", "1", "]", n) }, 1, 0},
	{"objects", func(n int) string { return nested("{a = ", "1", "}", n) }, 1, 0},
	{"unary minus", func(n int) string { return strings.Repeat("-", n) + "1" }, 1, 0},
	{"negation", func(n int) string { return strings.Repeat("!", n) + "true" }, 1, 0},
	{"binary operators", func(n int) string { return "1" + strings.Repeat(" + 1", n) }, 1, 0},
	{"conditionals", func(n int) string { return strings.Repeat("true ? 1 : ", n) + "1" }, 2, 0},
	{"indexes", func(n int) string { return "[1]" + strings.Repeat("[0]", n) }, 1, 1},
	{"attributes", func(n int) string { return "var" + strings.Repeat(".x", n) }, 1, 0},
	{"splats", func(n int) string { return "[1]" + strings.Repeat("[*]", n) }, 1, 2},
	{"function calls", func(n int) string { return nested("f(", "1", ")", n) }, 1, 0},
	{"interpolations", func(n int) string { return nested(`"${`, "1", `}"`, n) }, 2, 0},
	{"template directives", func(n int) string { return `"` + nested("%{if true}", "x", "%{endif}", n) + `"` }, 1, 2},
	{"for expressions", func(n int) string { return nested("[for x in ", "[1]", " : x]", n) }, 1, 1},
	// A for expression ignores line breaks, also after a comment.
	{"operators over lines in a for expression", func(n int) string {
		return "{ # comment\n for k, v in y : k => 1" + strings.Repeat("\n + 1", n) + "}"
	}, 1, 2},
}

// TestDeepNestingIsRefused: every way of nesting an expression 100,000
// deep (or as deep as MaxFileSize allows) is a diagnostic on the file's
// line, not a crash.
func TestDeepNestingIsRefused(t *testing.T) {
	for _, tc := range nestingCases {
		t.Run(tc.name, func(t *testing.T) {
			n := min(deep, MaxFileSize/len(tc.expr(1))-1)
			_, paths := writeFiles(t, map[string]string{"deep.hcl": defaultFile(tc.expr(n))})
			_, diags := Load(paths, Options{}, testSchemas{})
			checkNestingError(t, paths[0], 2, diags)
		})
	}
}

// TestNestingLimit: an expression nesting MaxNesting levels is accepted,
// one more level is not; in a file, the block around it counts one.
func TestNestingLimit(t *testing.T) {
	for _, tc := range nestingCases {
		t.Run(tc.name, func(t *testing.T) {
			check := func(src string, block int) hcl.Diagnostics {
				if block == 0 {
					return checkExpressionNesting([]byte(src), "expr", hcl.InitialPos)
				}
				return checkNativeNesting([]byte(defaultFile(src)), "file.hcl")
			}
			for block := range 2 {
				steps := (MaxNesting - tc.base - block) / tc.levels
				if d := check(tc.expr(steps), block); d.HasErrors() {
					t.Errorf("%d steps (%d levels, %d in a block) refused: %s", steps, steps*tc.levels+tc.base, block, d.Error())
				}
				if d := check(tc.expr(steps+1), block); !d.HasErrors() {
					t.Errorf("%d steps (%d levels, %d in a block) accepted", steps+1, (steps+1)*tc.levels+tc.base, block)
				}
			}
		})
	}
}

// TestWideIsNotDeep: long lists, many attributes and object items, each
// with operators, and long templates are not nesting.
func TestWideIsNotDeep(t *testing.T) {
	n := 10 * MaxNesting
	var b strings.Builder
	fmt.Fprintf(&b, "variable \"list\" {\n  default = [%s1]\n}\n", strings.Repeat("1 + 1, ", n))
	fmt.Fprintf(&b, "variable \"template\" {\n  default = \"%s\"\n}\n", strings.Repeat("${1 + 1}%{if true}x%{endif}", n))
	b.WriteString("variable \"object\" {\n  default = {\n")
	for i := range n {
		fmt.Fprintf(&b, "    a%d = 1 + 1 == 2 ? \"x\" : \"y\"\n", i)
	}
	b.WriteString("  }\n}\n")
	b.WriteString("pipeline \"p\" {\n  source \"pull\" \"in\" {\n    bind = [\"tcp://127.0.0.1:1\"]\n")
	for i := range n {
		fmt.Fprintf(&b, "    # %d\n    linger_ms = -1 + %d - %d // with a comment\n    /* and */ io_threads = var.x.y # another\n", i, i, i)
	}
	b.WriteString("  }\n  sink \"push\" \"out\" {}\n}\n")
	if d := checkNativeNesting([]byte(b.String()), "wide.hcl"); d.HasErrors() {
		t.Fatalf("wide file refused: %s", d.Error())
	}
}

// TestDeepJSONIsRefused: the same in HCL's JSON syntax, where arrays and
// objects nest, strings are templates and a variable's type is a native
// syntax expression in a string.
func TestDeepJSONIsRefused(t *testing.T) {
	tests := []struct {
		name, src string
	}{
		{"arrays", `{"variable": {"x": {"default": ` + nested("[", "1", "]", deep) + `}}}`},
		{"objects", `{"variable": {"x": {"default": ` + nested(`{"a": `, "1", "}", deep) + `}}}`},
		{"template", `{"variable": {"x": {"default": "${` + nested("(", "1", ")", deep) + `}"}}}`},
		{"template in a block", `{"pipeline": {"p": {"source": {"pull": {"in": {"bind": ["${` + nested("-", "", "", deep) + `1}"]}}}}}}`},
		{"type", `{"variable": {"x": {"type": "` + nested("list(", "string", ")", deep) + `"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, paths := writeFiles(t, map[string]string{"deep.hcl.json": tt.src + "\n"})
			_, diags := Load(paths, Options{}, testSchemas{})
			checkNestingError(t, paths[0], 1, diags)
		})
	}
}

// TestDeepVariableValueIsRefused: a typed variable's value from the
// command line or the environment is parsed as an expression too.
func TestDeepVariableValueIsRefused(t *testing.T) {
	_, paths := writeFiles(t, map[string]string{"v.hcl": "variable \"x\" {\n  type = list(number)\n}\n"})
	value := nested("[", "1", "]", deep)
	for _, opts := range []Options{
		{Vars: map[string]string{"x": value}},
		{Env: []string{"ZPIPE_VAR_x=" + value}},
	} {
		_, diags := Load(paths, opts, testSchemas{})
		if len(diags) != 1 || diags[0].Summary != "Invalid value for variable" || !strings.Contains(diags[0].Detail, "nests more than") {
			t.Errorf("diagnostics %v, want one saying the value nests too deep", diags)
		}
	}
}

func TestFormatRefusesDeepNesting(t *testing.T) {
	_, err := Format("deep.hcl", []byte(defaultFile(nested("(", "1", ")", deep))))
	if err == nil || !strings.Contains(err.Error(), "Nesting too deep") {
		t.Fatalf("Format: %v, want a nesting error", err)
	}
}

// TestLargeFileIsRefused: a file over MaxFileSize is not read whole.
func TestLargeFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.hcl")
	src := "# " + strings.Repeat("x", MaxFileSize) + "\n"
	if err := os.WriteFile(big, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags := Load([]string{dir}, Options{}, testSchemas{})
	checkErrors(t, big, diags, []wantDiag{{"File too large", "larger than 1048576 bytes", "1:1"}})
}

// checkNestingError wants exactly one error: the nesting diagnostic in
// file on line, or below it for an expression over several lines.
func checkNestingError(t *testing.T, file string, line int, diags hcl.Diagnostics) {
	t.Helper()
	if len(diags) != 1 {
		t.Fatalf("got %d diagnostics, want 1: %v", len(diags), diags)
	}
	d := diags[0]
	if d.Summary != "Nesting too deep" || d.Subject == nil || d.Subject.Filename != file || d.Subject.Start.Line < line {
		t.Fatalf("diagnostic %q at %v, want \"Nesting too deep\" in %s from line %d", d.Summary, d.Subject, file, line)
	}
}

// BenchmarkNestingCheck measures the scan that precedes parsing, against
// parsing itself as the baseline, on the ready broker file.
func BenchmarkNestingCheck(b *testing.B) {
	src, err := os.ReadFile("../../pipelines/zeek-broker.hcl")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			if d := checkNativeNesting(src, "zeek-broker.hcl"); d.HasErrors() {
				b.Fatal(d)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			if _, d := hclsyntax.ParseConfig(src, "zeek-broker.hcl", hcl.InitialPos); d.HasErrors() {
				b.Fatal(d)
			}
		}
	})
}

// TestNumbersOutOfRange: a number too large or too small to write out in
// reasonable time is refused, written in either syntax, given as a
// variable's value, or converted from a string.
func TestNumbersOutOfRange(t *testing.T) {
	for lit, ok := range map[string]bool{
		"0": true, "0.0e99999999": true, "1e1000": true, "9.99e1000": true, "12e999": true, "12e1000": false, "1e1001": false,
		"1e-1000": true, "0.01e-998": true, "0.01e-999": false, "1e100000000": false, "1e99999999999999999999": false,
		"-1e2000": false, "123456789": true, "1.5E+10": true, "1e-100000000": false,
	} {
		if numberInRange(lit) != ok {
			t.Errorf("numberInRange(%s) = %v, want %v", lit, !ok, ok)
		}
	}
	pipeline := func(rcvhwm string) string {
		return `pipeline "p" {
  source "pull" "in" {
    bind   = ["tcp://127.0.0.1:7001"]
    rcvhwm = ` + rcvhwm + `
  }
  sink "push" "out" {}
}
`
	}
	tests := []struct {
		name, file, src string
		opts            Options
		want            wantDiag
	}{
		{"literal", "p.hcl", pipeline("1e100000000"), Options{}, wantDiag{"Number out of range", "from 1e-1000 to below 1e1001", "4:14"}},
		{"in a template", "p.hcl", pipeline(`"${1e-100000000}"`), Options{}, wantDiag{"Number out of range", "", "4:17"}},
		{"string converted", "p.hcl", pipeline(`"1e100000000"`), Options{}, wantDiag{"Number out of range", "", "4:14"}},
		{"JSON", "p.hcl.json", `{"pipeline": {"p": {"source": {"pull": {"in": {"rcvhwm": 1e100000000}}}}}}`, Options{}, wantDiag{"Number out of range", "", "1:58"}},
		{"number variable", "p.hcl", "variable \"n\" {\n  type = number\n}\n", Options{Vars: map[string]string{"n": "1e100000000"}},
			wantDiag{"Invalid value for variable", `gives it "1e100000000", which is not a number: it is not zero and not from 1e-1000 to below 1e1001.`, "1:1"}},
		{"string variable", "p.hcl", "variable \"n\" {}\n" + pipeline("var.n"), Options{Env: []string{"ZPIPE_VAR_n=1e100000000"}},
			wantDiag{"Number out of range", "", "5:14"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, paths := writeFiles(t, map[string]string{tt.file: tt.src})
			_, diags := Load(paths, tt.opts, testSchemas{})
			checkErrors(t, paths[0], diags, []wantDiag{tt.want})
		})
	}
}
