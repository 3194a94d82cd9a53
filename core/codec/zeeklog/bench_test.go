package zeeklog

import (
	"testing"

	"github.com/zpipe/zpipe/internal/vectors"
)

func reportRecords(b *testing.B, records int) {
	b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecodeConn7 decodes the captured 7-record conn.log batch (22
// columns, 3154 bytes).
func BenchmarkDecodeConn7(b *testing.B) {
	payload := vectors.Payload(b, "captured/zeek-log-conn-7rec.hex")
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(payload); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b, 7)
}

// BenchmarkEncodeConn7 encodes the captured 7-record conn.log batch into a
// reused buffer.
func BenchmarkEncodeConn7(b *testing.B) {
	payload := vectors.Payload(b, "captured/zeek-log-conn-7rec.hex")
	batch, err := Decode(payload)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 2*len(payload))
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = Append(buf[:0], batch); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b, 7)
}

// BenchmarkDecodeHeader reads only the routing header of the batch.
func BenchmarkDecodeHeader(b *testing.B) {
	payload := vectors.Payload(b, "captured/zeek-log-conn-7rec.hex")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeHeader(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRowsConn7 decodes the captured 7-record conn.log batch record
// by record into reused memory (Rows), as the log renderers do.
func BenchmarkRowsConn7(b *testing.B) {
	payload := vectors.Payload(b, "captured/zeek-log-conn-7rec.hex")
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	var rows Rows
	for b.Loop() {
		if _, err := rows.Start(payload); err != nil {
			b.Fatal(err)
		}
		for rows.More() {
			if _, err := rows.Next(); err != nil {
				b.Fatal(err)
			}
		}
		if err := rows.End(); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b, 7)
}
