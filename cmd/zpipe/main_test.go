package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pluginDir holds freshly built transport plugins for the tests: cgo, and
// the in-memory test transport as "test".
var pluginDir string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "zpipe-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for name, pkg := range map[string]string{
		"zpipe-transport-cgo":  "../../plugins/transport-cgo",
		"zpipe-transport-test": "../../core/plugin/internal/testtransport",
	} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			return 1
		}
	}
	pluginDir = dir
	return m.Run()
}

type result struct {
	code           int
	stdout, stderr string
}

// zpipe runs the CLI in-process with the test plugin directory.
func zpipe(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	env := []string{"ZPIPE_PLUGIN_DIR=" + pluginDir}
	code := execute(args, strings.NewReader(""), &out, &errOut, env)
	return result{code, out.String(), errOut.String()}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const brokerFile = "../../pipelines/zeek-broker.hcl"

func TestHelpOnEveryCommand(t *testing.T) {
	for _, cmd := range [][]string{{}, {"run"}, {"validate"}, {"fmt"}, {"graph"}, {"plugins"}, {"version"}} {
		r := zpipe(t, append(cmd, "--help")...)
		if r.code != exitOK || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("zpipe %v --help: exit %d, stdout %q", cmd, r.code, r.stdout)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"run"},
		{"validate", "--no-such-flag", brokerFile},
		{"version", "extra"},
		{"validate", "--var", "novalue", brokerFile},
		{"graph", "--format", "png", brokerFile},
		{"--log-level", "loud", "validate", brokerFile},
	} {
		r := zpipe(t, args...)
		if r.code != exitUsage {
			t.Errorf("zpipe %v: want exit 2, have %d (stderr %q)", args, r.code, r.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	r := zpipe(t, "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "zpipe ") || !strings.Contains(r.stdout, "plugin protocol 1") {
		t.Fatalf("version: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestValidateBrokerPipeline(t *testing.T) {
	r := zpipe(t, "validate", brokerFile)
	if r.code != exitOK || !strings.Contains(r.stdout, "1 pipeline(s), 2 component(s)") {
		t.Fatalf("validate: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
}

func TestValidateReportsTypoWithPosition(t *testing.T) {
	p := writeFile(t, "typo.hcl", `pipeline "p" {
  source "xsub" "in" {
    bind = ["tcp://127.0.0.1:5556"]
  }
  sink "xpub" "out" {
    bnd = ["tcp://127.0.0.1:5555"]
  }
}
`)
	r := zpipe(t, "validate", p)
	if r.code != exitError {
		t.Fatalf("want exit 1, have %d\nstderr %s", r.code, r.stderr)
	}
	for _, want := range []string{"Unsupported argument", `Did you mean "bind"?`, "typo.hcl:6:5: error: Unsupported argument"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, r.stderr)
		}
	}
}

func TestValidateUnknownKindNamesWhatExists(t *testing.T) {
	p := writeFile(t, "kind.hcl", `pipeline "p" {
  source "xsubb" "in" {
    bind = ["tcp://127.0.0.1:5556"]
  }
  sink "xpub" "out" {
    bind = ["tcp://127.0.0.1:5555"]
  }
}
`)
	r := zpipe(t, "validate", p)
	if r.code != exitError || !strings.Contains(r.stderr, `"xsubb"`) || !strings.Contains(r.stderr, "xsub") || !strings.Contains(r.stderr, "kind.hcl:2:10: error:") {
		t.Fatalf("want a diagnostic on the kind naming the offered kinds; exit %d\n%s", r.code, r.stderr)
	}
}

func TestMissingPluginNamesWhereItLooked(t *testing.T) {
	empty := t.TempDir()
	var out, errOut bytes.Buffer
	code := execute([]string{"validate", "--plugin-dir", empty, brokerFile}, strings.NewReader(""), &out, &errOut, nil)
	if code != exitError {
		t.Fatalf("want exit 1, have %d", code)
	}
	if !strings.Contains(errOut.String(), "zpipe-transport-cgo") || !strings.Contains(errOut.String(), empty) {
		t.Fatalf("error should name the binary and the directories searched:\n%s", errOut.String())
	}
}

func TestTransportOverrideIsChecked(t *testing.T) {
	r := zpipe(t, "validate", "--transport", "nosuch", brokerFile)
	if r.code != exitError || !strings.Contains(r.stderr, "zpipe-transport-nosuch") {
		t.Fatalf("want an error naming zpipe-transport-nosuch; exit %d\n%s", r.code, r.stderr)
	}
}

func TestFmt(t *testing.T) {
	p := writeFile(t, "ugly.hcl", "pipeline \"p\" {\nsource \"xsub\" \"in\" {\nbind=[\"tcp://127.0.0.1:1\"]\nio_threads    =   2\n}\n}\n")
	r := zpipe(t, "fmt", "-check", p)
	if r.code != exitError || strings.TrimSpace(r.stdout) != p {
		t.Fatalf("fmt -check on an unformatted file: exit %d stdout %q", r.code, r.stdout)
	}
	before, _ := os.ReadFile(p)
	if r := zpipe(t, "fmt", p); r.code != exitOK {
		t.Fatalf("fmt: exit %d %s", r.code, r.stderr)
	}
	after, _ := os.ReadFile(p)
	if bytes.Equal(before, after) || !strings.Contains(string(after), "  source \"xsub\" \"in\" {\n    bind       = [") {
		t.Fatalf("fmt did not reformat:\n%s", after)
	}
	if r := zpipe(t, "fmt", "-check", p); r.code != exitOK || r.stdout != "" {
		t.Fatalf("fmt -check after fmt: exit %d stdout %q", r.code, r.stdout)
	}
	if r := zpipe(t, "fmt", "-check", brokerFile); r.code != exitOK {
		t.Fatalf("pipelines/zeek-broker.hcl is not formatted: %s", r.stdout)
	}
}

func TestGraphDrawsBothDirections(t *testing.T) {
	r := zpipe(t, "graph", brokerFile)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "digraph") {
		t.Fatalf("graph: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !regexp.MustCompile(`(?s)->.*dashed|dashed.*->`).MatchString(r.stdout) {
		t.Errorf("DOT output lacks a dashed subscription edge:\n%s", r.stdout)
	}
	r = zpipe(t, "graph", "--format", "mermaid", brokerFile)
	if r.code != exitOK || !strings.Contains(r.stdout, "flowchart") || !regexp.MustCompile(`p0n1 -\..*\.-> p0n0`).MatchString(r.stdout) {
		t.Fatalf("mermaid: exit %d\n%s", r.code, r.stdout)
	}
}

func TestPluginsListsTransport(t *testing.T) {
	r := zpipe(t, "plugins", "-v")
	if r.code != exitOK {
		t.Fatalf("plugins: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"transport-cgo", "link", "xsub(source)", "xpub(sink)", "send_timeout_ms", "verboser"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plugins -v output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestTypedVariableValues: a --var or ZPIPE_VAR_ value that does not fit
// its variable's type is an error naming the variable, the type, the value
// and where the variable is declared, for validate and run alike.
func TestTypedVariableValues(t *testing.T) {
	p := writeFile(t, "vars.hcl", `variable "hwm" {
  type    = number
  default = 1000
}

variable "verbose" {
  type    = bool
  default = false
}

variable "endpoints" {
  type    = list(string)
  default = ["tcp://127.0.0.1:7001"]
}

pipeline "p" {
  source "pull" "in" {
    bind   = var.endpoints
    rcvhwm = var.hwm
  }
  sink "push" "out" {
    connect   = ["tcp://127.0.0.1:7002"]
    immediate = var.verbose
  }
}
`)
	tests := []struct {
		args []string
		env  string
		want string
	}{
		{args: []string{"--var", "hwm=abc"},
			want: `vars.hcl:1:1: error: Invalid value for variable` + "\n.*" +
				`Variable "hwm", declared at \S*vars.hcl:1,1-15, is a number; --var hwm gives it "abc", which is not a number`},
		{env: "ZPIPE_VAR_hwm=ten",
			want: `Variable "hwm", declared at \S*vars.hcl:1,1-15, is a number; environment variable ZPIPE_VAR_hwm gives it "ten", which is not a number`},
		{args: []string{"--var", "verbose=yes"},
			want: `vars.hcl:6:1: error: Invalid value for variable` + "\n.*" +
				`Variable "verbose", declared at \S*vars.hcl:6,1-19, is a bool; --var verbose gives it "yes", which is not a bool: write true or false`},
		{args: []string{"--var", "endpoints=tcp://127.0.0.1:7003"},
			want: `vars.hcl:11:1: error: Invalid value for variable` + "\n.*" +
				`Variable "endpoints", declared at \S*vars.hcl:11,1-21, is a list\(string\); --var endpoints gives it "tcp://127.0.0.1:7003", which is not a list\(string\): write it in HCL syntax, like \["text", "text"\]`},
	}
	for _, tt := range tests {
		for _, cmd := range []string{"validate", "run"} {
			args := append(append([]string{cmd}, tt.args...), p)
			var out, errOut bytes.Buffer
			env := []string{"ZPIPE_PLUGIN_DIR=" + pluginDir}
			if tt.env != "" {
				env = append(env, tt.env)
			}
			code := execute(args, strings.NewReader(""), &out, &errOut, env)
			// The diagnostic is wrapped at 100 columns: compare unwrapped.
			text := strings.Join(strings.Fields(errOut.String()), " ")
			want := strings.ReplaceAll(tt.want, "\n.*", ".*")
			if code != exitError || !regexp.MustCompile(want).MatchString(text) || strings.Contains(text, "Variables may not be used here") {
				t.Errorf("zpipe %v (%s): exit %d, want 1 and a diagnostic matching %s:\n%s", args, tt.env, code, want, errOut.String())
			}
		}
	}
}
