package logfile

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	"github.com/zpipe/zpipe/core/value"
)

// rendered renders b's records in format, as a codec that renders log
// batches hands them over, and returns b without its records.
func rendered(t *testing.T, format string, b *value.LogBatch) (*value.LogBatch, int, []byte) {
	t.Helper()
	var lines []byte
	if format == FormatJSON {
		lines = jsonl.AppendLog(nil, b, jsonl.LogOptions{})
	} else {
		var err error
		if lines, err = zeekascii.AppendRecords(nil, b); err != nil {
			t.Fatal(err)
		}
	}
	head := *b
	head.Records = nil
	return &head, len(b.Records), lines
}

// TestWriteRenderedMatchesZeek writes the captured batches as rendered
// lines, some through Write in between: the files are Zeek's, as with
// Write alone.
func TestWriteRenderedMatchesZeek(t *testing.T) {
	for _, format := range []string{FormatTSV, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			clk := newClock(t0)
			w := mustNew(t, Config{Dir: dir, Format: format, Now: clk.Now})
			for _, name := range []string{"zeek-log-test.hex", "zeek-log-conn-7rec.hex", "zeek-log-dns-8rec.hex", "zeek-log-conn-1rec-a.hex"} {
				if err := w.WriteRendered(rendered(t, format, batch(t, name))); err != nil {
					t.Fatal(err)
				}
			}
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
				{"dns.log", format + "/dns.log"},
				{"conn.log", "captured-batches-only/" + format + "/conn.log"},
			} {
				got, want := readFile(t, filepath.Join(dir, c.file)), expected(t, c.want)
				if format == FormatTSV {
					got, want = maskTimes(got), maskTimes(want)
				}
				diffLines(t, c.file+" vs "+c.want, got, want)
			}
			if s := w.Stats(); s.Batches != 5 || s.Records != 2+7+8+1+1 || s.FilesOpened != 3 || s.BatchesRejected != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestWriteRenderedRotatesAndRejects: rendered batches rotate their file
// when the fields change, as Write's do; a bad path, or records without
// fields, are rejected and write nothing; a batch without records writes
// nothing.
func TestWriteRenderedRotatesAndRejects(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(t0)
	w := mustNew(t, Config{Dir: dir, Now: clk.Now})
	conn, records, lines := rendered(t, FormatTSV, batch(t, "zeek-log-conn-7rec.hex"))
	if err := w.WriteRendered(conn, records, lines); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	other := *conn
	other.Fields = slices.Clone(conn.Fields)
	other.Fields[0].Name = "when"
	if err := w.WriteRendered(&other, records, lines); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		b       *value.LogBatch
		records int
		want    error
	}{
		{withPath(conn, "../conn"), records, ErrPath},
		{&value.LogBatch{Path: "conn"}, 1, ErrMismatch},
	} {
		if err := w.WriteRendered(c.b, c.records, lines); !errors.Is(err, c.want) {
			t.Errorf("%q: error %v, want %v", c.b.Path, err, c.want)
		}
	}
	if err := w.WriteRendered(conn, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{rotatedName("conn", t0, t0.Add(time.Second)), "conn.log"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if data := readFile(t, filepath.Join(dir, "conn.log")); !bytes.Contains(data, []byte("#fields\twhen\t")) || bytes.Count(data, lines) != 1 {
		t.Fatalf("conn.log:\n%s", data)
	}
	if s := w.Stats(); s.Batches != 2 || s.BatchesRejected != 2 {
		t.Errorf("stats %+v", s)
	}
}
