package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/value"
)

// TestEvictedFiles keeps one descriptor for three paths: files whose
// descriptors were closed to make room are appended to, rotated by
// schema, time and Close, and fsynced, each ending whole, and never more
// than one is open.
func TestEvictedFiles(t *testing.T) {
	for _, format := range []string{FormatTSV, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			clk := newClock(t0)
			w := mustNew(t, Config{Dir: dir, Format: format, RotateInterval: time.Hour, MaxOpenFiles: 1, Now: clk.Now})
			conn, test := batch(t, "zeek-log-conn-7rec.hex"), batch(t, "zeek-log-test.hex")
			step := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if s := w.Stats(); s.OpenFiles > 1 {
					t.Fatalf("%s: %d files open, want at most 1", what, s.OpenFiles)
				}
			}
			for range 2 {
				for _, p := range []string{"a", "b", "c"} {
					step("write "+p, w.Write(withPath(conn, p)))
				}
			}
			step("flush", w.Flush())
			// b's descriptor is closed: its schema changes.
			step("schema change", w.Write(withPath(test, "b")))
			clk.Set(t0.Add(time.Hour)) // 05:26:37, past the 05:00 boundary
			step("rotate due", w.RotateDue())
			step("write after rotation", w.Write(withPath(conn, "a")))
			clk.Add(time.Minute)
			step("close", w.Close())

			hour := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
			first, second := rotatedName("b", t0, t0), rotatedName("b", t0, hour)
			want := []string{rotatedName("a", t0, hour), rotatedName("a", t0.Add(time.Hour), t0.Add(time.Hour+time.Minute)),
				first, second, rotatedName("c", t0, hour)}
			slices.Sort(want)
			if got := listDir(t, dir); !slices.Equal(got, want) {
				t.Fatalf("files %v, want %v", got, want)
			}
			records := map[string]int{want[0]: 14, want[1]: 7, first: 14, second: 2, want[4]: 14}
			for _, name := range want {
				data := readFile(t, filepath.Join(dir, name))
				n := bytes.Count(data, []byte("\n"))
				if format == FormatTSV {
					checkTSV(t, name, data)
					n = len(recordLines(data))
				}
				if n != records[name] {
					t.Errorf("%s: %d records, want %d", name, n, records[name])
				}
			}
			if format == FormatJSON {
				want := jsonl.AppendLog(nil, test, jsonl.LogOptions{})
				diffLines(t, second, readFile(t, filepath.Join(dir, second)), bytes.ReplaceAll(want, []byte(`"_path":"test"`), []byte(`"_path":"b"`)))
			}
		})
	}
}

