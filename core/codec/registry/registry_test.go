package registry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/builtin"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/codec/zmsgpack"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/internal/vectors"
)

// countingSource wraps handlers as a local codec and counts its starts.
func countingSource(t *testing.T, name string, starts *atomic.Int32, handlers ...batch.Handler) Source {
	t.Helper()
	l, err := batch.NewLocal(name, "1", handlers...)
	if err != nil {
		t.Fatal(err)
	}
	return Source{Name: name, Start: func(context.Context) (batch.Codec, error) {
		starts.Add(1)
		return l, nil
	}}
}

// shutdownCodec records Shutdown.
type shutdownCodec struct {
	batch.Codec
	down atomic.Bool
}

func (s *shutdownCodec) Shutdown() error { s.down.Store(true); return nil }

var _ interface{ Shutdown() error } = (*shutdownCodec)(nil)

func TestLazyStartAndFirstFoundWins(t *testing.T) {
	var zeek, json, msgpack, late atomic.Int32
	var logs bytes.Buffer
	r := New(slog.New(slog.NewTextHandler(&logs, nil)),
		countingSource(t, "codec-zeek", &zeek, builtin.Zeek()...),
		countingSource(t, "codec-json", &json, builtin.JSON()...),
		countingSource(t, "codec-msgpack", &msgpack, builtin.Msgpack()...),
		countingSource(t, "codec-late", &late, builtin.Zeek()...),
	)
	ctx := context.Background()
	e, err := r.Lookup(ctx, "broker-bin-v1", OpDecode)
	if err != nil || e.Source != "codec-zeek" || e.Name != "broker-bin-v1" || len(e.Kinds) != 1 || e.Kinds[0] != batch.KindEvent {
		t.Fatalf("lookup: %+v, %v", e, err)
	}
	if zeek.Load() != 1 || json.Load() != 0 || msgpack.Load() != 0 {
		t.Fatalf("started %d %d %d codecs, want only the first", zeek.Load(), json.Load(), msgpack.Load())
	}
	e, err = r.Lookup(ctx, zmsgpack.Format, OpEncode)
	if err != nil || e.Source != "codec-msgpack" || len(e.Kinds) != 2 {
		t.Fatalf("msgpack: %+v, %v", e, err)
	}
	if json.Load() != 1 || late.Load() != 0 {
		t.Fatalf("json started %d times, late %d", json.Load(), late.Load())
	}
	entries, err := r.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if late.Load() != 1 || zeek.Load() != 1 {
		t.Fatalf("every source starts once: %d %d", zeek.Load(), late.Load())
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name+"/"+e.Op.String()+"/"+e.Source)
	}
	want := "broker-bin-v1/decode/codec-zeek broker-bin-v1/encode/codec-zeek broker-json-v1/decode/codec-json broker-json-v1/encode/codec-json " +
		"zeek-bin-serializer/decode/codec-zeek zeek-bin-serializer/encode/codec-zeek zpipe-jsonl-v1/encode/codec-json " +
		"zpipe-msgpack-v1/decode/codec-msgpack zpipe-msgpack-v1/encode/codec-msgpack"
	if strings.Join(names, " ") != want {
		t.Fatalf("entries %s\nwant    %s", strings.Join(names, " "), want)
	}
	if !strings.Contains(logs.String(), "format handled by an earlier codec; ignoring this one") ||
		!strings.Contains(logs.String(), "codec=codec-late") || !strings.Contains(logs.String(), "kept=codec-zeek") {
		t.Fatalf("the conflict is not logged:\n%s", logs.String())
	}
}

