package graph

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/transport"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testSchemas serves socket kinds like a transport's (xsub accepts
// subscriptions, xpub emits them) and a few stage kinds, all without
// attributes: only the wiring matters for drawing.
type testSchemas struct{}

func (testSchemas) Component(tr, class, kind string) (*config.Component, error) {
	if class == config.ClassStage {
		switch kind {
		case "filter", "queue", "hello":
			return &config.Component{}, nil
		}
		return nil, fmt.Errorf("no stage kind %q", kind)
	}
	sockets := map[string]struct{ role, subs string }{
		"xsub": {transport.RoleSource, transport.SubsAccepts},
		"xpub": {transport.RoleSink, transport.SubsEmits},
		"pull": {transport.RoleSource, ""},
		"push": {transport.RoleSink, ""},
	}
	s, ok := sockets[kind]
	if !ok || s.role != class {
		return nil, fmt.Errorf("transport %q has no %s kind %q", tr, class, kind)
	}
	return &config.Component{Schema: schema.Schema{}, Subscriptions: s.subs}, nil
}

func load(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, diags := config.Load([]string{path}, config.Options{}, testSchemas{})
	if diags.HasErrors() {
		t.Fatalf("load %s: %s", path, diags.Error())
	}
	return cfg
}

func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.hcl")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs in testdata: %v", err)
	}
	for _, in := range inputs {
		cfg := load(t, in)
		base := strings.TrimSuffix(in, ".hcl")
		for _, r := range []struct {
			ext    string
			render func(*config.Config) string
		}{{".dot", DOT}, {".mmd", Mermaid}} {
			t.Run(filepath.Base(base)+r.ext, func(t *testing.T) {
				got := r.render(cfg)
				if again := r.render(cfg); again != got {
					t.Fatalf("output differs between two renderings")
				}
				golden := base + r.ext
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", r.ext, got, want)
				}
			})
		}
	}
}

// TestSubscriptionEdges checks the rule the golden files encode: dashed
// edges retrace exactly the data edges on a path from an accepting source
// to an emitting sink.
func TestSubscriptionEdges(t *testing.T) {
	cfg := load(t, "testdata/fan.hcl")
	dot := DOT(cfg)
	data := func(from, to string) string {
		return fmt.Sprintf("%q -> %q;", "fan/"+from, "fan/"+to)
	}
	subs := func(from, to string) string {
		return fmt.Sprintf("%q -> %q [style=dashed, constraint=false, label=\"subscriptions\"];", "fan/"+from, "fan/"+to)
	}
	carrying := [][2]string{
		{"source.xsub.east", "stage.hello.tracker"},
		{"source.xsub.west", "stage.hello.tracker"},
		{"stage.hello.tracker", "stage.queue.mixed"},
		{"stage.hello.tracker", "sink.xpub.nodes"},
		{"stage.queue.mixed", "sink.xpub.observers"},
		{"source.xsub.west", "sink.xpub.observers"},
	}
	dataOnly := [][2]string{
		{"source.pull.logs", "stage.queue.logs_buffer"},
		{"stage.queue.logs_buffer", "stage.queue.mixed"},
		{"stage.queue.mixed", "sink.push.archive"},
		{"stage.queue.logs_buffer", "sink.push.archive"},
	}
	for _, e := range carrying {
		if !strings.Contains(dot, data(e[0], e[1])) || !strings.Contains(dot, subs(e[1], e[0])) {
			t.Errorf("%s → %s: want a data edge and a subscription edge back", e[0], e[1])
		}
	}
	for _, e := range dataOnly {
		if !strings.Contains(dot, data(e[0], e[1])) {
			t.Errorf("%s → %s: data edge missing", e[0], e[1])
		}
		if strings.Contains(dot, subs(e[1], e[0])) {
			t.Errorf("%s → %s: carries no subscriptions, yet has a dashed edge", e[0], e[1])
		}
	}
	if n := strings.Count(dot, "style=dashed"); n != len(carrying) {
		t.Errorf("%d dashed edges, want %d", n, len(carrying))
	}
	if n := strings.Count(Mermaid(cfg), "-. subscriptions .->"); n != len(carrying) {
		t.Errorf("Mermaid: %d dashed edges, want %d", n, len(carrying))
	}
}

func TestQuoting(t *testing.T) {
	if got, want := dotQuote(`a "b" \c`), `"a \"b\" \\c"`; got != want {
		t.Errorf("dotQuote = %s, want %s", got, want)
	}
	if got, want := mermaidQuote(`x "y" <z> #1`), `"x #quot;y#quot; #lt;z#gt; #35;1"`; got != want {
		t.Errorf("mermaidQuote = %s, want %s", got, want)
	}
	if got := DOT(nil); got != "digraph zpipe {\n  rankdir=LR;\n  node [shape=box];\n}\n" {
		t.Errorf("DOT(nil) = %q", got)
	}
	if got := Mermaid(&config.Config{}); got != "flowchart LR\n" {
		t.Errorf("Mermaid(empty) = %q", got)
	}
}