// TestVanishedWhileClosed: an active file removed while its descriptor
// was closed to make room is started anew, with its header, by its next
// batch.
func TestVanishedWhileClosed(t *testing.T) {
	dir := t.TempDir()
	w := mustNew(t, Config{Dir: dir, MaxOpenFiles: 1})
	b := batch(t, "zeek-log-test.hex")
	mustWrite(t, w, withPath(b, "a"))
	mustWrite(t, w, withPath(b, "b"))
	if err := os.Remove(filepath.Join(dir, "a.log")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, withPath(b, "a"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data := readFile(t, filepath.Join(dir, "a.log"))
	checkTSV(t, "a.log", data)
	if n := len(recordLines(data)); n != len(b.Records) {
		t.Errorf("a.log: %d records, want %d", n, len(b.Records))
	}
}

// TestPathsBounded: beyond MaxPaths active paths a batch for a new path
// is rejected and creates nothing; known paths go on; a rotation by time
// frees the slots.
func TestPathsBounded(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(t0)
	w := mustNew(t, Config{Dir: dir, RotateInterval: time.Hour, MaxPaths: 3, Now: clk.Now})
	b := batch(t, "zeek-log-test.hex")
	for _, p := range []string{"a", "b", "c"} {
		mustWrite(t, w, withPath(b, p))
	}
	if err := w.Write(withPath(b, "d")); !errors.Is(err, ErrTooManyPaths) {
		t.Fatalf("fourth path: %v, want ErrTooManyPaths", err)
	}
	mustWrite(t, w, withPath(b, "a"))
	empty := withPath(b, "e")
	empty.Records = nil
	mustWrite(t, w, empty) // nothing to write: not rejected
	if got := listDir(t, dir); !slices.Equal(got, []string{"a.log", "b.log", "c.log"}) {
		t.Fatalf("files %v", got)
	}
	if s := w.Stats(); s.BatchesRejected != 1 || s.Batches != 4 || s.ActiveFiles != 3 {
		t.Errorf("stats %+v", s)
	}
	clk.Set(t0.Add(time.Hour))
	if err := w.RotateDue(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, withPath(b, "d"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPlainPaths: Zeek's kinds of log paths are written; anything else,
// names of rotated files above all, is rejected with ErrPath and leaves no
// file.
func TestPlainPaths(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(t0)
	w := mustNew(t, Config{Dir: dir, Now: clk.Now})
	b := batch(t, "zeek-log-test.hex")
	good := []string{"conn", "dns", "conn-summary", "notice_alarm", "my_log.x", "_x", "9p", "HTTP-8080",
		"conn.2026-11-22", "x.1-2-3", "a.2026-11-22-04-26-37-2026-11-22-04-27", strings.Repeat("x", MaxPathLen)}
	bad := []string{"", ".", "..", ".hidden", "-x", "a/b", "../x", "a b", "a..b", "a.", "é", "nul\x00", "tab\t", "a:b",
		strings.Repeat("x", MaxPathLen+1),
		"conn.2026-11-22-04-26-37-2026-11-22-04-27-37",
		"conn.2026-11-22-04-26-37-2026-11-22-04-27-37-1",
		"my_log.x.2026-11-22-04-26-37-2026-11-22-04-27-37-12",
		"x.12026-11-22-04-26-37-12026-11-22-04-27-37",
	}
	for _, p := range good {
		if err := w.Write(withPath(b, p)); err != nil {
			t.Errorf("path %q: %v", p, err)
		}
	}
	for _, p := range bad {
		if err := w.Write(withPath(b, p)); !errors.Is(err, ErrPath) {
			t.Errorf("path %q: %v, want ErrPath", p, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range good {
		want = append(want, p+".log")
	}
	slices.Sort(want)
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
	if s := w.Stats(); s.BatchesRejected != uint64(len(bad)) {
		t.Errorf("stats %+v", s)
	}
}

// TestArchiveNameCollision: a batch whose path is the name of a rotated
// file less ".log" (numbered or not) is rejected; the archives stay as they
// were.
func TestArchiveNameCollision(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(t0)
	w := mustNew(t, Config{Dir: dir, Now: clk.Now})
	conn, test := batch(t, "zeek-log-conn-7rec.hex"), withPath(batch(t, "zeek-log-test.hex"), "conn")
	mustWrite(t, w, conn)
	clk.Add(time.Minute)
	mustWrite(t, w, test) // other fields: conn.log rotates
	clk.Add(-time.Minute)
	mustWrite(t, w, conn) // and again, at the same times: numbered
	archives := []string{rotatedName("conn", t0, t0.Add(time.Minute)), rotatedName("conn", t0.Add(time.Minute), t0)}
	archives = append(archives, strings.TrimSuffix(archives[0], ".log")+"-1.log")
	clk.Add(time.Minute)
	mustWrite(t, w, test)
	files := listDir(t, dir)
	for _, a := range archives {
		if !slices.Contains(files, a) {
			t.Fatalf("no %s among %v", a, files)
		}
	}
	before := map[string][]byte{}
	for _, name := range files {
		before[name] = readFile(t, filepath.Join(dir, name))
	}
	for _, a := range archives {
		path := strings.TrimSuffix(a, ".log")
		if err := w.Write(withPath(conn, path)); !errors.Is(err, ErrPath) {
			t.Errorf("path %q: %v, want ErrPath", path, err)
		}
	}
	if got := listDir(t, dir); !slices.Equal(got, files) {
		t.Errorf("files %v, want %v", got, files)
	}
	for name, data := range before {
		if got := readFile(t, filepath.Join(dir, name)); !bytes.Equal(got, data) {
			t.Errorf("%s changed:\n%s", name, got)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkWritePaths writes batches of 10 conn records to paths in turn:
// as many paths as files may be open (the baseline), and twice as many,
// so that every batch closes the least recently written file and reopens
// its own.
func BenchmarkWritePaths(b *testing.B) {
	batch := benchBatch(b, 10)
	for _, c := range []struct {
		name  string
		paths int
	}{{"all-open", DefaultMaxOpenFiles}, {"reopening", 2 * DefaultMaxOpenFiles}} {
		b.Run(c.name, func(b *testing.B) {
			w := mustNew(b, Config{Dir: b.TempDir()})
			paths := make([]*value.LogBatch, c.paths)
			for i := range paths {
				paths[i] = withPath(batch, fmt.Sprintf("p%04d", i))
				mustWrite(b, w, paths[i]) // the files exist before the timing
			}
			i := 0
			for b.Loop() {
				if err := w.Write(paths[i%len(paths)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(10*b.N)/b.Elapsed().Seconds(), "records/s")
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
