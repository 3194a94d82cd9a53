package logfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/internal/vectors"
)

// vectorsPath returns the directory of the captured Zeek vectors,
// testdata/zeek/captured in the module root.
func vectorsPath() (string, error) {
	root, err := vectors.Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "captured"), nil
}

func vectorsDir(t testing.TB) string {
	t.Helper()
	dir, err := vectorsPath()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// loadBatch decodes the log batch of the vector file name.
func loadBatch(name string) (*value.LogBatch, error) {
	dir, err := vectorsPath()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	frames, err := message.ParseHexFrames(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b, err := zeeklog.Decode(frames[len(frames)-1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// batch is loadBatch for tests.
func batch(t testing.TB, name string) *value.LogBatch {
	t.Helper()
	b, err := loadBatch(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func expected(t testing.TB, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vectorsDir(t), "expected", rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var stampLineRE = regexp.MustCompile(`(?m)^#(open|close)\t(\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)$`)

// maskTimes replaces the times of #open and #close lines with TIME.
func maskTimes(b []byte) []byte {
	return stampLineRE.ReplaceAll(b, []byte("#$1\tTIME"))
}

// stamps returns the times of the #open and #close lines of a TSV file ("" if
// missing).
func stamps(data []byte) (open, closed string) {
	for _, m := range stampLineRE.FindAllSubmatch(data, -1) {
		if string(m[1]) == "open" {
			open = string(m[2])
		} else {
			closed = string(m[2])
		}
	}
	return open, closed
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// listDir returns the names of the files in dir, sorted.
func listDir(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// recordLines returns the lines of a TSV file that are not # lines.
func recordLines(data []byte) []string {
	var out []string
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func diffLines(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.SplitAfter(string(got), "\n"), strings.SplitAfter(string(want), "\n")
	n := 0
	for i := range max(len(gl), len(wl)) {
		var a, b string
		if i < len(gl) {
			a = gl[i]
		}
		if i < len(wl) {
			b = wl[i]
		}
		if a != b {
			t.Errorf("%s line %d:\n got %q\nwant %q", what, i+1, a, b)
			if n++; n > 5 {
				return
			}
		}
	}
}

func mustNew(t testing.TB, cfg Config) *Writer {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustWrite(t testing.TB, w *Writer, b *value.LogBatch) {
	t.Helper()
	if err := w.Write(b); err != nil {
		t.Fatal(err)
	}
}

// withPath returns a shallow copy of b with another path.
func withPath(b *value.LogBatch, path string) *value.LogBatch {
	c := *b
	c.Path = path
	return &c
}

func stamp(t time.Time) string { return t.Format("2006-01-02-15-04-05") }

func rotatedName(path string, open, closeAt time.Time) string {
	return fmt.Sprintf("%s.%s-%s.log", path, stamp(open), stamp(closeAt))
}