func TestUnknownFormat(t *testing.T) {
	r := New(nil,
		Source{Name: "codec-broken", Start: func(context.Context) (batch.Codec, error) { return nil, errors.New("no such binary") }},
		LocalSource("codec-zeek", mustLocal(t, builtin.Zeek()...)),
	)
	_, err := r.Lookup(context.Background(), "broker-bin-v2", OpDecode)
	if !errors.Is(err, batch.ErrUnknownFormat) {
		t.Fatalf("error %v", err)
	}
	for _, want := range []string{`no codec can decode format "broker-bin-v2"`, "formats known: broker-bin-v1, zeek-bin-serializer", "codec codec-broken: no such binary"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := r.Lookup(context.Background(), "broker-bin-v1", OpDecode); err != nil {
		t.Fatalf("a failed source must not hide the next: %v", err)
	}
	if _, err := r.Load(context.Background()); err == nil || !strings.Contains(err.Error(), "no such binary") {
		t.Fatalf("load: %v", err)
	}
}

func mustLocal(t *testing.T, handlers ...batch.Handler) *batch.Local {
	t.Helper()
	l, err := batch.NewLocal("local", "1", handlers...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestDecodeAndEncodeValues(t *testing.T) {
	r := New(nil, LocalSource("all", mustLocal(t, builtin.All()...)))
	ctx := context.Background()
	hello := vectors.Payload(t, "derived/event-zmq-hello.hex")
	got, err := r.Decode(ctx, "broker-bin-v1", [][]byte{hello, hello[:5]})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Err != nil || got[0].Event == nil || got[0].Event.Name != "Cluster::Backend::ZeroMQ::hello" {
		t.Fatalf("decoded %+v", got[0])
	}
	var ie *batch.ItemError
	if !errors.As(got[1].Err, &ie) || ie.Index != 1 || ie.Offset < 0 {
		t.Fatalf("bad payload: %v", got[1].Err)
	}
	lb, err := zeeklog.Decode(vectors.Payload(t, "captured/zeek-log-test.hex"))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := r.Encode(ctx, "zeek-bin-serializer", []zmsgpack.Document{{Log: lb}, {}, {Event: got[0].Event}})
	if err != nil {
		t.Fatal(err)
	}
	if enc[0].Err != nil || !bytes.Equal(enc[0].Payload, vectors.Payload(t, "captured/zeek-log-test.hex")) {
		t.Fatalf("encoded log batch differs: %v", enc[0].Err)
	}
	if enc[1].Err == nil || !strings.Contains(enc[1].Err.Error(), "neither an event nor a log batch") {
		t.Fatalf("empty document: %v", enc[1].Err)
	}
	if enc[2].Err == nil || !strings.Contains(enc[2].Err.Error(), "want a log batch document, have an event") {
		t.Fatalf("event as a log batch: %v", enc[2].Err)
	}
	out, err := r.Encode(ctx, "zpipe-jsonl-v1", []zmsgpack.Document{{Log: lb}})
	if err != nil || !strings.HasPrefix(string(out[0].Payload), `{"ts":1700000000.25,"node":"worker-1"`) {
		t.Fatalf("JSON lines: %q, %v", out[0].Payload, err)
	}
	if _, err := r.Decode(ctx, "zpipe-jsonl-v1", [][]byte{[]byte("{}")}); !errors.Is(err, batch.ErrUnknownFormat) {
		t.Fatalf("decoding an output-only format: %v", err)
	}
}

// TestDecodeMessages decodes a batch of every kind of message: events and
// log batches of two codecs, a bad payload, a format nobody handles and a
// message of the wrong shape.
func TestDecodeMessages(t *testing.T) {
	r := New(nil, LocalSource("codec-zeek", mustLocal(t, builtin.Zeek()...)))
	ctx := context.Background()
	var msgs message.Batch
	hello := vectors.Load(t, "derived/event-zmq-hello.hex")
	logw := vectors.Load(t, "captured/zeek-log-test.hex")
	msgs.Append(hello...)                                                                      // 0: event
	msgs.Append(logw...)                                                                       // 1: log batch
	msgs.Append(hello[0], hello[1], []byte("broker-json-v1"), []byte(`{"@data-type":"none"}`)) // 2: nobody decodes JSON here
	msgs.Append(hello[0], hello[1], hello[2], hello[3][:10])                                   // 3: bad payload
	msgs.Append([]byte("\x01zeek.cluster.worker"))                                             // 4: one frame
	msgs.Append(hello...)                                                                      // 5: event

	got, err := r.DecodeMessages(ctx, &msgs, PassUndecoded)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("%d messages, want all 6 passed on", len(got))
	}
	if got[0].Event == nil || got[5].Event == nil || got[0].Topic != string(hello[0]) || got[0].Format != "broker-bin-v1" {
		t.Fatalf("events: %+v %+v", got[0], got[5])
	}
	if got[1].Log == nil || got[1].Log.Path != "test" || len(got[1].Log.Records) != 2 {
		t.Fatalf("log: %+v", got[1])
	}
	if !got[2].Undecoded || got[2].Format != "broker-json-v1" || got[2].Err != nil {
		t.Fatalf("unhandled format: %+v", got[2])
	}
	if got[3].Err == nil || got[3].Undecoded || got[3].Event != nil {
		t.Fatalf("bad payload: %+v", got[3])
	}
	if !got[4].Undecoded || got[4].Format != "" || got[4].Index != 4 {
		t.Fatalf("one-frame message: %+v", got[4])
	}
	st := r.Stats()
	if st.Decoded["broker-bin-v1"] != 2 || st.Decoded["zeek-bin-serializer"] != 1 || st.Failed["broker-bin-v1"] != 1 ||
		st.Unhandled["broker-json-v1"] != 1 || st.Malformed != 1 {
		t.Fatalf("stats %+v", st)
	}

	got, err = r.DecodeMessages(ctx, &msgs, DropUnhandled)
	if err != nil {
		t.Fatal(err)
	}
	var idx []int
	for _, m := range got {
		idx = append(idx, m.Index)
	}
	if len(got) != 4 || idx[0] != 0 || idx[1] != 1 || idx[2] != 3 || idx[3] != 5 {
		t.Fatalf("kept messages %v, want 0 1 3 5", idx)
	}
	if st := r.Stats(); st.Unhandled["broker-json-v1"] != 2 || st.Malformed != 2 {
		t.Fatalf("stats after dropping %+v", st)
	}
}

func TestCloseShutsCodecsDown(t *testing.T) {
	sc := &shutdownCodec{Codec: mustLocal(t, builtin.Msgpack()...)}
	r := New(nil, Source{Name: "c", Start: func(context.Context) (batch.Codec, error) { return sc, nil }})
	if _, err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil || !sc.down.Load() {
		t.Fatalf("close: %v, shut down %v", err, sc.down.Load())
	}
}

func TestEventRoundTripThroughRegistry(t *testing.T) {
	r := New(nil, LocalSource("all", mustLocal(t, builtin.All()...)))
	ev := value.Event{Name: "Demo::x", Args: []value.Value{value.Count(3), value.PortOf(80, value.ProtoTCP)}}
	for _, format := range []string{"broker-bin-v1", "broker-json-v1", zmsgpack.Format} {
		enc, err := r.Encode(context.Background(), format, []zmsgpack.Document{{Event: &ev}})
		if err != nil || enc[0].Err != nil {
			t.Fatalf("%s: %v %v", format, err, enc[0].Err)
		}
		dec, err := r.Decode(context.Background(), format, [][]byte{enc[0].Payload})
		if err != nil || dec[0].Err != nil || dec[0].Event.Name != ev.Name || !value.Equal(dec[0].Event.Args[1], ev.Args[1]) {
			t.Fatalf("%s: %+v %v", format, dec, err)
		}
	}
	want, _ := brokerbin.AppendEvent(nil, &ev)
	enc, _ := r.Encode(context.Background(), "broker-bin-v1", []zmsgpack.Document{{Event: &ev}})
	if !bytes.Equal(enc[0].Payload, want) {
		t.Fatal("registry encoding differs from the codec's")
	}
}
