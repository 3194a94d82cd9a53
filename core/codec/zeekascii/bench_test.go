package zeekascii

import (
	"testing"

	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/value"
)

// connBatch returns a conn.log batch of n records (22 columns), cycling
// through the captured conn records.
func connBatch(b *testing.B, n int) *value.LogBatch {
	b.Helper()
	var recs [][]value.Value
	var fields []value.Field
	for _, rel := range []string{"captured/zeek-log-conn-7rec.hex", "captured/zeek-log-conn-1rec-a.hex", "captured/zeek-log-conn-1rec-b.hex"} {
		batch := decode(b, rel)
		fields = batch.Fields
		recs = append(recs, batch.Records...)
	}
	out := &value.LogBatch{Stream: "Conn::LOG", Writer: "Log::WRITER_ASCII", Filter: "default", Path: "conn", Fields: fields}
	for i := range n {
		out.Records = append(out.Records, recs[i%len(recs)])
	}
	return out
}

// BenchmarkConn renders a batch of 1000 conn records (22 columns) as
// Zeek's TSV lines, and as Zeek's JSON lines (jsonl.AppendLog, the
// baseline) in the same run. MB/s counts output bytes.
func BenchmarkConn(b *testing.B) {
	const n = 1000
	batch := connBatch(b, n)
	report := func(b *testing.B) {
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	}
	b.Run("tsv", func(b *testing.B) {
		out, err := AppendRecords(nil, batch)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
		b.ReportAllocs()
		for b.Loop() {
			if out, err = AppendRecords(out[:0], batch); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("jsonl", func(b *testing.B) {
		out := jsonl.AppendLog(nil, batch, jsonl.LogOptions{})
		b.SetBytes(int64(len(out)))
		b.ReportAllocs()
		for b.Loop() {
			out = jsonl.AppendLog(out[:0], batch, jsonl.LogOptions{})
		}
		report(b)
	})
}
