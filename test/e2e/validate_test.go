package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
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

// unwrapped collapses every run of white space into one space, undoing the
// wrapping of diagnostics.
func unwrapped(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// wantFailure checks that r is exit status 1 with every one of wants in the
// output (line breaks aside), and no sign of a crash.
func wantFailure(t *testing.T, r zpipeResult, wants ...string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("exit status %d, want 1", r.code)
	}
	for _, want := range wants {
		if !strings.Contains(unwrapped(r.output), unwrapped(want)) {
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

// transportOf names the transport a zpipe broker kind runs on.
func transportOf(kind brokerproc.Kind) string {
	if kind == brokerproc.ZpipePurego {
		return "purego"
	}
	return "cgo"
}

// TestValidateChecksSockets: what only opening a socket used to find (an
// unknown scheme, a port out of range, an address that is none, two sockets
// binding one endpoint) is found by validate and by run alike, before
// anything opens, as a diagnostic at the list element. Each transport
// checks its sockets itself (transport.Validator).
func TestValidateChecksSockets(t *testing.T) {
	pipeline := func(name, bind string) string {
		return `pipeline "` + name + `" {
  source "pull" "in" {
    bind = ["tcp://127.0.0.1:7101", "` + bind + `"]
  }
  sink "push" "out" {
    connect = ["tcp://127.0.0.1:7102"]
  }
}
`
	}
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		tr := transportOf(kind)
		for _, bad := range []string{"foo://x", "tcp://127.0.0.1:99999", "tcp://999.1.1.1:5555"} {
			t.Run(bad, func(t *testing.T) {
				dir := writeConfig(t, map[string]string{"p.hcl": pipeline("p", bad)})
				for _, cmd := range []string{"validate", "run"} {
					r := runZpipe(t, nil, cmd, "--transport", tr, dir)
					wantFailure(t, r, `p.hcl:3:37: error: Invalid value for "bind"`, `Transport "`+tr+`" refuses bind[1]: `)
					if strings.Contains(r.output, "socket open") {
						t.Errorf("zpipe %s opened a socket:\n%s", cmd, r.output)
					}
				}
			})
		}
		t.Run("io_threads = 0", func(t *testing.T) {
			// transport-purego ignores io_threads but checks its range,
			// so a file stays valid on both transports.
			dir := writeConfig(t, map[string]string{"p.hcl": `pipeline "p" {
  source "pull" "in" {
    bind       = ["tcp://127.0.0.1:7106"]
    io_threads = 0
  }
  sink "push" "out" {
    connect = ["tcp://127.0.0.1:7107"]
  }
}
`})
			for _, cmd := range []string{"validate", "run"} {
				r := runZpipe(t, nil, cmd, "--transport", tr, dir)
				wantFailure(t, r, `p.hcl:4:18: error: Invalid value for "io_threads"`,
					`Transport "`+tr+`" refuses "io_threads": value 0: out of range [1, 64].`)
				if strings.Contains(r.output, "socket open") {
					t.Errorf("zpipe %s opened a socket:\n%s", cmd, r.output)
				}
			}
		})
		t.Run("bound twice", func(t *testing.T) {
			dir := writeConfig(t, map[string]string{
				"a.hcl": pipeline("a", "tcp://127.0.0.1:7103"),
				"b.hcl": pipeline("b", "tcp://*:7103"),
			})
			for _, cmd := range []string{"validate", "run"} {
				r := runZpipe(t, nil, cmd, "--transport", tr, dir)
				wantFailure(t, r,
					"b.hcl:3:13: error: Endpoint bound twice",
					`tcp://127.0.0.1:7101 is already bound by source "pull" "in" of pipeline "a", at `+filepath.Join(dir, "a.hcl")+":3,13-35",
					"b.hcl:3:37: error: Endpoint bound twice",
					`tcp://*:7103 overlaps tcp://127.0.0.1:7103, already bound by source "pull" "in" of pipeline "a"`)
			}
		})
	})
}

// TestValidateChecksCurveKeys: a CURVE key that is not one is found by
// validate and run, at the attribute, before anything opens: transport-cgo
// checks the key, transport-purego (no CURVE) refuses the attribute.
func TestValidateChecksCurveKeys(t *testing.T) {
	dir := writeConfig(t, map[string]string{"p.hcl": `pipeline "p" {
  source "xsub" "in" {
    bind            = ["tcp://127.0.0.1:7104"]
    curve_server    = true
    curve_secretkey = "not a key"
  }
  sink "xpub" "out" {
    bind = ["tcp://127.0.0.1:7105"]
  }
}
`})
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		tr := transportOf(kind)
		want := []string{`p.hcl:5:23: error: Invalid value for "curve_secretkey"`,
			`Transport "cgo" refuses "curve_secretkey": a CURVE key has 9 characters, want a 40-character Z85 key.`}
		if tr == "purego" {
			want = []string{`p.hcl:5:23: error: Unsupported option`,
				`The option "curve_secretkey" needs the "curve" capability, which transport "purego" does not have.`}
		}
		for _, cmd := range []string{"validate", "run"} {
			r := runZpipe(t, nil, cmd, "--transport", tr, dir)
			wantFailure(t, r, want...)
			if strings.Contains(r.output, "socket open") {
				t.Errorf("zpipe %s opened a socket:\n%s", cmd, r.output)
			}
		}
	})
}
