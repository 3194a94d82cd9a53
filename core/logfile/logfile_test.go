package logfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	"github.com/zpipe/zpipe/core/value"
)

var t0 = time.Date(2026, 11, 22, 4, 26, 37, 0, time.UTC)

// TestMatchesZeek writes the captured batches through a Writer and
// compares the files with those Zeek's logger wrote for them: TSV byte for
// byte but for the times of #open and #close, JSON byte for byte.
func TestMatchesZeek(t *testing.T) {
	for _, format := range []string{FormatTSV, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			clk := newClock(t0)
			w := mustNew(t, Config{Dir: dir, Format: format, Now: clk.Now})
			mustWrite(t, w, batch(t, "zeek-log-test.hex"))
			mustWrite(t, w, batch(t, "zeek-log-conn-7rec.hex"))
			mustWrite(t, w, batch(t, "zeek-log-dns-8rec.hex"))
			mustWrite(t, w, batch(t, "zeek-log-conn-1rec-a.hex"))
			mustWrite(t, w, batch(t, "zeek-log-conn-1rec-b.hex"))
			clk.Add(2 * time.Second)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got, want := listDir(t, dir), []string{"conn.log", "dns.log", "test.log"}; !slices.Equal(got, want) {
				t.Fatalf("files %v, want %v", got, want)
			}
			for _, c := range []struct{ file, want string }{
				{"test.log", format + "/test.log"},
				{"test.log", "captured-batches-only/" + format + "/test.log"},
				{"dns.log", format + "/dns.log"},
				{"conn.log", "captured-batches-only/" + format + "/conn.log"},
			} {
				got, want := readFile(t, filepath.Join(dir, c.file)), expected(t, c.want)
				if format == FormatTSV {
					if o, cl := stamps(got); o != "2026-11-22-04-26-37" || cl != "2026-11-22-04-26-39" {
						t.Errorf("%s: #open %q, #close %q", c.file, o, cl)
					}
					if o, cl := stamps(want); o == "" || cl == "" {
						t.Fatalf("%s: no #open or #close line", c.want)
					}
					got, want = maskTimes(got), maskTimes(want)
				}
				diffLines(t, c.file+" vs "+c.want, got, want)
			}
			s := w.Stats()
			if s.Batches != 5 || s.Records != 2+7+8+1+1 || s.FilesOpened != 3 || s.FilesRotated != 0 || s.BatchesRejected != 0 || s.Errors != 0 {
				t.Errorf("stats %+v", s)
			}
			var size uint64
			for _, name := range listDir(t, dir) {
				size += uint64(len(readFile(t, filepath.Join(dir, name))))
			}
			if s.Bytes != size {
				t.Errorf("stats count %d bytes, files hold %d", s.Bytes, size)
			}
		})
	}
}

// connBatches returns n conn batches cycling through the captured ones.
func connBatches(t testing.TB, n int) []*value.LogBatch {
	t.Helper()
	src := []*value.LogBatch{batch(t, "zeek-log-conn-7rec.hex"), batch(t, "zeek-log-conn-1rec-a.hex"), batch(t, "zeek-log-conn-1rec-b.hex")}
	out := make([]*value.LogBatch, n)
	for i := range out {
		out[i] = src[i%len(src)]
	}
	return out
}

// renderedRecords returns the TSV lines of the records of the batches.
func renderedRecords(t *testing.T, batches []*value.LogBatch) []string {
	t.Helper()
	var out []byte
	for _, b := range batches {
		var err error
		if out, err = zeekascii.AppendRecords(out, b); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.SplitAfter(string(out), "\n")
	return lines[:len(lines)-1]
}

// checkTSV checks that data is a complete TSV log file: header, records,
// #close; it returns the #open and #close times.
func checkTSV(t *testing.T, name string, data []byte) (open, closed string) {
	t.Helper()
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) < 10 || lines[len(lines)-1] != "" {
		t.Fatalf("%s: not a complete log file: %q", name, data)
	}
	lines = lines[:len(lines)-1]
	if !strings.HasPrefix(lines[0], "#separator ") || !strings.HasPrefix(lines[7], "#types\t") ||
		!strings.HasPrefix(lines[len(lines)-1], "#close\t") {
		t.Fatalf("%s: no header or no #close line:\n%s", name, data)
	}
	for _, l := range lines[8 : len(lines)-1] {
		if strings.HasPrefix(l, "#") {
			t.Fatalf("%s: meta line among the records: %q", name, l)
		}
	}
	return stamps(data)
}

