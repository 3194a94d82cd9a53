package brokerbin

import (
	"testing"

	"github.com/zpipe/zpipe/internal/vectors"
)

func reportEvents(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeTestEvent decodes the captured test_event: 16 arguments
// of every kind, 243 bytes.
func BenchmarkDecodeTestEvent(b *testing.B) {
	payload := vectors.Frames(b, vectors.Path(b, "captured/zeek-event-test_event.hex"))[3]
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(payload); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b)
}

// BenchmarkEncodeTestEvent encodes the captured test_event into a reused
// buffer.
func BenchmarkEncodeTestEvent(b *testing.B) {
	payload := vectors.Frames(b, vectors.Path(b, "captured/zeek-event-test_event.hex"))[3]
	ev, err := DecodeEvent(payload)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendEvent(buf[:0], &ev); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b)
}

// BenchmarkDecodeHello decodes a captured ZeroMQ::hello, the smallest
// common event.
func BenchmarkDecodeHello(b *testing.B) {
	payload := vectors.Frames(b, vectors.Path(b, "captured/zeek-event-zeromq-hello.hex"))[3]
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(payload); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b)
}
