package logfile

import (
	"testing"

	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	"github.com/zpipe/zpipe/core/value"
)

// benchBatch returns a conn.log batch of n records (22 columns) cycling
// through the captured conn records.
func benchBatch(b *testing.B, n int) *value.LogBatch {
	b.Helper()
	var recs [][]value.Value
	src := connBatches(b, 3)
	for _, s := range src {
		recs = append(recs, s.Records...)
	}
	out := *src[0]
	out.Records = nil
	for i := range n {
		out.Records = append(out.Records, recs[i%len(recs)])
	}
	return &out
}

// BenchmarkWrite writes batches of 100 conn records to files through a
// Writer (rotating every 64 MiB), TSV and JSON, beside rendering the same
// records into memory without a file (the baseline). MB/s counts the
// bytes of the records.
func BenchmarkWrite(b *testing.B) {
	const n = 100
	batch := benchBatch(b, n)
	report := func(b *testing.B, size int) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
	}
	records := func(b *testing.B) {
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	}
	renderJSON := func(dst []byte) []byte {
		for _, rec := range batch.Records {
			if err := zeekascii.CheckRecord(batch.Fields, rec); err != nil {
				b.Fatal(err)
			}
			dst = jsonl.AppendRecord(dst, batch.Fields, rec, jsonl.LogOptions{}, batch.Path)
		}
		return dst
	}
	tsvSize, err := zeekascii.AppendRecords(nil, batch)
	if err != nil {
		b.Fatal(err)
	}
	jsonSize := renderJSON(nil)

	b.Run("tsv/render", func(b *testing.B) {
		report(b, len(tsvSize))
		buf := make([]byte, 0, 2*len(tsvSize))
		for b.Loop() {
			if buf, err = zeekascii.AppendRecords(buf[:0], batch); err != nil {
				b.Fatal(err)
			}
		}
		records(b)
	})
	b.Run("tsv/file", func(b *testing.B) {
		report(b, len(tsvSize))
		w := mustNew(b, Config{Dir: b.TempDir(), RotateSize: 64 << 20})
		for b.Loop() {
			if err := w.Write(batch); err != nil {
				b.Fatal(err)
			}
		}
		records(b)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("json/render", func(b *testing.B) {
		report(b, len(jsonSize))
		buf := make([]byte, 0, 2*len(jsonSize))
		for b.Loop() {
			buf = renderJSON(buf[:0])
		}
		records(b)
	})
	b.Run("json/file", func(b *testing.B) {
		report(b, len(jsonSize))
		w := mustNew(b, Config{Dir: b.TempDir(), Format: FormatJSON, RotateSize: 64 << 20})
		for b.Loop() {
			if err := w.Write(batch); err != nil {
				b.Fatal(err)
			}
		}
		records(b)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	})
}