// TestRotateBySize writes conn batches with a size limit: the files are
// rotated at batch boundaries, each complete, none past the limit unless
// it holds one batch, and every record is in exactly one file, in order.
func TestRotateBySize(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(t0)
	const limit = 3000
	w := mustNew(t, Config{Dir: dir, RotateSize: limit, Now: clk.Now})
	batches := connBatches(t, 30)
	var opens []time.Time // open time of each file, in order
	for _, b := range batches {
		before := w.Stats().FilesOpened
		mustWrite(t, w, b)
		if w.Stats().FilesOpened != before {
			opens = append(opens, clk.Now())
		}
		clk.Add(time.Second)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(opens) < 3 {
		t.Fatalf("only %d files for %d batches", len(opens), len(batches))
	}
	// Every file but the last was rotated when the next one was opened;
	// the last one on Close (rotation is configured).
	var want []string
	for i, open := range opens {
		closeAt := clk.Now()
		if i+1 < len(opens) {
			closeAt = opens[i+1]
		}
		want = append(want, rotatedName("conn", open, closeAt))
	}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files:\n%v\nwant\n%v", got, want)
	}
	var all []string
	for _, name := range want {
		data := readFile(t, filepath.Join(dir, name))
		o, c := checkTSV(t, name, data)
		if want := "conn." + o + "-" + c + ".log"; name != want {
			t.Errorf("%s holds #open %s and #close %s", name, o, c)
		}
		recs := recordLines(data)
		if len(data) > limit && len(recs) > 7 {
			t.Errorf("%s: %d bytes, %d records", name, len(data), len(recs))
		}
		all = append(all, recs...)
	}
	if want := renderedRecords(t, batches); !slices.Equal(all, want) {
		t.Errorf("records of the files differ from the records written (%d vs %d)", len(all), len(want))
	}
	s := w.Stats()
	if s.FilesRotated != uint64(len(opens)) || s.Records != uint64(len(all)) {
		t.Errorf("stats %+v", s)
	}
}

// TestRotateSameSecond rotates several times within a second: no file is
// overwritten.
func TestRotateSameSecond(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(t0)
	w := mustNew(t, Config{Dir: dir, RotateSize: 1, Now: clk.Now})
	b := batch(t, "zeek-log-conn-1rec-a.hex")
	for range 4 {
		mustWrite(t, w, b)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	base := "conn." + stamp(t0) + "-" + stamp(t0)
	want := []string{base + "-1.log", base + "-2.log", base + "-3.log", base + ".log"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for _, name := range want {
		if n := len(recordLines(readFile(t, filepath.Join(dir, name)))); n != 1 {
			t.Errorf("%s: %d records", name, n)
		}
	}
}

// TestRotateByInterval rotates hourly: on the hour, when a batch arrives
// after it or when RotateDue is called, with the boundary as close time.
func TestRotateByInterval(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h, m, s int) time.Time {
		return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
	}
	clk := newClock(at(10, 20, 0))
	w := mustNew(t, Config{Dir: dir, RotateInterval: time.Hour, Now: clk.Now})
	tb := batch(t, "zeek-log-test.hex")
	var written []*value.LogBatch
	write := func(tm time.Time) {
		clk.Set(tm)
		mustWrite(t, w, tb)
		written = append(written, tb)
	}
	write(at(10, 20, 0))
	write(at(10, 59, 59))
	write(at(11, 0, 0)) // rotates 10:20 - 11:00, opens 11:00
	write(at(11, 30, 0))
	write(at(13, 5, 0)) // rotates 11:00 - 12:00 (the boundary), opens 13:05
	clk.Set(at(13, 59, 59))
	if err := w.RotateDue(); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); len(got) != 3 {
		t.Fatalf("RotateDue before the hour rotated: %v", got)
	}
	clk.Set(at(14, 0, 30))
	if err := w.RotateDue(); err != nil { // rotates 13:05 - 14:00
		t.Fatal(err)
	}
	write(at(14, 10, 0))
	clk.Set(at(14, 20, 0))
	if err := w.Close(); err != nil { // rotates 14:10 - 14:20
		t.Fatal(err)
	}
	want := []string{
		rotatedName("test", at(10, 20, 0), at(11, 0, 0)),
		rotatedName("test", at(11, 0, 0), at(12, 0, 0)),
		rotatedName("test", at(13, 5, 0), at(14, 0, 0)),
		rotatedName("test", at(14, 10, 0), at(14, 20, 0)),
	}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files:\n%v\nwant\n%v", got, want)
	}
	var all []string
	for i, name := range want {
		data := readFile(t, filepath.Join(dir, name))
		o, c := checkTSV(t, name, data)
		if want := "test." + o + "-" + c + ".log"; name != want {
			t.Errorf("%s holds #open %s and #close %s", name, o, c)
		}
		recs := recordLines(data)
		if n := []int{4, 4, 2, 2}[i]; len(recs) != n {
			t.Errorf("%s: %d records, want %d", name, len(recs), n)
		}
		all = append(all, recs...)
	}
	if want := renderedRecords(t, written); !slices.Equal(all, want) {
		t.Errorf("records of the files differ from the records written")
	}
}

