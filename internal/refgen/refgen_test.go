package refgen

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/stage/builtin"
	"github.com/zpipe/zpipe/core/telemetry"
)

// TestReferenceUpToDate: the committed docs/reference.md is what the code
// generates now.
func TestReferenceUpToDate(t *testing.T) {
	want, err := Generate(context.Background())
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	have, err := os.ReadFile("../../" + Path)
	if err != nil {
		t.Fatalf("read the committed reference: %v (run `%s`)", err, Command)
	}
	if bytes.Equal(have, want) {
		return
	}
	hl, wl := strings.Split(string(have), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(hl) || i < len(wl); i++ {
		var h, w string
		if i < len(hl) {
			h = hl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if h != w {
			t.Fatalf("%s is out of date; run `%s` to update it. First difference, line %d:\ncommitted: %s\ngenerated: %s", Path, Command, i+1, h, w)
		}
	}
}

// TestReferenceCoversEverything: every built-in kind, every socket kind,
// codec format and drop reason has its heading or row, every attribute
// its row.
func TestReferenceCoversEverything(t *testing.T) {
	doc, err := Generate(context.Background())
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	s := string(doc)
	for _, k := range builtin.Kinds() {
		if !strings.Contains(s, "\n### "+k.Class()+" `"+k.Name+"`\n") {
			t.Errorf("no section for %s %q", k.Class(), k.Name)
		}
		for _, a := range k.Schema.Attributes {
			if !strings.Contains(s, "| `"+a.Name+"` | "+string(a.Type)+" |") {
				t.Errorf("%s %q: no row for attribute %q", k.Class(), k.Name, a.Name)
			}
		}
	}
	for _, h := range []string{"source `xsub`", "source `pull`", "sink `xpub`", "sink `push`",
		"codec `zeek`", "codec `json`", "codec `msgpack`"} {
		if !strings.Contains(s, "\n### "+h) {
			t.Errorf("no section for %s", h)
		}
	}
	for _, r := range telemetry.DropReasons() {
		if !strings.Contains(s, "| `"+r.Name+"` | ") {
			t.Errorf("no row for drop reason %q", r.Name)
		}
	}
	again, err := Generate(context.Background())
	if err != nil || !bytes.Equal(doc, again) {
		t.Errorf("a second Generate differs (err %v)", err)
	}
}
