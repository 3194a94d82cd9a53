package otlpsink

import (
	"context"
	"testing"
	"time"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
	"github.com/zpipe/zpipe/internal/zeektest"
)

// benchInput is 16 captured conn batches: 112 log records per Push.
func benchInput(b *testing.B) (*message.Batch, int) {
	msg := zeektest.MustVector(b, "zeek-log-conn-7rec.hex")
	msgs := make([][][]byte, 16)
	for i := range msgs {
		msgs[i] = msg
	}
	return stagetest.Batch(msgs...), 16 * 7
}

// BenchmarkExport measures records per second from Push to a real gRPC
// collector in the process (default settings: gzip, batches of 512).
func BenchmarkExport(b *testing.B) {
	col := startCollector(b, ProtocolGRPC, nil)
	col.keep = false
	s, _ := newSink(b, map[string]any{"endpoint": col.endpoint(), "insecure": true, "batch_timeout": "10ms"})
	finish := run(b, s)
	in, per := benchInput(b)
	capacity := s.set.queueSize
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for s.Queued() > capacity-per { // Push never waits: hold back instead of dropping
			time.Sleep(50 * time.Microsecond)
		}
		if err := s.Push(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	total := int64(b.N * per)
	for col.count.Load() < total {
		time.Sleep(50 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if err := finish(); err != nil {
		b.Fatal(err)
	}
	if st := s.Stats(); st.Dropped[stage.DropQueueFull] != 0 || st.Sent != uint64(total) {
		b.Fatalf("stats %+v", st)
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "records/s")
}

// BenchmarkMapOnly measures records per second decoded and mapped,
// without queueing or exporting.
func BenchmarkMapOnly(b *testing.B) {
	s, _ := newSink(b, map[string]any{"endpoint": "127.0.0.1:1", "insecure": true})
	in, per := benchInput(b)
	var recs []*logspb.LogRecord
	var err error
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if recs, err = s.mapBatch(context.Background(), in, recs[:0]); err != nil || len(recs) != per {
			b.Fatal(err, len(recs))
		}
	}
	b.ReportMetric(float64(b.N*per)/time.Since(start).Seconds(), "records/s")
}