func TestNextRotation(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	cases := []struct {
		now   time.Time
		every time.Duration
		want  time.Time
	}{
		{time.Date(2026, 1, 1, 10, 20, 0, 0, time.UTC), time.Hour, time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)},
		{time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC), time.Hour, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)},
		{time.Date(2026, 1, 1, 10, 20, 0, 0, time.UTC), 15 * time.Minute, time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)},
		{time.Date(2026, 1, 1, 23, 59, 0, 0, time.UTC), 24 * time.Hour, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		// Daily rotation at local midnight, not at midnight UTC.
		{time.Date(2026, 1, 1, 10, 0, 0, 0, est), 24 * time.Hour, time.Date(2026, 1, 2, 0, 0, 0, 0, est)},
		{time.Date(2026, 1, 1, 10, 0, 0, 0, est), 7 * time.Hour, time.Date(2026, 1, 1, 14, 0, 0, 0, est)},
	}
	for _, c := range cases {
		if got := nextRotation(c.now, c.every); !got.Equal(c.want) {
			t.Errorf("%v every %v: %v, want %v", c.now, c.every, got, c.want)
		}
	}
}

// TestSchemaChange writes a batch whose fields differ from those of the
// open file: the file is rotated and a new one starts with the new header.
func TestSchemaChange(t *testing.T) {
	for _, format := range []string{FormatTSV, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			clk := newClock(t0)
			w := mustNew(t, Config{Dir: dir, Format: format, Now: clk.Now})
			old := batch(t, "zeek-log-test.hex")
			mustWrite(t, w, old)
			mustWrite(t, w, old) // same fields: same file

			// Same names, one type changed (s: string -> enum).
			changed := *old
			changed.Fields = slices.Clone(old.Fields)
			changed.Fields[2].Type = value.Type{Tag: value.TypeEnum}
			changed.Records = nil
			for _, r := range old.Records {
				r = slices.Clone(r)
				r[2] = value.Enum(r[2].Str())
				changed.Records = append(changed.Records, r)
			}
			clk.Add(time.Minute)
			mustWrite(t, w, &changed)
			// Only the optional flag differs: not a schema change.
			flagged := changed
			flagged.Fields = slices.Clone(changed.Fields)
			flagged.Fields[0].Optional = true
			mustWrite(t, w, &flagged)
			clk.Add(time.Minute)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			rotated := rotatedName("test", t0, t0.Add(time.Minute))
			if got, want := listDir(t, dir), []string{rotated, "test.log"}; !slices.Equal(got, want) {
				t.Fatalf("files %v, want %v", got, want)
			}
			first, second := readFile(t, filepath.Join(dir, rotated)), readFile(t, filepath.Join(dir, "test.log"))
			if format == FormatJSON {
				want := jsonl.AppendLog(nil, old, jsonl.LogOptions{})
				want = append(want, want...)
				diffLines(t, rotated, first, want)
				if n := bytes.Count(second, []byte("\n")); n != 4 {
					t.Errorf("test.log: %d lines, want 4", n)
				}
				return
			}
			checkTSV(t, rotated, first)
			checkTSV(t, "test.log", second)
			if !bytes.Contains(first, []byte("#types\ttime\tstring\tstring\t")) || len(recordLines(first)) != 4 {
				t.Errorf("%s:\n%s", rotated, first)
			}
			if !bytes.Contains(second, []byte("#types\ttime\tstring\tenum\t")) || len(recordLines(second)) != 4 {
				t.Errorf("test.log:\n%s", second)
			}
		})
	}
}

