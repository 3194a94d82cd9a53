package plugin

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/brokerjson"
	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/codec/zmsgpack"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/internal/vectors"
)

// codecBench is one format and direction measured three ways.
type codecBench struct {
	name   string // sub-benchmark name
	format string
	op     codecOp
	// unit names what is counted: events or records.
	unit string
	// perItem is how many events or records one item holds.
	perItem int
	// payloads are the items in the format; values holds the same items
	// decoded, as zpipe-msgpack-v1 documents.
	payloads batch.Items
	docs     batch.Items
	// direct decodes (or encodes) item i in process straight to (or from)
	// values, as the core would with the codec linked in.
	direct func(i int, dst []byte) ([]byte, error)
	// toValues turns a document into values, the core's last step on the
	// way out of a codec; fromValues the first on the way in.
	toValues   func(doc []byte) error
	fromValues func(i int, dst []byte) ([]byte, error)
}

// batchItems is the number of payloads per batch in the benchmarks.
const batchItems = 256

func repeat(p []byte, n int) batch.Items {
	var it batch.Items
	for range n {
		it.Append(p)
	}
	return it
}

func eventBench(b *testing.B, name, format string, payload []byte, decode func([]byte) (value.Event, error), encode func([]byte, *value.Event) ([]byte, error)) []codecBench {
	ev, err := decode(payload)
	if err != nil {
		b.Fatal(err)
	}
	doc, err := zmsgpack.AppendEvent(nil, &ev)
	if err != nil {
		b.Fatal(err)
	}
	toValues := func(doc []byte) error { _, err := zmsgpack.DecodeEvent(doc); return err }
	fromValues := func(_ int, dst []byte) ([]byte, error) { return zmsgpack.AppendEvent(dst, &ev) }
	return []codecBench{{
		name: name + "/decode", format: format, op: opDecode, unit: "events", perItem: 1,
		payloads: repeat(payload, batchItems), docs: repeat(doc, batchItems),
		direct: func(int, []byte) ([]byte, error) {
			_, err := decode(payload)
			return nil, err
		},
		toValues: toValues, fromValues: fromValues,
	}, {
		name: name + "/encode", format: format, op: opEncode, unit: "events", perItem: 1,
		payloads: repeat(payload, batchItems), docs: repeat(doc, batchItems),
		direct:   func(_ int, dst []byte) ([]byte, error) { return encode(dst, &ev) },
		toValues: toValues, fromValues: fromValues,
	}}
}

func logBench(b *testing.B, name, format string, payload []byte, decode func([]byte) (*value.LogBatch, error), encode func([]byte, *value.LogBatch) ([]byte, error), canDecode bool) []codecBench {
	lb, err := zeeklog.Decode(vectors.Payload(b, "captured/zeek-log-conn-7rec.hex"))
	if err != nil {
		b.Fatal(err)
	}
	if decode != nil {
		if lb, err = decode(payload); err != nil {
			b.Fatal(err)
		}
	}
	doc, err := zmsgpack.AppendLogBatch(nil, lb)
	if err != nil {
		b.Fatal(err)
	}
	n := batchItems / 8
	toValues := func(doc []byte) error { _, err := zmsgpack.DecodeLogBatch(doc); return err }
	fromValues := func(_ int, dst []byte) ([]byte, error) { return zmsgpack.AppendLogBatch(dst, lb) }
	var out []codecBench
	if canDecode {
		out = append(out, codecBench{
			name: name + "/decode", format: format, op: opDecode, unit: "records", perItem: len(lb.Records),
			payloads: repeat(payload, n), docs: repeat(doc, n),
			direct: func(int, []byte) ([]byte, error) {
				_, err := decode(payload)
				return nil, err
			},
			toValues: toValues, fromValues: fromValues,
		})
	}
	out = append(out, codecBench{
		name: name + "/encode", format: format, op: opEncode, unit: "records", perItem: len(lb.Records),
		payloads: repeat(payload, n), docs: repeat(doc, n),
		direct:   func(_ int, dst []byte) ([]byte, error) { return encode(dst, lb) },
		toValues: toValues, fromValues: fromValues,
	})
	return out
}

