// Package benchtest holds what the tests of the benchmark commands share:
// finding the zpipe build to run and building the command under test.
package benchtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/zpipe/zpipe/internal/zeektest"
)

// Zpipe returns zpipe and its plugin directory: $ZPIPE_BIN and
// $ZPIPE_PLUGIN_DIR, else bin/ of the module (what `make build` writes).
// It fails t unless zpipe, the cgo transport and the zeek codec are there.
func Zpipe(t testing.TB) (bin, pluginDir string) {
	t.Helper()
	root := moduleRoot(t)
	bin = os.Getenv("ZPIPE_BIN")
	if bin == "" {
		bin = filepath.Join(root, "bin", "zpipe")
	}
	pluginDir = os.Getenv("ZPIPE_PLUGIN_DIR")
	if pluginDir == "" {
		pluginDir = filepath.Join(root, "bin")
	}
	for _, f := range []string{bin, filepath.Join(pluginDir, "zpipe-transport-cgo"), filepath.Join(pluginDir, "zpipe-codec-zeek")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v: run `make build` first (or set ZPIPE_BIN and ZPIPE_PLUGIN_DIR)", err)
		}
	}
	return bin, pluginDir
}

// Pipeline returns the path of the module's pipelines/name.
func Pipeline(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(moduleRoot(t), "pipelines", name)
}

// Command builds the package in the test's working directory, the command
// under test, into a temporary directory and returns the binary.
func Command(t testing.TB, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	root, err := zeektest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
