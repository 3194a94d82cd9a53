package filesink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/msgfile"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
	"github.com/zpipe/zpipe/internal/zeektest"
)

func newSink(t *testing.T, config map[string]any) stage.Stage {
	t.Helper()
	return newSinkWith(t, config, stagetest.Codecs(t))
}

// newSinkWith makes a file sink of config, with defaults for what it
// leaves out (TSV, no rotation), over the codecs given.
func newSinkWith(t *testing.T, config map[string]any, codecs *registry.Registry) stage.Stage {
	t.Helper()
	env := stagetest.Env(t, nil)
	env.Component = "sink.file.logs"
	env.Codecs = codecs
	for k, v := range map[string]any{"format": "tsv", "rotate_interval": "0s", "rotate_size": 0, "file": ""} {
		if _, ok := config[k]; !ok {
			config[k] = v
		}
	}
	raw, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Kind.New(env, raw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// finish closes the sink's input and runs it to the end (files closed).
func finish(t *testing.T, s stage.Stage) {
	t.Helper()
	s.CloseInput()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func vector(t *testing.T, name string) [][]byte {
	t.Helper()
	f, err := zeektest.LoadVector(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func expected(t *testing.T, rel string) string {
	t.Helper()
	dir, err := zeektest.VectorsDir()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "expected", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutStamps drops the #open and #close lines, the only ones that
// differ between runs.
func withoutStamps(s string) string {
	var out []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "#open\t") && !strings.HasPrefix(l, "#close\t") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// TestZeekLogs: the captured batches, pushed through the sink (decoded by
// the codecs), give the files Zeek's own logger wrote, in both formats;
// an event pushed in between is dropped and counted, not written.
func TestZeekLogs(t *testing.T) {
	for _, format := range []string{"tsv", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			s := newSink(t, map[string]any{"dir": dir, "format": format})
			zeekBatches(t, s, dir, format)
			if format == "tsv" {
				for _, name := range []string{"test.log", "conn.log"} {
					got, err := os.ReadFile(filepath.Join(dir, name))
					if err != nil {
						t.Fatal(err)
					}
					if !strings.Contains(string(got), "\n#close\t") {
						t.Errorf("%s has no #close line", name)
					}
				}
			}
		})
	}
}

// TestRawReplays: a raw sink keeps every message, malformed ones
// included, byte for byte, readable back with msgfile.
func TestRawReplays(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, map[string]any{"dir": dir, "format": "raw", "file": "all.zpmsg"})
	in := stagetest.Batch(vector(t, "zeek-event-test_event.hex"), stagetest.Msg("odd", "frames"), vector(t, "zeek-log-test.hex"))
	if err := s.Push(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	finish(t, s)
	f, err := os.Open(filepath.Join(dir, "all.zpmsg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := msgfile.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out message.Batch
	for {
		if err := r.Next(&out); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out.Data, in.Data) || len(out.Parts) != 3 {
		t.Fatalf("replayed %d messages, data equal: %v", out.Len(), bytes.Equal(out.Data, in.Data))
	}
}

// TestJSONLines: events and log records, one JSON object per line.
func TestJSONLines(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, map[string]any{"dir": dir, "format": "jsonl"})
	in := stagetest.Batch(vector(t, "zeek-event-test_event.hex"), vector(t, "zeek-log-test.hex"),
		stagetest.Msg("t", "n", "no-such-format", "x"))
	if err := s.Push(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	finish(t, s)
	data, err := os.ReadFile(filepath.Join(dir, "logs.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 { // one event, the two records of the test log
		t.Fatalf("%d lines:\n%s", len(lines), data)
	}
	for _, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
	}
	if !strings.Contains(lines[0], "test_event") || !strings.Contains(lines[1], `"_path":"test"`) {
		t.Fatalf("lines:\n%s", data)
	}
	if st := s.Stats(); st.Dropped[stage.DropNoCodec] != 1 || st.Sent != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBadConfig(t *testing.T) {
	env := stagetest.Env(t, nil)
	for _, c := range []struct{ config, want string }{
		{`{"dir":"","format":"raw"}`, `attribute "dir"`},
		{`{"dir":"` + t.TempDir() + `","format":"raw","file":"../x"}`, `attribute "file"`},
		{`{"dir":"` + t.TempDir() + `","format":"tsv","rotate_interval":"soon","rotate_size":0}`, "no codecs"},
	} {
		if _, err := Kind.New(env, []byte(c.config)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.config, err, c.want)
		}
	}
}
