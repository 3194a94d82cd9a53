package builtin

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/value/valuetest"
	"github.com/zpipe/zpipe/internal/vectors"
)

// logPayloads returns zeek-bin-serializer payloads: every captured and
// specified batch, and generated ones of every loggable type with strings
// that need escaping.
func logPayloads(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, path := range vectors.Glob(t, "captured/zeek-log-*.hex") {
		out = append(out, vectors.Frames(t, path)[3])
	}
	for _, rel := range []string{"derived/log-write-cluster.hex", "derived/log-write-demo.hex", "derived/zeek-bin-unit-test-log.hex"} {
		out = append(out, vectors.Payload(t, rel))
	}
	g := valuetest.New(7)
	g.Seconds = true
	for len(out) < 400 {
		p, err := zeeklog.Append(nil, g.LogBatch())
		if err != nil {
			continue // generated sets may hold duplicates; Zeek's format refuses them
		}
		out = append(out, p)
	}
	return out
}

// reference renders payload the way the file writer renders decoded
// batches: zeeklog.Decode, then zeekascii or jsonl.
func reference(t *testing.T, target string, payload []byte) (*value.LogBatch, []byte) {
	t.Helper()
	b, err := zeeklog.Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	if target == jsonl.Format {
		return b, jsonl.AppendLog(nil, b, jsonl.LogOptions{})
	}
	lines, err := zeekascii.AppendRecords(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	return b, lines
}

// TestZeekRendersAsTheWriter: zeek-bin-serializer batches rendered by the
// codec in one pass are byte for byte what decoding them and rendering
// the values gives (what the tests hold to Zeek's own files), in TSV and
// JSON, with the batch's stream, path and fields; batches of one log share
// their schema.
func TestZeekRendersAsTheWriter(t *testing.T) {
	local, err := batch.NewLocal("zeek", "test", Zeek()...)
	if err != nil {
		t.Fatal(err)
	}
	payloads := logPayloads(t)
	var in batch.Items
	for _, p := range payloads {
		in.Append(p)
	}
	for _, target := range []string{zeekascii.Format, jsonl.Format} {
		var out batch.RenderResult
		if err := local.Render(context.Background(), codec.FormatZeekLog, target, &in, &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Errors) != 0 {
			t.Fatalf("%s: errors %v", target, out.Errors)
		}
		if err := out.Check(len(payloads)); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		for i, lines := range out.Lines.All() {
			b, want := reference(t, target, payloads[i])
			if !bytes.Equal(lines, want) {
				t.Fatalf("%s: batch %d:\n%s\nwant\n%s", target, i, lines, want)
			}
			l := out.Logs[i]
			if l.Stream != b.Stream || l.Path != b.Path || l.Records != len(b.Records) || !slices.Equal(out.Schemas[l.Schema], b.Fields) {
				t.Fatalf("%s: batch %d: log %+v, fields %v; want %s %s %d records, fields %v", target, i, l, out.Schemas[l.Schema], b.Stream, b.Path, len(b.Records), b.Fields)
			}
		}
	}
	// The captured conn batches (three in a row) share one schema.
	var conn batch.Items
	for _, rel := range []string{"captured/zeek-log-conn-7rec.hex", "captured/zeek-log-conn-1rec-a.hex", "captured/zeek-log-conn-1rec-b.hex", "captured/zeek-log-dns-8rec.hex"} {
		conn.Append(vectors.Payload(t, rel))
	}
	var out batch.RenderResult
	if err := local.Render(context.Background(), codec.FormatZeekLog, zeekascii.Format, &conn, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Schemas) != 2 || out.Logs[0].Schema != 0 || out.Logs[2].Schema != 0 || out.Logs[3].Schema != 1 {
		t.Fatalf("schemas %d, logs %+v", len(out.Schemas), out.Logs)
	}
}

// TestZeekRenderErrors: a malformed payload fails alone, with the error
// zeeklog.Decode gives it; the payloads around it render.
func TestZeekRenderErrors(t *testing.T) {
	local, err := batch.NewLocal("zeek", "test", Zeek()...)
	if err != nil {
		t.Fatal(err)
	}
	good := vectors.Payload(t, "captured/zeek-log-conn-7rec.hex")
	bad := [][]byte{good[:100], append(slices.Clone(good), 0), good[:len(good)-1], {}}
	var in batch.Items
	in.Append(good)
	for _, p := range bad {
		in.Append(p)
	}
	in.Append(good)
	var out batch.RenderResult
	if err := local.Render(context.Background(), codec.FormatZeekLog, zeekascii.Format, &in, &out); err != nil {
		t.Fatal(err)
	}
	if err := out.Check(in.Len()); err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != len(bad) {
		t.Fatalf("errors %+v", out.Errors)
	}
	for i, p := range bad {
		_, want := zeeklog.Decode(p)
		e := out.Err(i + 1)
		if e == nil || want == nil || e.Msg != want.Error() {
			t.Errorf("payload %d: error %+v, want %v", i+1, e, want)
		}
	}
	_, want := reference(t, zeekascii.Format, good)
	lines := out.Lines.Slices()
	if !bytes.Equal(lines[0], want) || !bytes.Equal(lines[len(lines)-1], want) {
		t.Fatal("the good payloads around the bad ones did not render")
	}
	if err := local.Render(context.Background(), codec.FormatZeekLog, "zeek-xml", &in, &out); err == nil {
		t.Fatal("rendered into an unknown target")
	}
	if err := local.Render(context.Background(), codec.FormatBrokerBin, zeekascii.Format, &in, &out); err == nil {
		t.Fatal("rendered events")
	}
}

// TestZeekRenderReusesMemory: rendering the same batches again into a
// reused result allocates a bounded amount per call, not per record.
func TestZeekRenderReusesMemory(t *testing.T) {
	local, err := batch.NewLocal("zeek", "test", Zeek()...)
	if err != nil {
		t.Fatal(err)
	}
	var in batch.Items
	p := vectors.Payload(t, "captured/zeek-log-conn-7rec.hex")
	for range 100 {
		in.Append(p)
	}
	var out batch.RenderResult
	render := func() {
		if err := local.Render(context.Background(), codec.FormatZeekLog, zeekascii.Format, &in, &out); err != nil || len(out.Errors) > 0 {
			t.Fatal(err, out.Errors)
		}
	}
	render()
	// A renderer, one schema of 22 fields (the slice and its strings),
	// stream and path: about 30 allocations for 700 records.
	if allocs := testing.AllocsPerRun(20, render); allocs > 40 {
		t.Errorf("%v allocations to render 100 batches of 7 records, want at most 40", allocs)
	}
}

// BenchmarkRenderConn renders 100 captured 7-record conn batches per call
// into Zeek's TSV and JSON lines; records/s counts conn records.
func BenchmarkRenderConn(b *testing.B) {
	local, err := batch.NewLocal("zeek", "bench", Zeek()...)
	if err != nil {
		b.Fatal(err)
	}
	var in batch.Items
	p := vectors.Payload(b, "captured/zeek-log-conn-7rec.hex")
	for range 100 {
		in.Append(p)
	}
	for _, target := range []string{zeekascii.Format, jsonl.Format} {
		b.Run(target, func(b *testing.B) {
			var out batch.RenderResult
			b.SetBytes(int64(len(in.Data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := local.Render(context.Background(), codec.FormatZeekLog, target, &in, &out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(700*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
