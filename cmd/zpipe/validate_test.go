package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testTransportFile is a pipeline on the in-memory test transport whose
// gensource has frames = 3 (Open takes 1 or 4) and size = -1.
const testTransportFile = `transport = "test"

pipeline "p" {
  source "gensource" "gen" {
    frames = 3
    size   = -1
  }
  sink "nullsink" "out" {}
}
`

// TestTransportChecksSockets: validate and run both ask the transport
// plugin to check each socket, and its problems are diagnostics at the
// attributes, before anything opens.
func TestTransportChecksSockets(t *testing.T) {
	p := writeFile(t, "gen.hcl", testTransportFile)
	for _, cmd := range []string{"validate", "run", "graph"} {
		r := zpipe(t, cmd, p)
		if r.code != exitError {
			t.Errorf("zpipe %s: exit %d, want 1\n%s", cmd, r.code, r.stderr)
		}
		for _, want := range []string{
			`gen.hcl:5:14: error: Invalid value for "frames"`,
			`Transport "test" refuses "frames": frames must be 1 or 4, not 3.`,
			`gen.hcl:6:14: error: Invalid value for "size"`,
			`Transport "test" refuses "size": negative size -1.`,
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("zpipe %s: output lacks %q:\n%s", cmd, want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "socket open") {
			t.Errorf("zpipe %s opened a socket:\n%s", cmd, r.stderr)
		}
	}
}

// TestTransportWithoutValidation: a transport that does not validate is no
// error; validate passes, and run finds the problem when it opens the
// socket.
func TestTransportWithoutValidation(t *testing.T) {
	t.Setenv("ZPIPE_TESTTRANSPORT_MODE", "no-validate")
	p := writeFile(t, "gen.hcl", testTransportFile)
	if r := zpipe(t, "validate", p); r.code != exitOK {
		t.Fatalf("validate: exit %d, want 0\n%s", r.code, r.stderr)
	}
	r := zpipe(t, "run", "--status-interval", "0", p)
	if r.code != exitError || !strings.Contains(r.stderr, "frames must be 1 or 4, not 3") {
		t.Fatalf("run: exit %d, want 1 with the transport's error\n%s", r.code, r.stderr)
	}
}

// TestValidateDirectory: a directory stands for the configuration files in
// it, and validate counts the files it read.
func TestValidateDirectory(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"a.hcl":      "pipeline \"a\" {\n  source \"gensource\" \"g\" {}\n  sink \"nullsink\" \"n\" {}\n}\n",
		"b.hcl.json": `{"pipeline": {"b": {"source": {"gensource": {"g": {}}}, "sink": {"nullsink": {"n": {}}}}}}` + "\n",
		"notes.txt":  "not configuration",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := zpipe(t, "validate", "--transport", "test", dir)
	if r.code != exitOK || r.stdout != "2 file(s) valid: 2 pipeline(s), 4 component(s)\n" {
		t.Fatalf("validate %s: exit %d\nstdout %q\nstderr %s", dir, r.code, r.stdout, r.stderr)
	}
}

// TestValidateChecksCoreKinds: what a built-in kind checks beyond its
// schema (an otlp sink's batch_size above its queue_size, an hwm stage's
// capacity of 0, a subscribe stage without topics) is found by validate and run alike, before anything
// opens, as a diagnostic at the attribute.
func TestValidateChecksCoreKinds(t *testing.T) {
	p := writeFile(t, "core.hcl", `transport = "test"

pipeline "p" {
  source "gensource" "gen" {}
  stage "hwm" "buf" {
    capacity = 0
  }
  stage "subscribe" "sub" {
    topics = []
  }
  sink "otlp" "out" {
    endpoint   = "127.0.0.1:4317"
    insecure   = true
    batch_size = 600
    queue_size = 500
  }
}
`)
	for _, args := range [][]string{{"validate", p}, {"run", "--status-interval", "0", p}} {
		r := zpipe(t, args...)
		if r.code != exitError {
			t.Errorf("zpipe %s: exit %d, want 1\n%s", args[0], r.code, r.stderr)
		}
		for _, want := range []string{
			`core.hcl:6:16: error: Invalid value for "capacity"`,
			`want a whole number from 1 to 2147483648, have 0.`,
			`core.hcl:9:14: error: Invalid value for "topics"`,
			`at least one topic prefix is required ("" subscribes to everything).`,
			`core.hcl:14:18: error: Invalid value for "batch_size"`,
			`600 exceeds queue_size (500), so no batch could fill.`,
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("zpipe %s: output lacks %q:\n%s", args[0], want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "socket open") {
			t.Errorf("zpipe %s opened a socket:\n%s", args[0], r.stderr)
		}
	}
}