// TestMismatch writes batches whose records do not match their fields:
// each is rejected whole, names the record and field, and leaves the files
// as they were; other paths and later batches are written.
func TestMismatch(t *testing.T) {
	for _, format := range []string{FormatTSV, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			w := mustNew(t, Config{Dir: dir, Format: format, Now: newClock(t0).Now})
			good := batch(t, "zeek-log-test.hex")
			mustWrite(t, w, good)
			name := filepath.Join(dir, "test.log")
			before := readFile(t, name)

			wrongKind := *good
			wrongKind.Records = [][]value.Value{good.Records[0], slices.Clone(good.Records[1])}
			wrongKind.Records[1][3] = value.String("2") // c: count
			wrongCount := *good
			wrongCount.Records = [][]value.Value{good.Records[0], good.Records[1][:14]}
			wrongElem := *good
			wrongElem.Records = [][]value.Value{slices.Clone(good.Records[0])}
			wrongElem.Records[0][13] = value.Set(value.Count(1), value.String("x")) // st: set[count]
			for _, c := range []struct {
				b   *value.LogBatch
				msg string
			}{
				{&wrongKind, `record 1: record does not match its fields: field 3 ("c"): want count for type count, have string`},
				{&wrongCount, `record 1: record does not match its fields: 14 values for 15 fields`},
				{&wrongElem, `record 0: record does not match its fields: field 13 ("st"): element 1: want count`},
				{&value.LogBatch{Path: "test", Records: [][]value.Value{{}}}, "1 records without fields"},
			} {
				err := w.Write(c.b)
				if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), c.msg) {
					t.Errorf("error %v, want ErrMismatch with %q", err, c.msg)
				}
				if after := readFile(t, name); !bytes.Equal(after, before) {
					t.Fatalf("rejected batch changed the file:\n%s", after)
				}
			}
			for _, path := range []string{"", ".", "..", "a/b", "../x", "nul\x00"} {
				if err := w.Write(withPath(good, path)); !errors.Is(err, ErrPath) {
					t.Errorf("path %q: %v, want ErrPath", path, err)
				}
			}
			mustWrite(t, w, batch(t, "zeek-log-dns-8rec.hex"))
			mustWrite(t, w, good)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			data := readFile(t, name)
			if format == FormatTSV {
				checkTSV(t, name, data)
				if n := len(recordLines(data)); n != 4 {
					t.Errorf("test.log: %d records, want 4", n)
				}
			} else if want := bytes.Repeat(jsonl.AppendLog(nil, good, jsonl.LogOptions{}), 2); !bytes.Equal(data, want) {
				t.Errorf("test.log:\n%s", data)
			}
			if got := listDir(t, dir); !slices.Equal(got, []string{"dns.log", "test.log"}) {
				t.Errorf("files %v", got)
			}
			if s := w.Stats(); s.BatchesRejected != 10 || s.Batches != 3 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestClose checks that after Close every TSV file ends with a #close
// line, and that the Writer refuses further calls.
func TestClose(t *testing.T) {
	dir := t.TempDir()
	w := mustNew(t, Config{Dir: dir})
	for _, name := range []string{"zeek-log-test.hex", "zeek-log-dns-8rec.hex", "zeek-log-conn-7rec.hex"} {
		mustWrite(t, w, batch(t, name))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, name := range listDir(t, dir) {
		if bytes.Contains(readFile(t, filepath.Join(dir, name)), []byte("#close")) {
			t.Fatalf("%s closed before Close", name)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	names := listDir(t, dir)
	if len(names) != 3 {
		t.Fatalf("files %v", names)
	}
	for _, name := range names {
		checkTSV(t, name, readFile(t, filepath.Join(dir, name)))
	}
	if err := w.Write(batch(t, "zeek-log-test.hex")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	for what, err := range map[string]error{"Close": w.Close(), "Flush": w.Flush(), "RotateDue": w.RotateDue()} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", what, err)
		}
	}
}

// TestLeftover starts a Writer in a directory holding active files of an
// earlier process: they are moved aside, named after their #open and
// #close lines (or their modification time), not overwritten.
func TestLeftover(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(t0)
	// A file closed properly, one cut short, one JSON file, one empty.
	w := mustNew(t, Config{Dir: dir, Now: clk.Now})
	mustWrite(t, w, batch(t, "zeek-log-test.hex"))
	clk.Add(time.Minute)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	closedData := readFile(t, filepath.Join(dir, "test.log"))
	hdr := zeekascii.AppendHeader(nil, batch(t, "zeek-log-dns-8rec.hex"), t0.Add(-time.Hour))
	if err := os.WriteFile(filepath.Join(dir, "dns.log"), hdr, 0o666); err != nil {
		t.Fatal(err)
	}
	mtime := t0.Add(-30 * time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "dns.log"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conn.log"), nil, 0o666); err != nil {
		t.Fatal(err)
	}

	clk.Set(t0.Add(time.Hour))
	w = mustNew(t, Config{Dir: dir, Now: clk.Now})
	for _, name := range []string{"zeek-log-test.hex", "zeek-log-dns-8rec.hex", "zeek-log-conn-1rec-a.hex"} {
		mustWrite(t, w, batch(t, name))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	testAside := rotatedName("test", t0, t0.Add(time.Minute))
	dnsAside := rotatedName("dns", t0.Add(-time.Hour), mtime)
	if got, want := listDir(t, dir), []string{"conn.log", dnsAside, "dns.log", testAside, "test.log"}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, testAside)), closedData) || !bytes.Equal(readFile(t, filepath.Join(dir, dnsAside)), hdr) {
		t.Error("leftover content changed")
	}
	if s := w.Stats(); s.FilesRotated != 2 || s.FilesOpened != 3 {
		t.Errorf("stats %+v", s)
	}
}