// BenchmarkCodecBoundary measures every codec's throughput three ways, per
// batch of payloads:
//
//   - direct: the codec in process, payload to values (or back), as if the
//     core linked the codec;
//   - local: batch.Local in process, which adds the zpipe-msgpack-v1
//     interchange (payload to document to values);
//   - plugin: the same through a codec plugin process (the test binary,
//     serving the built-in codecs over gRPC), one batch at a time;
//   - plugin4: four batches in flight at once on the shared stream.
//
// It reports events/s or records/s and MB/s of payload for each, and the
// ratio plugin/direct: the share of the in-process throughput that is left
// after crossing the boundary. ns/op covers one batch on all four paths.
func BenchmarkCodecBoundary(b *testing.B) {
	h := startCodecHost(b, HostConfig{Logger: discardLogger()})
	local := localCodec(b)

	testEvent := vectors.Payload(b, "captured/zeek-event-test_event.hex")
	conn7 := vectors.Payload(b, "captured/zeek-log-conn-7rec.hex")
	ev, err := brokerbin.DecodeEvent(testEvent)
	if err != nil {
		b.Fatal(err)
	}
	jsonEvent, err := brokerjson.AppendEvent(nil, &ev)
	if err != nil {
		b.Fatal(err)
	}
	msgpackEvent, _ := zmsgpack.AppendEvent(nil, &ev)
	lb, _ := zeeklog.Decode(conn7)
	msgpackLog, _ := zmsgpack.AppendLogBatch(nil, lb)
	jsonLines := jsonl.AppendLog(nil, lb, jsonl.LogOptions{})

	var cases []codecBench
	cases = append(cases, eventBench(b, "broker-bin-v1", "broker-bin-v1", testEvent, brokerbin.DecodeEvent, brokerbin.AppendEvent)...)
	cases = append(cases, eventBench(b, "broker-json-v1", "broker-json-v1", jsonEvent, brokerjson.DecodeEvent, brokerjson.AppendEvent)...)
	cases = append(cases, eventBench(b, "zpipe-msgpack-v1-event", zmsgpack.Format, msgpackEvent, zmsgpack.DecodeEvent, zmsgpack.AppendEvent)...)
	cases = append(cases, logBench(b, "zeek-bin-serializer", "zeek-bin-serializer", conn7, zeeklog.Decode, zeeklog.Append, true)...)
	cases = append(cases, logBench(b, "zpipe-msgpack-v1-log", zmsgpack.Format, msgpackLog, zmsgpack.DecodeLogBatch, zmsgpack.AppendLogBatch, true)...)
	cases = append(cases, logBench(b, "zpipe-jsonl-v1-log", jsonl.Format, jsonLines, nil,
		func(dst []byte, b *value.LogBatch) ([]byte, error) {
			return jsonl.AppendLog(dst, b, jsonl.LogOptions{}), nil
		}, false)...)

	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { runCodecBench(b, h, local, c) })
	}
}

// runCodecBench times one batch per path per iteration.
func runCodecBench(b *testing.B, h *CodecHost, local *batch.Local, c codecBench) {
	ctx := context.Background()
	in := &c.payloads
	if c.op == opEncode {
		in = &c.docs
	}
	payloadBytes := len(c.payloads.Data)
	n := c.payloads.Len()
	var durDirect, durLocal, durPlugin, durPlugin4 time.Duration
	var buf []byte
	var vals batch.Items
	var res batch.Result
	results := make([]batch.Result, 4)

	// The core's side of the interchange: values to documents before
	// encoding, documents to values after decoding.
	prepare := func() *batch.Items {
		if c.op == opDecode {
			return in
		}
		vals.Reset()
		for i := range n {
			start := len(vals.Data)
			var err error
			if vals.Data, err = c.fromValues(i, vals.Data); err != nil {
				b.Fatal(err)
			}
			vals.Sizes = append(vals.Sizes, uint32(len(vals.Data)-start))
		}
		return &vals
	}
	finish := func(r *batch.Result) {
		if len(r.Errors) > 0 {
			b.Fatalf("%s: %v", c.name, r.Errors[0].Msg)
		}
		if c.op == opDecode {
			for _, doc := range r.Items.All() {
				if err := c.toValues(doc); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	call := func(codec batch.Codec, in *batch.Items, out *batch.Result) {
		op := codec.Decode
		if c.op == opEncode {
			op = codec.Encode
		}
		if err := op(ctx, c.format, in, out); err != nil {
			b.Fatal(err)
		}
	}

	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		for i := range n {
			var err error
			if buf, err = c.direct(i, buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		call(local, prepare(), &res)
		finish(&res)
		t2 := time.Now()
		call(h, prepare(), &res)
		finish(&res)
		t3 := time.Now()
		src := prepare()
		var wg sync.WaitGroup
		for k := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				call(h, src, &results[k])
			}()
		}
		wg.Wait()
		for k := range results {
			finish(&results[k])
		}
		t4 := time.Now()
		durDirect += t1.Sub(t0)
		durLocal += t2.Sub(t1)
		durPlugin += t3.Sub(t2)
		durPlugin4 += t4.Sub(t3)
	}
	units := float64(b.N * n * c.perItem)
	bytes := float64(b.N*payloadBytes) / 1e6
	for _, m := range []struct {
		path  string
		d     time.Duration
		times float64
	}{{"direct", durDirect, 1}, {"local", durLocal, 1}, {"plugin", durPlugin, 1}, {"plugin4", durPlugin4, 4}} {
		s := m.d.Seconds()
		b.ReportMetric(m.times*units/s, m.path+"_"+c.unit+"/s")
		b.ReportMetric(m.times*bytes/s, m.path+"_MB/s")
	}
	b.ReportMetric(durDirect.Seconds()/durPlugin.Seconds(), "plugin/direct")
	b.ReportMetric(4*durDirect.Seconds()/durPlugin4.Seconds(), "plugin4/direct")
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
