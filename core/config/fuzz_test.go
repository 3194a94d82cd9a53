package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary files to the loader: it must never panic, and a
// configuration it accepts must be complete.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"testdata/valid/*", "testdata/valid/multi/*", "testdata/invalid/*"} {
		paths, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			if !IsConfigFile(p) && !IsJSONSyntax(p) {
				continue
			}
			src, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src, IsJSONSyntax(p))
		}
	}
	f.Add([]byte(`pipeline "p" { source "xsub" "a" {} sink "xpub" "b" { from = [source.xsub["a"]] } }`), false)
	f.Add([]byte(`{"pipeline": {"p": {"source": {"xsub": {"a": {}}}, "sink": {"xpub": {"b": {"from": "source.xsub.a"}}}}}}`), true)
	f.Add([]byte(`variable "v" { type = map(string) } pipeline "p" { source "pull" "a" { bind = [for k, v in var.v : v] } sink "push" "b" {} }`), false)
	f.Add([]byte("variable \"k\" {\n  sensitive = true\n  default = \"x\"\n}\npipeline \"p\" {\n  source \"xsub\" \"a\" {\n    curve_server = var.k != \"\"\n    curve_secretkey = var.k\n  }\n  sink \"xpub\" \"b\" {}\n}\n"), false)
	f.Add([]byte("x = \"%{if a}${[(-!b.c[0])]}%{endif}\"\n"), false)
	f.Add([]byte(`{"variable": {"t": {"type": "list(map(string))", "default": [{"a": "${1 + 2}"}]}}}`), true)

	f.Fuzz(func(t *testing.T, src []byte, isJSON bool) {
		name := "fuzz.hcl"
		if isJSON {
			name = "fuzz.hcl.json"
		}
		opts := Options{Env: []string{"ZPIPE_VAR_hwm=10", `ZPIPE_VAR_topics=["x"]`, `ZPIPE_VAR_v={a = "b"}`}}
		cfg, diags := load([]sourceFile{{name: name, src: src}}, opts, testSchemas{})
		if cfg == nil {
			t.Fatal("load returned a nil Config")
		}
		_ = WriteDiagnostics(io.Discard, cfg.Files, diags, 80, false)
		if diags.HasErrors() {
			return
		}
		ids := map[string]bool{}
		for _, p := range cfg.Pipelines {
			for _, n := range p.Nodes {
				if n.Config == nil {
					t.Errorf("accepted node %s has no config", n.ID)
				}
				if ids[n.ID] {
					t.Errorf("node ID %s is not unique", n.ID)
				}
				ids[n.ID] = true
				if n.Class != ClassSource && len(n.Inputs) == 0 {
					t.Errorf("accepted %s has no inputs", n.ID)
				}
			}
		}
	})
}
