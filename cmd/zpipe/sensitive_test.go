package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/config"
)

// secretValue is a value that no output may show.
const secretValue = "tcp://999.1.1.1:5555"

// sensitiveFile binds to a sensitive endpoint that no host has (libzmq:
// "no such device"), and uses it as a framing, which it is not.
const sensitiveFile = `variable "endpoint" {
  description = "An endpoint as secret as a key."
  sensitive   = true
}

pipeline "p" {
  source "pull" "in" {
    bind = [var.endpoint]
  }
  sink "push" "out" {
    connect = ["tcp://127.0.0.1:7002"]
  }
}

pipeline "q" {
  source "pull" "in" {
    bind    = ["tcp://127.0.0.1:7003"]
    framing = var.endpoint
  }
  sink "push" "out" {
    connect = ["tcp://127.0.0.1:7004"]
  }
}
`

// zpipeEnv runs the CLI in-process with extra environment entries.
func zpipeEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(args, strings.NewReader(""), &out, &errOut, append([]string{"ZPIPE_PLUGIN_DIR=" + pluginDir}, env...))
	return result{code, out.String(), errOut.String()}
}

// TestSensitiveValueNeverShown: validate, graph and run print no sensitive
// value, whether zpipe, HCL or the transport (at open) would have quoted
// it, and whether it came from the environment, a file or --var (which
// draws a warning).
func TestSensitiveValueNeverShown(t *testing.T) {
	p := writeFile(t, "p.hcl", sensitiveFile)
	keyFile := filepath.Join(t.TempDir(), "endpoint")
	if err := os.WriteFile(keyFile, []byte(secretValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	givens := []struct {
		name string
		env  []string
		args []string
	}{
		{"environment", []string{"ZPIPE_VAR_endpoint=" + secretValue}, nil},
		{"file", nil, []string{"--var-file", "endpoint=" + keyFile}},
		{"command line", nil, []string{"--var", "endpoint=" + secretValue}},
	}
	for _, given := range givens {
		for _, cmd := range []string{"validate", "graph", "run"} {
			args := append(append([]string{cmd, "--status-interval", "0"}, given.args...), p)
			if cmd != "run" {
				args = append(append([]string{cmd}, given.args...), p)
			}
			r := zpipeEnv(t, given.env, args...)
			out := r.stdout + r.stderr
			if r.code != exitError || !strings.Contains(out, `"framing" must be one of "zeek", "raw"; "(sensitive)" is not`) {
				t.Errorf("%s, %s: exit %d, want 1 and the framing error with the value hidden:\n%s", given.name, cmd, r.code, out)
			}
			if strings.Contains(out, "999.1.1.1") {
				t.Errorf("%s, %s: the sensitive value shows:\n%s", given.name, cmd, out)
			}
			warned := strings.Contains(out, "warning: Sensitive value on the command line")
			if warned != (given.name == "command line") {
				t.Errorf("%s, %s: warning about --var %v, want %v:\n%s", given.name, cmd, warned, !warned, out)
			}
		}
	}

	// With a valid framing, run fails when the transport opens the
	// socket (or, with a transport that validates, before); its error
	// quotes the endpoint.
	fixed := writeFile(t, "fixed.hcl", strings.Replace(sensitiveFile, "framing = var.endpoint", `framing = "raw"`, 1))
	r := zpipeEnv(t, []string{"ZPIPE_VAR_endpoint=" + secretValue}, "run", "--status-interval", "0", fixed)
	if out := r.stdout + r.stderr; r.code != exitError || strings.Contains(out, "999.1.1.1") || !strings.Contains(out, "(sensitive)") {
		t.Errorf("run: exit %d, want 1 and the transport's error with the value hidden:\n%s", r.code, out)
	}
}

// TestLogsHideSensitiveValues: log lines show no sensitive value, in the
// message or any attribute, in either log format.
func TestLogsHideSensitiveValues(t *testing.T) {
	p := writeFile(t, "v.hcl", "variable \"key\" {\n  sensitive = true\n  default   = \"Zk8#v-abc\"\n}\n")
	cfg, diags := config.Load([]string{p}, config.Options{}, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, format := range []string{"text", "json"} {
		var logs bytes.Buffer
		a := &app{stderr: &logs, logLevel: "info", logFormat: format}
		log, err := a.logger()
		if err != nil {
			t.Fatal(err)
		}
		before := log.With("early", "key Zk8#v-abc") // added before the configuration is known
		a.secrets.use(cfg)
		log = log.With("with", "Zk8#v-abc")
		log.Info("open key Zk8#v-abc", "key", "Zk8#v-abc", "err", errors.New(`bad key "Zk8#v-abc"`),
			"list", []string{"a", "Zk8#v-abc"}, "n", 42)
		log.WithGroup("g").Info("grouped", "key", "Zk8#v-abc")
		before.Info("late")
		out := logs.String()
		if strings.Contains(out, "Zk8#v-abc") {
			t.Errorf("%s: the sensitive value shows:\n%s", format, out)
		}
		if strings.Count(out, "(sensitive)") != 8 || !strings.Contains(out, "42") || !strings.Contains(out, "[a (sensitive)]") {
			t.Errorf("%s: want eight redacted values and the rest as is:\n%s", format, out)
		}
	}
}

// TestVarFileFlag: --var-file sets a variable from a file; its misuse is a
// usage error, an unreadable file an error naming it.
func TestVarFileFlag(t *testing.T) {
	p := writeFile(t, "p.hcl", sensitiveFile)
	keyFile := filepath.Join(t.TempDir(), "framing")
	if err := os.WriteFile(keyFile, []byte("raw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fixed := writeFile(t, "fixed.hcl", strings.Replace(sensitiveFile, "bind = [var.endpoint]", `bind = ["tcp://127.0.0.1:7001"]`, 1))
	if r := zpipe(t, "validate", "--var-file", "endpoint="+keyFile, fixed); r.code != exitOK {
		t.Errorf("validate with --var-file: exit %d, want 0\n%s", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"validate", "--var-file", "endpoint", p},
		{"validate", "--var-file", "endpoint=", p},
		{"validate", "--var-file", "=" + keyFile, p},
		{"validate", "--var", "endpoint=x", "--var-file", "endpoint=" + keyFile, p},
		{"validate", "--var-file", "endpoint=" + keyFile, "--var-file", "endpoint=" + keyFile, p},
	} {
		if r := zpipe(t, args...); r.code != exitUsage {
			t.Errorf("zpipe %v: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
	missing := filepath.Join(t.TempDir(), "nope")
	r := zpipe(t, "validate", "--var-file", "endpoint="+missing, p)
	if r.code != exitError || !strings.Contains(r.stderr, "Failed to read variable file") || !strings.Contains(r.stderr, missing) {
		t.Errorf("unreadable --var-file: exit %d, want 1 naming the file\n%s", r.code, r.stderr)
	}
}