// TestConcurrent writes from several goroutines, to shared and separate
// paths.
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	w := mustNew(t, Config{Dir: dir, RotateSize: 20000})
	b := batch(t, "zeek-log-conn-7rec.hex")
	const workers, per = 4, 25
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for j := range per {
				path := "shared"
				if j%2 == 0 {
					path = fmt.Sprintf("own%d", i)
				}
				if err := w.Write(withPath(b, path)); err != nil {
					t.Error(err)
					return
				}
				if j%10 == 0 {
					if err := w.Flush(); err != nil {
						t.Error(err)
					}
					_ = w.Stats()
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, name := range listDir(t, dir) {
		data := readFile(t, filepath.Join(dir, name))
		checkTSV(t, name, data)
		counts[name[:strings.IndexByte(name, '.')]] += len(recordLines(data))
	}
	for i := range workers {
		if n := counts[fmt.Sprintf("own%d", i)]; n != 13*7 {
			t.Errorf("own%d: %d records, want %d", i, n, 13*7)
		}
	}
	if n := counts["shared"]; n != workers*12*7 {
		t.Errorf("shared: %d records, want %d", n, workers*12*7)
	}
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Dir: t.TempDir(), Format: "xml"},
		{Dir: t.TempDir(), RotateSize: -1},
		{Dir: t.TempDir(), RotateInterval: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	w := mustNew(t, Config{Dir: dir, Format: FormatJSON})
	mustWrite(t, w, &value.LogBatch{Path: "empty", Fields: batch(t, "zeek-log-test.hex").Fields}) // no records: no file
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("files %v", got)
	}
}

// checkComplete requires every line of a log file to be complete and
// parseable: TSV lines with one column per field, JSON objects.
func checkComplete(t *testing.T, name string, data []byte, format string, columns int) int {
	t.Helper()
	if len(data) == 0 {
		return 0
	}
	if data[len(data)-1] != '\n' {
		t.Fatalf("%s: ends in a partial line: %q", name, data[max(0, len(data)-80):])
	}
	records := 0
	for i, line := range strings.Split(string(data[:len(data)-1]), "\n") {
		if format == FormatJSON {
			var obj map[string]any
			if err := json.Unmarshal([]byte(line), &obj); err != nil {
				t.Fatalf("%s line %d: %v: %q", name, i+1, err, line)
			}
			records++
			continue
		}
		switch {
		case i < 8 && !strings.HasPrefix(line, "#"):
			t.Fatalf("%s line %d: header expected: %q", name, i+1, line)
		case i < 8:
		case strings.HasPrefix(line, "#close\t"):
		case strings.Count(line, "\t") != columns-1:
			t.Fatalf("%s line %d: %d columns, want %d: %q", name, i+1, strings.Count(line, "\t")+1, columns, line)
		default:
			records++
		}
	}
	return records
}

// TestNoCloseFilesComplete writes batches and reads the files without
// closing the Writer: everything written is there, in complete lines.
func TestNoCloseFilesComplete(t *testing.T) {
	for _, format := range []string{FormatTSV, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			w := mustNew(t, Config{Dir: dir, Format: format})
			for _, b := range connBatches(t, 9) {
				mustWrite(t, w, b)
			}
			if n := checkComplete(t, "conn.log", readFile(t, filepath.Join(dir, "conn.log")), format, 22); n != 3*9 {
				t.Errorf("%d records, want %d", n, 3*9)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
