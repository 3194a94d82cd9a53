package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// zpipeResult is the outcome of one zpipe command.
type zpipeResult struct {
	code   int
	output string // stdout and stderr
}

// runZpipe runs the zpipe binary with args and extra environment entries
// and waits for it to exit.
func runZpipe(t *testing.T, env []string, args ...string) zpipeResult {
	t.Helper()
	if brokers.zpipeBin == "" {
		t.Fatalf("this test needs the zpipe binary; %s selects %v", envBrokers, brokers.kinds)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, brokers.zpipeBin, args...)
	cmd.Env = append(append(os.Environ(), envPluginDir+"="+brokers.pluginDir), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return zpipeResult{0, string(out)}
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return zpipeResult{exit.ExitCode(), string(out)}
	}
	t.Fatalf("zpipe %v: %v\n%s", args, err, out)
	return zpipeResult{}
}

// writeConfig writes files into a fresh directory and returns it.
func writeConfig(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// wantFailure checks that r is exit status 1 with every one of wants in the
// output, and no sign of a crash.
func wantFailure(t *testing.T, r zpipeResult, wants ...string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("exit status %d, want 1", r.code)
	}
	for _, want := range wants {
		if !strings.Contains(r.output, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, crash := range []string{"goroutine ", "stack overflow", "panic:"} {
		if strings.Contains(r.output, crash) {
			t.Errorf("output shows a crash (%q)", crash)
		}
	}
	if t.Failed() {
		out := r.output
		if len(out) > 4000 {
			out = out[:4000] + "…"
		}
		t.Logf("output:\n%s", out)
	}
}

// goodPipeline is a valid pipeline on the default transport.
const goodPipeline = `pipeline "p" {
  source "pull" "in" {
    bind = ["tcp://127.0.0.1:7001"]
  }
  sink "push" "out" {
    connect = ["tcp://127.0.0.1:7002"]
  }
}
`

// TestDeepNestingIsADiagnostic: a file nesting an expression 100,000
// deep, in either syntax, next to a valid one in a configuration
// directory, makes validate and run exit 1 with a diagnostic on the
// file's line, instead of overflowing the stack.
func TestDeepNestingIsADiagnostic(t *testing.T) {
	const n = 100_000
	deep := strings.Repeat("(", n) + "1" + strings.Repeat(")", n)
	tests := map[string]struct {
		file, src, where string
	}{
		"native": {"deep.hcl", "variable \"x\" {\n  type    = number\n  default = " + deep + "\n}\n", "deep.hcl:3:"},
		"json": {"deep.hcl.json", `{"variable": {"x": {"default": ` + strings.Repeat("[", n) + "1" + strings.Repeat("]", n) + "}}}\n",
			"deep.hcl.json:1:"},
		"json template": {"deep.hcl.json", `{"pipeline": {"q": {"source": {"pull": {"in": {"bind": ["${` + deep + `}"]}}}, "sink": {"push": {"out": {}}}}}}` + "\n",
			"deep.hcl.json:1:"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeConfig(t, map[string]string{"good.hcl": goodPipeline, tt.file: tt.src})
			for _, cmd := range []string{"validate", "run", "graph"} {
				t.Run(cmd, func(t *testing.T) {
					wantFailure(t, runZpipe(t, nil, cmd, dir), tt.where, "error: Nesting too deep")
				})
			}
		})
	}
	t.Run("fmt", func(t *testing.T) {
		dir := writeConfig(t, map[string]string{"deep.hcl": "x = " + deep + "\n"})
		wantFailure(t, runZpipe(t, nil, "fmt", filepath.Join(dir, "deep.hcl")), "deep.hcl:1,", "Nesting too deep")
	})
	t.Run("variable value", func(t *testing.T) {
		// 60,000 levels: the most one environment entry holds (128 KiB),
		// and enough to overflow the stack.
		const n = 60_000
		dir := writeConfig(t, map[string]string{"v.hcl": "variable \"x\" {\n  type = list(number)\n}\n" + goodPipeline})
		wantFailure(t, runZpipe(t, []string{"ZPIPE_VAR_x=" + strings.Repeat("[", n) + strings.Repeat("]", n)}, "validate", dir),
			"v.hcl:1:1: error: Invalid value for variable", "nests more than 100 levels deep")
	})
}
