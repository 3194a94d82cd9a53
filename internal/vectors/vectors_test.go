package vectors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoot(t *testing.T) {
	dir, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(filepath.ToSlash(dir), "/"+Dir) {
		t.Fatalf("Root() = %s, want the module root's %s", dir, Dir)
	}
	Glob(t, "captured/*.hex") // fails without a match
	Glob(t, "derived/*.hex")
}

// TestMissingVectorsExplainThemselves looks in a module root without
// testdata/zeek: the error names the directory that is missing.
func TestMissingVectorsExplainThemselves(t *testing.T) {
	root := t.TempDir()
	_, err := rootIn(root)
	want := filepath.Join(root, "testdata", "zeek", "captured")
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "part of the repository") {
		t.Fatalf("error %v should name %s", err, want)
	}
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := rootIn(root); err == nil || !strings.Contains(err.Error(), filepath.Join(root, "testdata", "zeek", "derived")) {
		t.Fatalf("error %v should name the missing derived/", err)
	}
}
