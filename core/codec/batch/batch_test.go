package batch_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/builtin"
	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/zmsgpack"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/internal/vectors"
)

func newLocal(t *testing.T) *batch.Local {
	t.Helper()
	l, err := batch.NewLocal("all", "test", builtin.All()...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func items(ps ...[]byte) *batch.Items {
	var it batch.Items
	for _, p := range ps {
		it.Append(p)
	}
	return &it
}

func TestDescribe(t *testing.T) {
	d, err := newLocal(t).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "all" || d.Version != "test" || d.Protocol != batch.ProtocolVersion {
		t.Fatalf("description %+v", d)
	}
	var got []string
	for _, f := range d.Formats {
		ops := ""
		if f.Decode {
			ops += "d"
		}
		if f.Encode {
			ops += "e"
		}
		got = append(got, f.Name+"/"+string(f.Kind)+"/"+ops)
	}
	want := "broker-bin-v1/event/de zeek-bin-serializer/log/de broker-json-v1/event/de zpipe-jsonl-v1/event/e zpipe-jsonl-v1/log/e zpipe-msgpack-v1/event/de zpipe-msgpack-v1/log/de"
	if strings.Join(got, " ") != want {
		t.Fatalf("formats %s\nwant    %s", strings.Join(got, " "), want)
	}
	if err := d.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestOneBadPayloadNeverFailsTheBatch decodes a batch whose middle payload
// is truncated: the others decode, the bad one is reported with its offset.
func TestOneBadPayloadNeverFailsTheBatch(t *testing.T) {
	l := newLocal(t)
	hello := vectors.Payload(t, "derived/event-zmq-hello.hex")
	meta := vectors.Payload(t, "derived/event-cluster-hello-meta.hex")
	in := items(hello, hello[:40], meta, nil)
	var out batch.Result
	if err := l.Decode(context.Background(), "broker-bin-v1", in, &out); err != nil {
		t.Fatal(err)
	}
	if err := out.Check(4); err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 2 || out.Errors[0].Index != 1 || out.Errors[1].Index != 3 {
		t.Fatalf("errors %+v", out.Errors)
	}
	if e := out.Err(1); e == nil || e.Offset != 24 || !strings.Contains(e.Error(), "item 1: brokerbin: offset 24: want 31 bytes of event name, have 16") {
		t.Fatalf("error of item 1: %+v", e)
	}
	if e := out.Err(3); e == nil || e.Offset != 0 {
		t.Fatalf("error of item 3: %+v", e)
	}
	docs := out.Items.Slices()
	for _, i := range []int{0, 2} {
		ev, err := zmsgpack.DecodeEvent(docs[i])
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		want, _ := brokerbin.DecodeEvent(in.Slices()[i])
		if ev.Name != want.Name || len(ev.Args) != len(want.Args) || len(ev.Metadata) != len(want.Metadata) {
			t.Fatalf("document %d is %+v, want %+v", i, ev, want)
		}
	}
	if out.Err(0) != nil || len(docs[1]) != 0 || len(docs[3]) != 0 {
		t.Fatalf("failed items must be empty")
	}
	// Encoding the documents back gives the payloads, and reports the
	// empty documents as failures.
	var back batch.Result
	if err := l.Encode(context.Background(), "broker-bin-v1", &out.Items, &back); err != nil {
		t.Fatal(err)
	}
	payloads := back.Items.Slices()
	if !bytes.Equal(payloads[0], hello) || !bytes.Equal(payloads[2], meta) || len(back.Errors) != 2 {
		t.Fatalf("encoded %x / %x, errors %+v", payloads[0], payloads[2], back.Errors)
	}
	if !strings.Contains(back.Errors[0].Msg, "document: zmsgpack: offset 0") {
		t.Fatalf("encode error %+v", back.Errors[0])
	}
}

func TestWholeCallErrors(t *testing.T) {
	l := newLocal(t)
	var out batch.Result
	err := l.Decode(context.Background(), "broker-bin-v2", items([]byte{1}), &out)
	if !errors.Is(err, batch.ErrUnknownFormat) || !strings.Contains(err.Error(), `decode "broker-bin-v2"`) {
		t.Fatalf("unknown format: %v", err)
	}
	err = l.Decode(context.Background(), jsonl.Format, items([]byte{1}), &out)
	if !errors.Is(err, batch.ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("decoding an output format: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Decode(ctx, "broker-bin-v1", items([]byte{1}), &out); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	bad := &batch.Items{Data: []byte{1, 2}, Sizes: []uint32{5}}
	if err := l.Decode(context.Background(), "broker-bin-v1", bad, &out); err == nil || !strings.Contains(err.Error(), "sizes add up to 5 bytes, data holds 2") {
		t.Fatalf("inconsistent items: %v", err)
	}
}

// TestPanicsBecomeItemErrors runs a handler that panics on one payload.
func TestPanicsBecomeItemErrors(t *testing.T) {
	l, err := batch.NewLocal("fragile", "1", batch.Handler{
		Name: "fragile", Kinds: []batch.Kind{batch.KindEvent},
		Decode: func(dst, p []byte) ([]byte, error) {
			if string(p) == "boom" {
				panic("malformed beyond belief")
			}
			return append(dst, p...), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out batch.Result
	if err := l.Decode(context.Background(), "fragile", items([]byte("a"), []byte("boom"), []byte("c")), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 1 || out.Errors[0].Index != 1 || out.Errors[0].Msg != "codec panicked: malformed beyond belief" {
		t.Fatalf("errors %+v", out.Errors)
	}
	if got := out.Items.Slices(); string(got[0]) != "a" || len(got[1]) != 0 || string(got[2]) != "c" {
		t.Fatalf("items %q", got)
	}
}

// TestEveryFormatRoundTrips carries an event and a log batch through every
// format that decodes and encodes them, in process.
func TestEveryFormatRoundTrips(t *testing.T) {
	l := newLocal(t)
	ev := value.Event{Name: "Demo::ping", Args: []value.Value{value.Count(1), value.String("x")}}
	evDoc, _ := zmsgpack.AppendEvent(nil, &ev)
	lb := &value.LogBatch{Stream: "S::LOG", Writer: "Log::WRITER_ASCII", Filter: "default", Path: "s",
		Fields: []value.Field{{Name: "c", Type: value.Type{Tag: value.TypeCount}}}, Records: [][]value.Value{{value.Count(3)}}}
	logDoc, _ := zmsgpack.AppendLogBatch(nil, lb)
	d, _ := l.Describe(context.Background())
	for _, f := range d.Formats {
		doc := evDoc
		if f.Kind == batch.KindLog {
			doc = logDoc
		}
		var enc batch.Result
		if err := l.Encode(context.Background(), f.Name, items(doc), &enc); err != nil || len(enc.Errors) > 0 {
			t.Fatalf("%s %s: encode: %v %+v", f.Name, f.Kind, err, enc.Errors)
		}
		if !f.Decode {
			if enc.Items.Len() != 1 || len(enc.Items.Data) == 0 {
				t.Fatalf("%s: rendered nothing", f.Name)
			}
			continue
		}
		var dec batch.Result
		if err := l.Decode(context.Background(), f.Name, &enc.Items, &dec); err != nil || len(dec.Errors) > 0 {
			t.Fatalf("%s %s: decode: %v %+v", f.Name, f.Kind, err, dec.Errors)
		}
		if !bytes.Equal(dec.Items.Data, doc) {
			t.Fatalf("%s %s: document changed:\n% x\n% x", f.Name, f.Kind, dec.Items.Data, doc)
		}
	}
}

func TestNewLocalChecks(t *testing.T) {
	h := batch.Handler{Name: "x", Kinds: []batch.Kind{batch.KindEvent}, Decode: func(d, p []byte) ([]byte, error) { return d, nil }}
	if _, err := batch.NewLocal("c", "1", h, h); err == nil || !strings.Contains(err.Error(), `two handlers of format "x"`) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := batch.NewLocal("c", "1", batch.Handler{Name: "x", Decode: h.Decode}); err == nil || !strings.Contains(err.Error(), "no kinds") {
		t.Errorf("no kinds: %v", err)
	}
	if _, err := batch.NewLocal("c", "1", batch.Handler{Name: "x", Kinds: h.Kinds}); err == nil || !strings.Contains(err.Error(), "neither decodes nor encodes") {
		t.Errorf("no functions: %v", err)
	}
	if _, err := batch.NewLocal("c", "1", batch.Handler{Name: "x", Kinds: []batch.Kind{"stream"}, Decode: h.Decode}); err == nil || !strings.Contains(err.Error(), `unknown kind "stream"`) {
		t.Errorf("bad kind: %v", err)
	}
	if _, err := batch.NewLocal("", "1", h); err == nil {
		t.Error("codec without a name accepted")
	}
}

func TestResultCheck(t *testing.T) {
	r := batch.Result{Items: *items([]byte("a"), nil), Errors: []batch.ItemError{{Index: 1}}}
	if err := r.Check(2); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		r    batch.Result
		n    int
		want string
	}{
		{r, 3, "result has 2 items for 3 inputs"},
		{batch.Result{Items: *items([]byte("a"), nil), Errors: []batch.ItemError{{Index: 0}}}, 2, "holds 1 bytes for the failed item 0"},
		{batch.Result{Items: *items(nil, nil), Errors: []batch.ItemError{{Index: 1}, {Index: 0}}}, 2, "out of order"},
		{batch.Result{Items: *items(nil), Errors: []batch.ItemError{{Index: 4}}}, 1, "beyond the 1 inputs"},
		{batch.Result{Items: batch.Items{Data: []byte("ab"), Sizes: []uint32{1}}}, 1, "sizes add up to 1 bytes, data holds 2"},
	} {
		if err := c.r.Check(c.n); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("check: %v, want %q", err, c.want)
		}
	}
}

// lineRenderer renders a payload "PATH:N" as N lines of batch PATH; it
// panics on "boom" and fails on anything else.
type lineRenderer struct{}

func (lineRenderer) Render(dst, payload []byte) ([]byte, *value.LogBatch, int, error) {
	s := string(payload)
	if s == "boom" {
		panic("renderer broke")
	}
	path, n, ok := strings.Cut(s, ":")
	if !ok || len(n) != 1 || n[0] < '0' || n[0] > '9' {
		return append(dst, "garbage"...), nil, 0, errors.New("not PATH:N")
	}
	for range int(n[0] - '0') {
		dst = append(dst, path...)
		dst = append(dst, '\n')
	}
	b := &value.LogBatch{Stream: "S::LOG", Path: path, Fields: []value.Field{{Name: "p", Type: value.Type{Tag: value.TypeString}}}}
	return dst, b, int(n[0] - '0'), nil
}

// TestRender: a handler's renders are described for its log kind only;
// Render turns payloads into lines with their logs, sharing the schema of
// consecutive batches and the strings of a log, and one bad payload (an
// error or a panic) fails alone.
func TestRender(t *testing.T) {
	l, err := batch.NewLocal("lines", "1", batch.Handler{
		Name: "lines", Kinds: []batch.Kind{batch.KindEvent, batch.KindLog},
		Decode:  func(dst, p []byte) ([]byte, error) { return append(dst, p...), nil },
		Renders: map[string]func() batch.LogRenderer{"text": func() batch.LogRenderer { return lineRenderer{} }, "also": func() batch.LogRenderer { return lineRenderer{} }},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := l.Describe(context.Background())
	if len(d.Formats) != 2 || len(d.Formats[0].Renders) != 0 || strings.Join(d.Formats[1].Renders, " ") != "also text" {
		t.Fatalf("formats %+v", d.Formats)
	}
	var out batch.RenderResult
	if err := l.Render(context.Background(), "lines", "text", items([]byte("a:2"), []byte("x"), []byte("a:1"), []byte("boom"), []byte("b:0")), &out); err != nil {
		t.Fatal(err)
	}
	if err := out.Check(5); err != nil {
		t.Fatal(err)
	}
	if got := out.Lines.Slices(); string(got[0]) != "a\na\n" || len(got[1]) != 0 || string(got[2]) != "a\n" || len(got[3]) != 0 || len(got[4]) != 0 {
		t.Fatalf("lines %q", got)
	}
	if len(out.Errors) != 2 || out.Errors[0].Msg != "not PATH:N" || out.Errors[1].Msg != "codec panicked: renderer broke" {
		t.Fatalf("errors %+v", out.Errors)
	}
	if len(out.Schemas) != 1 || out.Logs[0].Schema != 0 || out.Logs[4].Schema != 0 || out.Logs[4].Path != "b" || out.Logs[1] != (batch.RenderedLog{}) {
		t.Fatalf("logs %+v, %d schemas", out.Logs, len(out.Schemas))
	}
	if unsafe.StringData(out.Logs[0].Stream) != unsafe.StringData(out.Logs[2].Stream) {
		t.Error("consecutive logs do not share their stream")
	}
	if err := l.Render(context.Background(), "lines", "html", items(), &out); !errors.Is(err, batch.ErrUnsupported) {
		t.Fatalf("unknown target: %v", err)
	}
	if err := l.Render(context.Background(), "words", "text", items(), &out); !errors.Is(err, batch.ErrUnknownFormat) {
		t.Fatalf("unknown format: %v", err)
	}
	if _, err := batch.NewLocal("c", "1", batch.Handler{Name: "x", Kinds: []batch.Kind{batch.KindLog}, Decode: func(dst, p []byte) ([]byte, error) { return dst, nil },
		Renders: map[string]func() batch.LogRenderer{"text": nil}}); err == nil || !strings.Contains(err.Error(), `no renderer for target "text"`) {
		t.Errorf("nil renderer: %v", err)
	}
	bad := batch.Description{Name: "c", Formats: []batch.Format{{Name: "x", Kind: batch.KindEvent, Decode: true, Renders: []string{"text"}}}}
	if err := bad.Check(); err == nil || !strings.Contains(err.Error(), "only log batches render") {
		t.Errorf("renders of events: %v", err)
	}
	bad.Formats[0].Kind, bad.Formats[0].Renders = batch.KindLog, []string{""}
	if err := bad.Check(); err == nil || !strings.Contains(err.Error(), "empty target") {
		t.Errorf("empty target: %v", err)
	}
}
