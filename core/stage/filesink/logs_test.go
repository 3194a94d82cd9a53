package filesink

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/builtin"
	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
)

// countingCodec counts the payloads of each format its codec decodes and
// renders.
type countingCodec struct {
	*batch.Local
	decodedLogs, decodedEvents, rendered atomic.Int64
}

var _ batch.Renderer = (*countingCodec)(nil)

func (c *countingCodec) Decode(ctx context.Context, format string, in *batch.Items, out *batch.Result) error {
	if format == codec.FormatZeekLog {
		c.decodedLogs.Add(int64(in.Len()))
	} else {
		c.decodedEvents.Add(int64(in.Len()))
	}
	return c.Local.Decode(ctx, format, in, out)
}

func (c *countingCodec) Render(ctx context.Context, format, target string, in *batch.Items, out *batch.RenderResult) error {
	c.rendered.Add(int64(in.Len()))
	return c.Local.Render(ctx, format, target, in, out)
}

// sinkWith makes a file sink whose codecs are handlers, counted.
func sinkWith(t *testing.T, config map[string]any, handlers ...batch.Handler) (stage.Stage, *countingCodec) {
	t.Helper()
	local, err := batch.NewLocal("codec-zeek", "test", handlers...)
	if err != nil {
		t.Fatal(err)
	}
	c := &countingCodec{Local: local}
	return newSinkWith(t, config, registry.New(nil, registry.LocalSource("codec-zeek", c))), c
}

// zeekBatches pushes the captured batches (and an event) in two batches,
// closes the sink and checks the files against Zeek's.
func zeekBatches(t *testing.T, s stage.Stage, dir, format string) {
	t.Helper()
	in := stagetest.Batch(vector(t, "zeek-log-test.hex"), vector(t, "zeek-log-conn-7rec.hex"), vector(t, "zeek-event-test_event.hex"))
	if err := s.Push(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(context.Background(), stagetest.Batch(vector(t, "zeek-log-conn-1rec-a.hex"), vector(t, "zeek-log-conn-1rec-b.hex"))); err != nil {
		t.Fatal(err)
	}
	finish(t, s)
	for _, name := range []string{"test.log", "conn.log"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if want := expected(t, filepath.Join("captured-batches-only", format, name)); withoutStamps(string(got)) != withoutStamps(want) {
			t.Errorf("%s differs from Zeek's:\n--- zpipe\n%s\n--- zeek\n%s", name, got, want)
		}
	}
	if st := s.Stats(); st.Received != 5 || st.Sent != 4 || st.Dropped[DropNotLog] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestLogsRenderedByTheirCodec: log batches reach the files as lines their
// codec rendered: none is decoded into values (let alone documents) in
// the core, and the files are Zeek's, in both formats. (The event among
// them is decoded, and dropped.)
func TestLogsRenderedByTheirCodec(t *testing.T) {
	for _, format := range []string{"tsv", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			s, c := sinkWith(t, map[string]any{"dir": dir, "format": format}, builtin.Zeek()...)
			zeekBatches(t, s, dir, format)
			if c.decodedLogs.Load() != 0 || c.rendered.Load() != 4 || c.decodedEvents.Load() != 1 {
				t.Fatalf("log batches decoded %d, rendered %d; events decoded %d", c.decodedLogs.Load(), c.rendered.Load(), c.decodedEvents.Load())
			}
		})
	}
}

// TestLogsOfCodecsThatDoNotRender: a codec that does not render log
// batches has them decoded, and the sink renders them: the same files.
func TestLogsOfCodecsThatDoNotRender(t *testing.T) {
	handlers := builtin.Zeek()
	for i := range handlers {
		handlers[i].Renders = nil
	}
	for _, format := range []string{"tsv", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			s, c := sinkWith(t, map[string]any{"dir": dir, "format": format}, handlers...)
			zeekBatches(t, s, dir, format)
			if c.decodedLogs.Load() != 4 || c.rendered.Load() != 0 {
				t.Fatalf("log batches decoded %d, rendered %d", c.decodedLogs.Load(), c.rendered.Load())
			}
		})
	}
}

// connBatches returns a batch of n copies of the captured 7-record conn
// batch, and the lines one adds to a TSV file.
func connBatches(t *testing.T, n int) (*message.Batch, []byte) {
	t.Helper()
	frames := vector(t, "zeek-log-conn-7rec.hex")
	var b message.Batch
	for range n {
		b.Append(frames...)
	}
	lb, err := zeeklog.Decode(frames[3])
	if err != nil {
		t.Fatal(err)
	}
	lines, err := zeekascii.AppendRecords(nil, lb)
	if err != nil {
		t.Fatal(err)
	}
	return &b, lines
}

// TestManyLogBatches: a push of more log batches than one codec request
// takes (several megabytes) writes every record, in order, in a few
// writes: the batches of one codec request go out together.
func TestManyLogBatches(t *testing.T) {
	dir := t.TempDir()
	s, c := sinkWith(t, map[string]any{"dir": dir}, builtin.Zeek()...)
	const n = 1500 // about 4.7 MB of payload
	in, lines := connBatches(t, n)
	if err := s.Push(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	finish(t, s)
	data, err := os.ReadFile(filepath.Join(dir, "conn.log"))
	if err != nil {
		t.Fatal(err)
	}
	body := data[bytes.Index(data, []byte("\n#types\t")):bytes.LastIndex(data, []byte("#close\t"))]
	body = body[bytes.IndexByte(body[1:], '\n')+2:]
	if !bytes.Equal(body, bytes.Repeat(lines, n)) {
		t.Fatalf("conn.log holds %d bytes of records, want %d copies of %d", len(body), n, len(lines))
	}
	if st := s.Stats(); st.Sent != n || c.rendered.Load() != n {
		t.Fatalf("stats %+v, rendered %d", st, c.rendered.Load())
	}
	if w := s.(*Sink).logs.Stats(); w.Records != 7*n || w.Batches > 10 {
		t.Fatalf("%d records in %d writes, want %d in one write per codec request", w.Records, w.Batches, 7*n)
	}
}

// TestRotateSizeCountsEveryBatch: with rotation by size, every log batch
// is written on its own, so that a file is rotated before the batch that
// would take it past the size, even when many come in one push.
func TestRotateSizeCountsEveryBatch(t *testing.T) {
	dir := t.TempDir()
	in, lines := connBatches(t, 10)
	frames := vector(t, "zeek-log-conn-7rec.hex")
	lb, _ := zeeklog.Decode(frames[3])
	header := len(zeekascii.AppendHeader(nil, lb, time.Now()))
	size := header + 2*len(lines) + len("#close\t2006-01-02-15-04-05\n")
	s, _ := sinkWith(t, map[string]any{"dir": dir, "rotate_size": size}, builtin.Zeek()...)
	if err := s.Push(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	finish(t, s)
	files, err := filepath.Glob(filepath.Join(dir, "conn.*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 5 {
		t.Fatalf("%d files, want 5 of 2 batches each: %v", len(files), files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != size || !bytes.Contains(data, append(append([]byte("\n"), lines...), lines...)) {
			t.Errorf("%s: %d bytes, want header, 2 batches and #close: %d", f, len(data), size)
		}
	}
}
