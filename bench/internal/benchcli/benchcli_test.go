package benchcli

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	var z Zpipe
	var stderr bytes.Buffer
	fs := FlagSet("cmd", &stderr)
	z.Flags(fs, "bin/zpipe", "the zpipe binary")
	if err := Parse(fs, []string{"-plugin-dir", "plugins"}); err != nil {
		t.Fatal(err)
	}
	if z != (Zpipe{Bin: "bin/zpipe", PluginDir: "plugins"}) {
		t.Errorf("parsed %+v", z)
	}
	if err := Parse(FlagSet("cmd", &stderr), []string{"extra"}); err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("an argument after the flags: %v", err)
	}
	if err := Parse(FlagSet("cmd", &stderr), []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(stderr.String(), "Usage of cmd") {
		t.Errorf("-h printed %q to stderr", stderr.String())
	}
}

func TestInts(t *testing.T) {
	got, err := Ints("sizes", "7, 100,1000", 1, 1000, "number of records")
	if err != nil || !slices.Equal(got, []int{7, 100, 1000}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"0", "1001", "7,x", "", "7,,8"} {
		if got, err := Ints("sizes", bad, 1, 1000, "number of records"); err == nil {
			t.Errorf("%q accepted as %v", bad, got)
		} else if !strings.HasPrefix(err.Error(), "-sizes ") {
			t.Errorf("%q: error %q does not name the flag", bad, err)
		}
	}
}

func TestAtLeast(t *testing.T) {
	if err := AtLeast("runs", 1, 1); err != nil {
		t.Error(err)
	}
	if err := AtLeast("runs", 0, 1); err == nil || err.Error() != "-runs 0: want at least 1" {
		t.Errorf("got %v", err)
	}
}

func TestBuilt(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "zpipe")
	if err := os.WriteFile(file, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Built(file, dir); err != nil {
		t.Error(err)
	}
	missing := filepath.Join(dir, "missing")
	err := Built(file, missing)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "make build") {
		t.Errorf("missing file: %v", err)
	}
}
