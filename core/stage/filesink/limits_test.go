package filesink

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/logfile"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
	"github.com/zpipe/zpipe/internal/syncbuf"
)

// logMsg returns the log-write message of the captured test batch, its
// path changed to path.
func logMsg(t *testing.T, path string) [][]byte {
	t.Helper()
	frames := vector(t, "zeek-log-test.hex")
	b, err := zeeklog.Decode(frames[3])
	if err != nil {
		t.Fatal(err)
	}
	b.Path = path
	payload, err := zeeklog.Append(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{[]byte("zeek.logging." + path), frames[1], frames[2], payload}
}

// TestPathDrops: log batches whose path could name a rotated file, or that
// would start a path beyond max_paths, are dropped and counted each under
// its own reason; the others are written.
func TestPathDrops(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, map[string]any{"dir": dir, "max_paths": 2})
	in := stagetest.Batch(logMsg(t, "a"), logMsg(t, "conn.2026-11-22-04-26-37-2026-11-22-04-27-37"), logMsg(t, "b"),
		logMsg(t, ".hidden"), logMsg(t, "c"), logMsg(t, "a"), logMsg(t, "d"))
	if err := s.Push(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	finish(t, s)
	if got := listDir(t, dir); !slices.Equal(got, []string{"a.log", "b.log"}) {
		t.Errorf("files %v", got)
	}
	st := s.Stats()
	if st.Received != 7 || st.Sent != 3 || st.Dropped[DropInvalidPath] != 2 || st.Dropped[DropTooManyPaths] != 2 || st.Dropped[stage.DropMalformed] != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestLimitAttributes: max_open_files and max_paths must be whole numbers
// of 1 or more; left out, they take their defaults.
func TestLimitAttributes(t *testing.T) {
	env := stagetest.Env(t, nil)
	env.Codecs = stagetest.Codecs(t)
	for _, c := range []struct {
		attr string
		v    any
	}{{"max_open_files", 0}, {"max_open_files", 1.5}, {"max_paths", -1}, {"max_paths", 0}} {
		raw, _ := json.Marshal(map[string]any{"dir": t.TempDir(), "format": "tsv", "rotate_interval": "0s", c.attr: c.v})
		if _, err := Kind.New(env, raw); err == nil || !strings.Contains(err.Error(), `attribute "`+c.attr+`"`) {
			t.Errorf("%s = %v: error %v", c.attr, c.v, err)
		}
	}
	for _, a := range Kind.Schema.Attributes {
		want := map[string]any{"max_open_files": logfile.DefaultMaxOpenFiles, "max_paths": logfile.DefaultMaxPaths}[a.Name]
		if want != nil && a.Default != want {
			t.Errorf("attribute %s: default %v, want %v", a.Name, a.Default, want)
		}
	}
}

// sinkWithLog makes a tsv file sink whose log goes to the returned buffer.
func sinkWithLog(t *testing.T, config map[string]any) (stage.Stage, *syncbuf.Buffer) {
	t.Helper()
	out := &syncbuf.Buffer{}
	env := stagetest.Env(t, nil)
	env.Logger = slog.New(slog.NewTextHandler(out, nil))
	env.Codecs = stagetest.Codecs(t)
	config["format"], config["rotate_interval"] = "tsv", "0s"
	raw, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Kind.New(env, raw)
	if err != nil {
		t.Fatal(err)
	}
	return s, out
}

// TestDropsLoggedPerReason: a flood of one drop reason does not hide
// another from the log, and neither floods it.
func TestDropsLoggedPerReason(t *testing.T) {
	s, out := sinkWithLog(t, map[string]any{"dir": t.TempDir(), "max_paths": 1})
	var msgs [][][]byte
	for range 50 {
		msgs = append(msgs, logMsg(t, ".x"), logMsg(t, "a"), logMsg(t, "b"))
	}
	if err := s.Push(context.Background(), stagetest.Batch(msgs...)); err != nil {
		t.Fatal(err)
	}
	finish(t, s)
	log := out.String()
	if n := strings.Count(log, "log path rejected; dropped"); n != 1 {
		t.Errorf("%d lines of invalid paths, want 1:\n%s", n, log)
	}
	if n := strings.Count(log, "too many log paths; new path rejected; dropped"); n != 1 {
		t.Errorf("%d lines of too many paths, want 1:\n%s", n, log)
	}
	if st := s.Stats(); st.Dropped[DropInvalidPath] != 50 || st.Dropped[DropTooManyPaths] != 50 || st.Sent != 50 {
		t.Errorf("stats %+v", st)
	}
}
