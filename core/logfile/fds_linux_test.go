package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// openFDs returns how many descriptors the process has open.
func openFDs(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count descriptors: %v", err)
	}
	return len(entries)
}

// TestOpenFilesBounded writes to four times as many paths as a Writer
// keeps open by default, twice over: the process holds no more
// descriptors than the bound, and every file is whole: one header, both
// batches, a #close line.
func TestOpenFilesBounded(t *testing.T) {
	const paths = 4 * DefaultMaxOpenFiles
	dir := t.TempDir()
	w := mustNew(t, Config{Dir: dir})
	b := batch(t, "zeek-log-test.hex")
	before := openFDs(t)
	for range 2 {
		for i := range paths {
			mustWrite(t, w, withPath(b, fmt.Sprintf("p%04d", i)))
			if i%97 == 0 {
				if grown := openFDs(t) - before; grown > DefaultMaxOpenFiles {
					t.Fatalf("%d descriptors more after writing %d paths, want at most %d", grown, i+1, DefaultMaxOpenFiles)
				}
			}
		}
	}
	if grown := openFDs(t) - before; grown > DefaultMaxOpenFiles {
		t.Fatalf("%d descriptors more after writing %d paths, want at most %d", grown, paths, DefaultMaxOpenFiles)
	}
	if s := w.Stats(); s.OpenFiles != DefaultMaxOpenFiles || s.ActiveFiles != paths || s.FilesReopened != paths {
		t.Errorf("stats %+v", s)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if grown := openFDs(t) - before; grown > 0 {
		t.Errorf("%d descriptors still open after Close", grown)
	}
	names := listDir(t, dir)
	if len(names) != paths {
		t.Fatalf("%d files, want %d", len(names), paths)
	}
	for _, name := range names {
		data := readFile(t, filepath.Join(dir, name))
		checkTSV(t, name, data)
		if n := len(recordLines(data)); n != 2*len(b.Records) {
			t.Fatalf("%s: %d records, want %d", name, n, 2*len(b.Records))
		}
	}
}
