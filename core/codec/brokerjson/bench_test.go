package brokerjson

import (
	"testing"

	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/internal/vectors"
)

func testEventJSON(b *testing.B) []byte {
	ev, err := brokerbin.DecodeEvent(vectors.Frames(b, vectors.Path(b, "captured/zeek-event-test_event.hex"))[3])
	if err != nil {
		b.Fatal(err)
	}
	payload, err := AppendEvent(nil, &ev)
	if err != nil {
		b.Fatal(err)
	}
	return payload
}

func reportEvents(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeTestEvent decodes the captured test_event in its
// broker-json-v1 form.
func BenchmarkDecodeTestEvent(b *testing.B) {
	payload := testEventJSON(b)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(payload); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b)
}

// BenchmarkEncodeTestEvent encodes the captured test_event as
// broker-json-v1 into a reused buffer.
func BenchmarkEncodeTestEvent(b *testing.B) {
	payload := testEventJSON(b)
	ev, err := DecodeEvent(payload)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 2*len(payload))
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendEvent(buf[:0], &ev); err != nil {
			b.Fatal(err)
		}
	}
	reportEvents(b)
}
