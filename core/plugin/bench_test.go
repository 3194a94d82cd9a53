package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
)

const benchBatch = 1024

// benchShapes are the benchmarked messages: a 64-byte single frame, and a
// Zeek-shaped event (topic, node id, format, 64-byte payload).
var benchShapes = []struct {
	name   string
	frames int
}{{"1frame", 1}, {"4frames", 4}}

func benchMessage(frames int) [][]byte {
	payload := make([]byte, 64)
	if frames == 4 {
		return [][]byte{[]byte("zeek.cluster.worker"), []byte("worker-1-1234"), []byte("broker-bin-v1"), payload}
	}
	return [][]byte{payload}
}

func benchBatchOf(frames int) *message.Batch {
	var b message.Batch
	m := benchMessage(frames)
	for i := 0; i < benchBatch; i++ {
		b.Append(m...)
	}
	return &b
}

func reportMsgs(b *testing.B, batches int) {
	b.ReportMetric(float64(batches*benchBatch)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkStreamThroughput measures batches of 1024 messages crossing the
// plugin boundary (core → plugin on a send stream with acknowledgements,
// plugin → core on a receive stream with credit) next to an in-process
// channel carrying the same batches.
func BenchmarkStreamThroughput(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run("send/plugin/"+shape.name, func(b *testing.B) { benchSend(b, shape.frames) })
		b.Run("receive/plugin/"+shape.name, func(b *testing.B) { benchReceive(b, shape.frames) })
		b.Run("channel/"+shape.name, func(b *testing.B) { benchChannel(b, shape.frames) })
	}
}

func benchHost(b *testing.B) (*TransportHost, context.Context) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := StartTransport(ctx, HostConfig{Path: testPluginPath, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Shutdown() })
	return h, ctx
}

func benchSend(b *testing.B, frames int) {
	h, ctx := benchHost(b)
	if err := h.Open(ctx, transport.SocketSpec{ID: "null", Kind: "nullsink"}); err != nil {
		b.Fatal(err)
	}
	sent := 0
	snd, err := h.Sender(ctx, "null", transport.SendOptions{OnAck: func(r transport.SendResult) { sent += r.Sent }})
	if err != nil {
		b.Fatal(err)
	}
	batch := benchBatchOf(frames)
	b.SetBytes(int64(batch.Bytes()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := snd.Send(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := snd.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if sent != b.N*benchBatch {
		b.Fatalf("plugin acknowledged %d of %d messages", sent, b.N*benchBatch)
	}
	reportMsgs(b, b.N)
}

func benchReceive(b *testing.B, frames int) {
	h, ctx := benchHost(b)
	cfg := fmt.Sprintf(`{"frames":%d,"size":64}`, frames)
	if err := h.Open(ctx, transport.SocketSpec{ID: "gen", Kind: "gensource", Config: []byte(cfg)}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(benchBatchOf(frames).Bytes()))
	errStop := errors.New("enough")
	n := 0
	b.ResetTimer()
	err := h.Receive(ctx, "gen", transport.ReceiveOptions{Limits: transport.Limits{MaxMessages: benchBatch, MaxBytes: 1 << 20}},
		func(batch *message.Batch) error {
			if batch.Len() != benchBatch {
				return fmt.Errorf("batch of %d messages", batch.Len())
			}
			for it := batch.Iter(); it.Next(); {
				_ = it.Frame(it.NumFrames() - 1)
			}
			n++
			if n == b.N {
				return errStop
			}
			return nil
		})
	b.StopTimer()
	if !errors.Is(err, errStop) {
		b.Fatal(err)
	}
	reportMsgs(b, b.N)
}

// benchChannel is the in-process baseline: a producer fills reused batches
// and hands them to a consumer over a channel with the same window.
func benchChannel(b *testing.B, frames int) {
	m := benchMessage(frames)
	full := make(chan *message.Batch, DefaultWindow)
	free := make(chan *message.Batch, DefaultWindow)
	for i := 0; i < DefaultWindow; i++ {
		free <- &message.Batch{}
	}
	b.SetBytes(int64(benchBatchOf(frames).Bytes()))
	b.ResetTimer()
	go func() {
		defer close(full)
		for i := 0; i < b.N; i++ {
			batch := <-free
			batch.Reset()
			for j := 0; j < benchBatch; j++ {
				batch.Append(m...)
			}
			full <- batch
		}
	}()
	got := 0
	for batch := range full {
		for it := batch.Iter(); it.Next(); {
			_ = it.Frame(it.NumFrames() - 1)
		}
		got++
		free <- batch
	}
	b.StopTimer()
	if got != b.N {
		b.Fatalf("consumed %d of %d batches", got, b.N)
	}
	reportMsgs(b, b.N)
}
