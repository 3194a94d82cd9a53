package zmsgpack

import (
	"testing"

	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/internal/vectors"
)

func benchEvent(b *testing.B) value.Event {
	ev, err := brokerbin.DecodeEvent(vectors.Frames(b, vectors.Path(b, "captured/zeek-event-test_event.hex"))[3])
	if err != nil {
		b.Fatal(err)
	}
	return ev
}

func benchBatch(b *testing.B) *value.LogBatch {
	lb, err := zeeklog.Decode(vectors.Frames(b, vectors.Path(b, "captured/zeek-log-conn-7rec.hex"))[3])
	if err != nil {
		b.Fatal(err)
	}
	return lb
}

// BenchmarkDecodeTestEvent decodes the captured test_event (16 arguments of
// every kind) from zpipe-msgpack-v1.
func BenchmarkDecodeTestEvent(b *testing.B) {
	ev := benchEvent(b)
	doc, err := AppendEvent(nil, &ev)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEncodeTestEvent encodes the captured test_event into a reused
// buffer.
func BenchmarkEncodeTestEvent(b *testing.B) {
	ev := benchEvent(b)
	buf, err := AppendEvent(nil, &ev)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendEvent(buf[:0], &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeConn7 decodes the captured batch of 7 conn records.
func BenchmarkDecodeConn7(b *testing.B) {
	lb := benchBatch(b)
	doc, err := AppendLogBatch(nil, lb)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeLogBatch(doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(lb.Records))/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkEncodeConn7 encodes the captured batch of 7 conn records into a
// reused buffer.
func BenchmarkEncodeConn7(b *testing.B) {
	lb := benchBatch(b)
	buf, err := AppendLogBatch(nil, lb)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendLogBatch(buf[:0], lb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(lb.Records))/b.Elapsed().Seconds(), "records/s")
}
