package zmsgpack

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/brokerjson"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/value/valuetest"
	"github.com/zpipe/zpipe/internal/vectors"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func sameEvent(t *testing.T, got, want value.Event) {
	t.Helper()
	if got.Name != want.Name || len(got.Args) != len(want.Args) || len(got.Metadata) != len(want.Metadata) {
		t.Fatalf("event %q with %d args and %d metadata, want %q with %d and %d",
			got.Name, len(got.Args), len(got.Metadata), want.Name, len(want.Args), len(want.Metadata))
	}
	for i := range want.Args {
		if !value.Equal(got.Args[i], want.Args[i]) {
			t.Fatalf("arg %d = %v, want %v", i, got.Args[i], want.Args[i])
		}
	}
	for i := range want.Metadata {
		if got.Metadata[i].ID != want.Metadata[i].ID || !value.Equal(got.Metadata[i].Value, want.Metadata[i].Value) {
			t.Fatalf("metadata %d = %v, want %v", i, got.Metadata[i], want.Metadata[i])
		}
	}
}

func sameBatch(t *testing.T, got, want *value.LogBatch) {
	t.Helper()
	if got.Stream != want.Stream || got.Writer != want.Writer || got.Filter != want.Filter || got.Path != want.Path {
		t.Fatalf("header %q %q %q %q, want %q %q %q %q", got.Stream, got.Writer, got.Filter, got.Path,
			want.Stream, want.Writer, want.Filter, want.Path)
	}
	if len(got.Fields) != len(want.Fields) || len(got.Records) != len(want.Records) {
		t.Fatalf("%d fields and %d records, want %d and %d", len(got.Fields), len(got.Records), len(want.Fields), len(want.Records))
	}
	for i := range want.Fields {
		if got.Fields[i] != want.Fields[i] {
			t.Fatalf("field %d = %+v, want %+v", i, got.Fields[i], want.Fields[i])
		}
	}
	for r := range want.Records {
		for i := range want.Records[r] {
			if !value.Equal(got.Records[r][i], want.Records[r][i]) {
				t.Fatalf("record %d field %d = %v, want %v", r, i, got.Records[r][i], want.Records[r][i])
			}
		}
	}
}

// eventVectors returns every event payload of the Zeek wire vectors with
// its codec.
func eventVectors(t *testing.T) map[string]struct {
	payload []byte
	codec   codec.EventCodec
} {
	out := map[string]struct {
		payload []byte
		codec   codec.EventCodec
	}{}
	add := func(rel string, payload []byte, c codec.EventCodec) {
		out[rel] = struct {
			payload []byte
			codec   codec.EventCodec
		}{payload, c}
	}
	for _, rel := range []string{"derived/event-zmq-hello.hex", "derived/event-cluster-hello-meta.hex",
		"derived/event-all-types-bin.hex", "derived/broker-bin-unit-test-node_status.hex"} {
		add(rel, vectors.Payload(t, rel), brokerbin.Codec{})
	}
	for _, rel := range []string{"derived/event-zmq-hello-json.hex", "derived/event-all-types-json.hex"} {
		add(rel, vectors.Payload(t, rel), brokerjson.Codec{})
	}
	for _, path := range vectors.Glob(t, "captured/zeek-event-*.hex") {
		rel := "captured/" + filepath.Base(path)
		add(rel, vectors.Payload(t, rel), brokerbin.Codec{})
	}
	return out
}

func logVectors(t *testing.T) map[string][]byte {
	out := map[string][]byte{}
	for _, rel := range []string{"derived/log-write-cluster.hex", "derived/log-write-demo.hex", "derived/zeek-bin-unit-test-log.hex"} {
		out[rel] = vectors.Payload(t, rel)
	}
	for _, path := range vectors.Glob(t, "captured/zeek-log-*.hex") {
		rel := "captured/" + filepath.Base(path)
		out[rel] = vectors.Payload(t, rel)
	}
	return out
}

// TestEventVectors carries every event of the Zeek wire vectors through
// zpipe-msgpack-v1 and back into its own format: the values, the msgpack
// bytes and the original payload all survive.
func TestEventVectors(t *testing.T) {
	for rel, vec := range eventVectors(t) {
		t.Run(rel, func(t *testing.T) {
			ev, err := vec.codec.DecodeEvent(vec.payload)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := AppendEvent(nil, &ev)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeEvent(doc)
			if err != nil {
				t.Fatalf("decode % x: %v", doc, err)
			}
			sameEvent(t, back, ev)
			again, err := AppendEvent(nil, &back)
			if err != nil || !bytes.Equal(again, doc) {
				t.Fatalf("re-encoding differs (%v)", err)
			}
			payload, err := vec.codec.AppendEvent(nil, &back)
			if err != nil || !bytes.Equal(payload, vec.payload) {
				t.Fatalf("payload through zpipe-msgpack-v1 differs (%v)", err)
			}
		})
	}
}

func TestLogVectors(t *testing.T) {
	for rel, payload := range logVectors(t) {
		t.Run(rel, func(t *testing.T) {
			b, err := zeeklog.Decode(payload)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := AppendLogBatch(nil, b)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeLogBatch(doc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			sameBatch(t, back, b)
			again, err := AppendLogBatch(nil, back)
			if err != nil || !bytes.Equal(again, doc) {
				t.Fatalf("re-encoding differs (%v)", err)
			}
			out, err := zeeklog.Append(nil, back)
			if err != nil || !bytes.Equal(out, payload) {
				t.Fatalf("payload through zpipe-msgpack-v1 differs (%v)", err)
			}
			if len(doc) >= len(payload) {
				t.Logf("%s: %d bytes as zeek-bin-serializer, %d as zpipe-msgpack-v1", rel, len(payload), len(doc))
			}
		})
	}
}

// TestRoundTripGenerated encodes generated events, values of every kind
// (records included) and log batches, decodes them, and requires equal
// values and identical re-encodings.
func TestRoundTripGenerated(t *testing.T) {
	for _, seconds := range []bool{false, true} {
		g := valuetest.New(7)
		g.Seconds, g.Subnormals = seconds, true
		for i := range 2000 {
			ev := g.Event()
			doc, err := AppendEvent(nil, &ev)
			if err != nil {
				t.Fatalf("event %d: encode: %v", i, err)
			}
			back, err := DecodeEvent(doc)
			if err != nil {
				t.Fatalf("event %d: decode: %v\n% x", i, err, doc)
			}
			sameEvent(t, back, ev)
			if again, err := AppendEvent(nil, &back); err != nil || !bytes.Equal(again, doc) {
				t.Fatalf("event %d: re-encoding differs (%v)", i, err)
			}
		}
		for i := range 3000 {
			k := value.Kind(i % (int(value.KindRecord) + 1))
			v := g.OfKind(k, 1)
			enc, err := AppendValue(nil, v)
			if err != nil {
				t.Fatalf("%s %d: encode %v: %v", k, i, v, err)
			}
			back, err := DecodeValue(enc)
			if err != nil {
				t.Fatalf("%s %d: decode % x: %v", k, i, enc, err)
			}
			if !value.Equal(back, v) {
				t.Fatalf("%s %d: decoded %v, want %v", k, i, back, v)
			}
		}
		for i := range 1000 {
			b := g.LogBatch()
			doc, err := AppendLogBatch(nil, b)
			if err != nil {
				t.Fatalf("batch %d: encode: %v", i, err)
			}
			back, err := DecodeLogBatch(doc)
			if err != nil {
				t.Fatalf("batch %d: decode: %v", i, err)
			}
			sameBatch(t, back, b)
			if again, err := AppendLogBatch(nil, back); err != nil || !bytes.Equal(again, doc) {
				t.Fatalf("batch %d: re-encoding differs (%v)", i, err)
			}
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestCanonicalForms pins the encoding of every kind, as the format
// document specifies it.
func TestCanonicalForms(t *testing.T) {
	cases := []struct {
		v   value.Value
		hex string
	}{
		{value.None(), "c0"},
		{value.Bool(false), "c2"},
		{value.Bool(true), "c3"},
		{value.Count(0), "00"},
		{value.Count(127), "7f"},
		{value.Count(128), "cc80"},
		{value.Count(65535), "cdffff"},
		{value.Count(65536), "ce00010000"},
		{value.Count(math.MaxUint64), "cfffffffffffffffff"},
		{value.Int(0), "d000"},
		{value.Int(5), "d005"},
		{value.Int(-1), "ff"},
		{value.Int(-32), "e0"},
		{value.Int(-33), "d0df"},
		{value.Int(128), "d10080"},
		{value.Int(-70000), "d2fffeee90"},
		{value.Int(math.MinInt64), "d38000000000000000"},
		{value.Real(1.5), "cb3ff8000000000000"},
		{value.String("hi"), "a26869"},
		{value.String(strings.Repeat("a", 32)), "d920" + strings.Repeat("61", 32)},
		{value.String("\xff"), "c401ff"},
		{value.Enum("udp"), "c70307756470"},
		{value.Enum("T"), "d40754"},
		{value.Enum(""), "c70007"},
		{value.Addr(mustAddr("192.168.1.2")), "d601c0a80102"},
		{value.Addr(mustAddr("::ffff:10.0.0.1")), "d6010a000001"},
		{value.Addr(mustAddr("2001:db8::1")), "d80120010db8000000000000000000000001"},
		{value.Subnet(netip.MustParsePrefix("10.0.0.0/8")), "c705020a00000008"},
		{value.Subnet(netip.MustParsePrefix("2001:db8::/32")), "c7110220010db800000000000000000000000020"},
		{value.PortOf(443, value.ProtoTCP), "c7030301bb01"},
		{value.PortOf(8, value.ProtoICMP), "c70303000803"},
		{value.Time(1_700_000_000_000_000_000), "d6ff6553f100"},
		{value.Time(1_700_000_000_500_000_000), "d7ff77359400" + "6553f100"},
		{value.Time(-1), "c70cff3b9ac9ffffffffffffffffff"},
		{value.TimeSeconds(1700000000.25), "d70441d954fc40100000"},
		{value.Interval(90 * time.Second), "d70500000014f46b0400"},
		{value.IntervalSeconds(2.5), "d7064004000000000000"},
		{value.Set(value.String("x"), value.String("y")), "c70508 92a178a179"},
		{value.Table(value.Entry{Key: value.String("one"), Value: value.Count(1)}), "81a36f6e6501"},
		{value.Vector(value.Count(1), value.Count(2), value.Count(3)), "93010203"},
		{value.Record(value.RecordField{Name: "n", Value: value.Count(5)}, value.RecordField{Name: "o"}), "c70709 82a16e05a16fc0"},
	}
	for _, c := range cases {
		want := unhex(t, c.hex)
		got, err := AppendValue(nil, c.v)
		if err != nil {
			t.Errorf("%v: %v", c.v, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%v (%s) encodes as % x, want % x", c.v, c.v.Kind(), got, want)
			continue
		}
		back, err := DecodeValue(got)
		if err != nil || !value.Equal(back, c.v) {
			t.Errorf("% x decodes as %v, %v; want %v", got, back, err, c.v)
		}
	}
}

// TestNestedHeaders checks that sets and records pick the shortest
// extension header for their data, moving the data as needed.
func TestNestedHeaders(t *testing.T) {
	for _, n := range []int{0, 1, 3, 7, 15, 16, 100, 300, 70000} {
		elems := make([]value.Value, n)
		for i := range elems {
			elems[i] = value.Count(uint64(i))
		}
		s := value.Set(elems...)
		enc, err := AppendValue([]byte("prefix"), s)
		if err != nil {
			t.Fatal(err)
		}
		enc = enc[len("prefix"):]
		var inner []byte
		inner = appendArrayHeader(inner, n)
		for i := range n {
			inner = appendUint(inner, uint64(i))
		}
		want := append(appendExtHeader(nil, extSet, len(inner)), inner...)
		if !bytes.Equal(enc, want) {
			t.Fatalf("set of %d: % x…, want % x…", n, enc[:min(8, len(enc))], want[:min(8, len(want))])
		}
		back, err := DecodeValue(enc)
		if err != nil || !value.Equal(back, s) {
			t.Fatalf("set of %d decodes as %v", n, err)
		}
	}
}

// TestLenientDecoding reads forms other encoders write; each decodes to the
// value and re-encodes canonically.
func TestLenientDecoding(t *testing.T) {
	cases := []struct {
		name, hex string
		want      value.Value
	}{
		{"uint 64 count", "cf0000000000000005", value.Count(5)},
		{"int 64 int", "d30000000000000005", value.Int(5)},
		{"int 8 negative", "d0ff", value.Int(-1)},
		{"float 32", "ca3fc00000", value.Real(1.5)},
		{"bin string", "c4026869", value.String("hi")},
		{"str non-UTF-8", "a1ff", value.String("\xff")},
		{"str 16 short", "da00026869", value.String("hi")},
		{"array 16", "dc0001c0", value.Vector(value.None())},
		{"map 32", "df00000001a161c3", value.Table(value.Entry{Key: value.String("a"), Value: value.Bool(true)})},
		{"timestamp 96 positive", "c70cff00000000000000006553f100", value.Time(1_700_000_000_000_000_000)},
		{"timestamp 64 whole", "d7ff000000006553f100", value.Time(1_700_000_000_000_000_000)},
		{"mapped address", "d80100000000000000000000ffff0a000001", value.Addr(mustAddr("10.0.0.1"))},
		{"subnet host bits", "c705020a01020308", value.Subnet(netip.MustParsePrefix("10.0.0.0/8"))},
		{"ext 16 enum", "c800010778", value.Enum("x")},
	}
	for _, c := range cases {
		v, err := DecodeValue(unhex(t, c.hex))
		if err != nil || !value.Equal(v, c.want) {
			t.Errorf("%s: %s decodes as %v, %v; want %v", c.name, c.hex, v, err, c.want)
		}
	}
}

// encodeMap builds a MessagePack map from alternating keys and encoded
// values, in the order given.
func encodeMap(kv ...any) []byte {
	out := appendMapHeader(nil, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		out = appendString(out, kv[i].(string))
		switch v := kv[i+1].(type) {
		case string:
			out = appendString(out, v)
		case []byte:
			out = append(out, v...)
		case bool:
			out = appendBool(out, v)
		}
	}
	return out
}

func encodeArray(items ...[]byte) []byte {
	out := appendArrayHeader(nil, len(items))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func encodeValues(vs ...any) [][]byte {
	out := make([][]byte, len(vs))
	for i, v := range vs {
		switch v := v.(type) {
		case string:
			out[i] = appendString(nil, v)
		case float64:
			out[i] = appendFloat64(nil, v)
		case int:
			out[i] = appendUint(nil, uint64(v))
		case bool:
			out[i] = appendBool(nil, v)
		case []byte:
			out[i] = v
		case nil:
			out[i] = []byte{mpNil}
		}
	}
	return out
}

// TestPlainLogRecords writes a log batch the way a producer without
// extension types would: keys in another order, records before fields,
// plain floats, strings and integers; it decodes to the typed batch.
func TestPlainLogRecords(t *testing.T) {
	field := func(name, typ string, extra ...any) []byte {
		return encodeMap(append([]any{"type", typ, "name", name}, extra...)...)
	}
	doc := encodeMap(
		"records", encodeArray(
			encodeArray(encodeValues(1700000000.25, "worker-1", -1*1.0, 7, "10.1.2.3", "192.168.0.0/16", "53/udp", 2.5, "tcp", encodeArray(encodeValues("p", "q")...), encodeArray(encodeValues(8, 7)...), nil)...),
		),
		"path", "test",
		"log", "TEST_LOG",
		"fields", encodeArray(
			field("ts", "time"), field("node", "string"), field("d", "double"), field("i", "int"),
			field("a", "addr"), field("sn", "subnet"), field("p", "port"), field("iv", "interval"),
			field("e", "enum"), field("v", "vector", "subtype", "string"), field("st", "table", "subtype", "count"),
			field("opt", "string", "optional", true),
		),
	)
	b, err := DecodeLogBatch(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := &value.LogBatch{
		Stream: "TEST_LOG", Writer: DefaultWriter, Filter: DefaultFilter, Path: "test",
		Fields: []value.Field{
			{Name: "ts", Type: value.Type{Tag: value.TypeTime}}, {Name: "node", Type: value.Type{Tag: value.TypeString}},
			{Name: "d", Type: value.Type{Tag: value.TypeDouble}}, {Name: "i", Type: value.Type{Tag: value.TypeInt}},
			{Name: "a", Type: value.Type{Tag: value.TypeAddr}}, {Name: "sn", Type: value.Type{Tag: value.TypeSubnet}},
			{Name: "p", Type: value.Type{Tag: value.TypePort}}, {Name: "iv", Type: value.Type{Tag: value.TypeInterval}},
			{Name: "e", Type: value.Type{Tag: value.TypeEnum}},
			{Name: "v", Type: value.Type{Tag: value.TypeVector, Sub: value.TypeString}},
			{Name: "st", Type: value.Type{Tag: value.TypeTable, Sub: value.TypeCount}},
			{Name: "opt", Type: value.Type{Tag: value.TypeString}, Optional: true},
		},
		Records: [][]value.Value{{
			value.TimeSeconds(1700000000.25), value.String("worker-1"), value.Real(-1), value.Int(7),
			value.Addr(mustAddr("10.1.2.3")), value.Subnet(netip.MustParsePrefix("192.168.0.0/16")),
			value.PortOf(53, value.ProtoUDP), value.IntervalSeconds(2.5), value.Enum("tcp"),
			value.Vector(value.String("p"), value.String("q")), value.Set(value.Count(8), value.Count(7)), value.None(),
		}},
	}
	sameBatch(t, b, want)
	// The canonical form carries the same batch.
	doc2, err := AppendLogBatch(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := DecodeLogBatch(doc2)
	if err != nil {
		t.Fatal(err)
	}
	sameBatch(t, b2, want)
}

func TestDocumentKinds(t *testing.T) {
	ev := value.Event{Name: "ping", Args: []value.Value{value.Count(1)}}
	doc, _ := AppendEvent(nil, &ev)
	if d, err := Decode(doc); err != nil || d.Event == nil || d.Log != nil {
		t.Fatalf("event document: %+v, %v", d, err)
	}
	if _, err := DecodeLogBatch(doc); err == nil || !strings.Contains(err.Error(), "want a log batch document, have an event") {
		t.Fatalf("log batch from an event: %v", err)
	}
	b := &value.LogBatch{Stream: "S", Path: "p"}
	doc, _ = AppendLogBatch(nil, b)
	if d, err := Decode(doc); err != nil || d.Log == nil || d.Event != nil {
		t.Fatalf("log document: %+v, %v", d, err)
	}
	if _, err := DecodeEvent(doc); err == nil || !strings.Contains(err.Error(), "want an event document, have a log batch") {
		t.Fatalf("event from a log batch: %v", err)
	}
	// Only "event" is required of an event.
	got, err := DecodeEvent(encodeMap("event", "x"))
	if err != nil || got.Name != "x" || len(got.Args) != 0 {
		t.Fatalf("minimal event: %+v, %v", got, err)
	}
}

func TestMalformed(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "offset 0: want a document (an event or a log batch), have the end of the input"},
		{"not a map", unhex(t, "93010203"), "offset 0: want a map for a document (an event or a log batch), have 0x93 (fixarray of 3)"},
		{"empty map", unhex(t, "80"), `offset 0: want a document with the key "event" (an event) or "log" (a log batch), have an empty map`},
		{"unknown key", encodeMap("evnt", "x"), `offset 1: unknown document key "evnt"`},
		{"repeated key", encodeMap("event", "x", "event", "y"), `offset 9: document key "event" appears twice`},
		{"mixed keys", encodeMap("event", "x", "path", "p"), `offset 9: document key "path" belongs to a log batch, but the keys before it to an event`},
		{"no name", encodeMap("args", encodeArray()), `offset 0: event document without the key "event"`},
		{"name not a string", encodeMap("event", []byte{0x93, 1, 2, 3}), "offset 7: want str or bin for the event name, have 0x93 (fixarray of 3)"},
		{"args not an array", encodeMap("event", "x", "args", "y"), "offset 14: want an array for the event arguments, have 0xa1 (fixstr of 1 bytes)"},
		{"metadata entry", encodeMap("event", "x", "metadata", encodeArray(encodeArray([]byte{1}))), "offset 19: want a metadata entry of 2 elements [id, value], have 1"},
		{"metadata id", encodeMap("event", "x", "metadata", encodeArray(encodeArray([]byte{0xff}, []byte{0xc0}))), "offset 20: want a count for the id of metadata entry 0, have int"},
		{"trailing", append(encodeMap("event", "x"), 0xc0), "offset 9: want the end of the input, have 1 more bytes starting with 0xc0 (nil)"},
		{"never used", encodeMap("event", "x", "args", encodeArray([]byte{0xc1})), "offset 15: want a value, have 0xc1 (never used)"},
		{"truncated string", encodeMap("event", []byte{0xa5, 'a', 'b'}), "offset 8: want 5 bytes of the event name, have 2"},
		{"unknown ext", encodeMap("event", "x", "args", encodeArray([]byte{0xd4, 0x0a, 0})), "offset 16: want extension type -1 (timestamp) or 1 to 9, have 10"},
		{"addr size", encodeMap("event", "x", "args", encodeArray([]byte{0xd5, 0x01, 1, 2})), "offset 15: want addr data of 4 or 16 bytes, have 2"},
		{"subnet length", encodeMap("event", "x", "args", encodeArray(unhex(t, "c705020a00000021"))), "offset 22: want a prefix length of at most 32, have 33"},
		{"port protocol", encodeMap("event", "x", "args", encodeArray(unhex(t, "c70303005004"))), "offset 20: want port protocol 0 (unknown), 1 (tcp), 2 (udp) or 3 (icmp), have 4"},
		{"timestamp nanoseconds", encodeMap("event", "x", "args", encodeArray(unhex(t, "c70cff3b9aca000000000000000000"))), "offset 18: want timestamp nanoseconds below 10^9, have 1000000000"},
		{"timestamp range", encodeMap("event", "x", "args", encodeArray(unhex(t, "c70cff000000007fffffffffffffff"))), "offset 18: timestamp 9223372036854775807 s 0 ns lies outside the years 1678 to 2262"},
		{"set not an array", encodeMap("event", "x", "args", encodeArray(unhex(t, "d40801"))), "offset 17: want an array for the elements of a set, have 0x01 (positive fixint 1)"},
		{"set data left over", encodeMap("event", "x", "args", encodeArray(unhex(t, "d508 90 c0"))), "offset 18: want the end of the set data, have 1 more bytes"},
		{"set runs past its data", encodeMap("event", "x", "args", encodeArray(unhex(t, "d408 91 c0"))), "offset 17: the elements of a set of 1 cannot fit in the remaining 0 bytes"},
		{"set element past its data", encodeMap("event", "x", "args", encodeArray(unhex(t, "d508 91 cc 05"))), "offset 19: want 1 bytes of an unsigned integer, have 0"},
		{"record name", encodeMap("event", "x", "args", encodeArray(unhex(t, "c70309 81 01 c0"))), "offset 19: want str or bin for a record field name, have 0x01 (positive fixint 1)"},
		{"huge array", encodeMap("event", "x", "args", unhex(t, "ddffffffff")), "offset 14: the event arguments of 4294967295 cannot fit in the remaining 0 bytes"},
		{"huge map", encodeMap("event", "x", "args", encodeArray(unhex(t, "df00000002c0c0c0"))), "offset 15: a table of 2 cannot fit in the remaining 3 bytes"},
		{"log without path", encodeMap("log", "L", "fields", encodeArray()), `offset 0: log batch document without the key "path"`},
		{"field type", encodeMap("log", "L", "path", "p", "fields", encodeArray(encodeMap("name", "a", "type", "pattern"))), `field 0 ("a"): type pattern cannot be logged`},
		{"field type name", encodeMap("log", "L", "path", "p", "fields", encodeArray(encodeMap("name", "a", "type", "cnt"))), `field 0 type: unknown Zeek type "cnt"`},
		{"field subtype", encodeMap("log", "L", "path", "p", "fields", encodeArray(encodeMap("name", "a", "type", "vector"))), `field 0 ("a"): type vector needs a "subtype"`},
		{"field key", encodeMap("log", "L", "path", "p", "fields", encodeArray(encodeMap("name", "a", "typ", "count"))), `field 0: unknown key "typ"`},
		{"record length", encodeMap("log", "L", "path", "p", "fields", encodeArray(encodeMap("name", "a", "type", "count")), "records", encodeArray(encodeArray())), "record 0 has 0 values, want 1 (one per field)"},
		{"record value", encodeMap("log", "L", "path", "p", "fields", encodeArray(encodeMap("name", "a", "type", "addr")), "records", encodeArray(encodeArray(encodeValues("nope")...))), `record 0 field 0 ("a"): want an address for type addr, have the string "nope"`},
		{"record kind", encodeMap("log", "L", "path", "p", "fields", encodeArray(encodeMap("name", "a", "type", "count")), "records", encodeArray(encodeArray(encodeValues(true)...))), `record 0 field 0 ("a"): want count for type count, have bool`},
		{"negative count", encodeMap("log", "L", "path", "p", "fields", encodeArray(encodeMap("name", "a", "type", "count")), "records", encodeArray(encodeArray([]byte{0xff}))), `want a count for type count, have the negative int -1`},
		{"set column", encodeMap("log", "L", "path", "p", "fields", encodeArray(encodeMap("name", "a", "type", "table", "subtype", "count")), "records", encodeArray(encodeArray(encodeArray([]byte{1}, encodeValues("x")[0])))), `record 0 field 0 ("a"): element 1: want count for type count, have string`},
		{"records skipped badly", encodeMap("records", []byte{0xc1}, "log", "L"), "offset 9: want a value, have 0xc1 (never used)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.data)
			if err == nil {
				t.Fatalf("decoded % x without error", c.data)
			}
			var de *codec.DecodeError
			if !errors.As(err, &de) || de.Codec != "zmsgpack" {
				t.Fatalf("error %v is no zmsgpack DecodeError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q\nwant it to contain %q\ninput % x", err, c.want, c.data)
			}
		})
	}
}

// TestHugeCountsAllocateLittle feeds counts of 2³²-1 with nothing behind
// them; decoding fails without allocating for them.
func TestHugeCountsAllocateLittle(t *testing.T) {
	for _, h := range []string{"ddffffffff", "dfffffffff", "dbffffffff61", "c9ffffffff0761", "d408ddffffffff"} {
		data := unhex(t, h)
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := DecodeValue(data); err == nil {
				t.Fatalf("decoded % x", data)
			}
		})
		if allocs > 10 {
			t.Errorf("% x: %v allocations", data, allocs)
		}
	}
}

func TestDeepNesting(t *testing.T) {
	for _, open := range [][]byte{{0x91}, {0x81, 0xc0}, {0xc7, 0x00, 0x08}} {
		deep := append(bytes.Repeat(open, MaxDepth+1), 0xc0)
		if open[0] == 0xc7 {
			// Sets need their lengths; build them from the inside out.
			deep = []byte{0xc0}
			for range MaxDepth + 1 {
				inner := append([]byte{0x91}, deep...)
				deep = append(appendExtHeader(nil, extSet, len(inner)), inner...)
			}
		}
		if _, err := DecodeValue(deep); err == nil || !strings.Contains(err.Error(), "nested deeper than 128") {
			t.Fatalf("% x…: error = %v", open, err)
		}
	}
	v := value.None()
	for range MaxDepth {
		v = value.Vector(v)
	}
	enc, err := AppendValue(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeValue(enc); err != nil {
		t.Fatal(err)
	}
	if _, err := AppendValue(nil, value.Vector(v)); err == nil {
		t.Fatal("encoded a value nested too deeply")
	}
}

// TestTruncations decodes every proper prefix of documents of every kind:
// each must fail with a DecodeError.
func TestTruncations(t *testing.T) {
	var docs [][]byte
	for _, vec := range eventVectors(t) {
		ev, err := vec.codec.DecodeEvent(vec.payload)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := AppendEvent(nil, &ev)
		docs = append(docs, doc)
	}
	b, err := zeeklog.Decode(vectors.Payload(t, "derived/log-write-demo.hex"))
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := AppendLogBatch(nil, b)
	docs = append(docs, doc)
	for _, doc := range docs {
		for n := range len(doc) {
			_, err := Decode(doc[:n])
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("prefix of %d of % x: error %v", n, doc, err)
			}
		}
	}
}

func TestTimestampBounds(t *testing.T) {
	for _, ns := range []int64{math.MinInt64, math.MinInt64 + 1, -1e9, -1, 0, 1, 1e9, 1<<32*1e9 - 1, 1 << 33 * 1e9, math.MaxInt64} {
		enc, err := AppendValue(nil, value.Time(ns))
		if err != nil {
			t.Fatal(err)
		}
		v, err := DecodeValue(enc)
		if err != nil || v.Nanos() != ns || v.SecondsForm() {
			t.Errorf("time %d: % x decodes as %v, %v", ns, enc, v, err)
		}
	}
	// One nanosecond beyond either end of int64.
	for _, h := range []string{"c70cff 08a7f1ff fffffffdda3e82fb", "c70cff 32f2d800 0000000225c17d04"} {
		if _, err := DecodeValue(unhex(t, h)); err == nil || !strings.Contains(err.Error(), "outside the years") {
			t.Errorf("%s: error %v", h, err)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	cases := []struct {
		v    value.Value
		want string
	}{
		{value.Vector(value.PortOf(1, value.Proto(7))), "vector element 0: port protocol 7 is none of"},
		{value.Set(value.String("a"), value.PortOf(1, value.Proto(4))), "set element 1: port protocol 4"},
		{value.Table(value.Entry{Key: value.PortOf(1, value.Proto(9))}), "table key 0: port protocol 9"},
		{value.Record(value.RecordField{Name: "r", Value: value.PortOf(1, value.Proto(5))}), `record field 0 ("r"): port protocol 5`},
	}
	for _, c := range cases {
		_, err := AppendValue(nil, c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.v, err, c.want)
		}
	}
	ev := value.Event{Name: "e", Args: []value.Value{value.Count(1), value.PortOf(1, value.Proto(4))}}
	if _, err := AppendEvent(nil, &ev); err == nil || !strings.Contains(err.Error(), `event "e" argument 1`) {
		t.Errorf("event error = %v", err)
	}
	b := &value.LogBatch{Fields: []value.Field{{Name: "c", Type: value.Type{Tag: value.TypeCount}}}, Records: [][]value.Value{{value.String("x")}}}
	if _, err := AppendLogBatch(nil, b); err == nil || !strings.Contains(err.Error(), `record 0 field 0 ("c"): want count for type count, have string`) {
		t.Errorf("log batch error = %v", err)
	}
}

// TestDecodedIsIndependent checks that decoded values do not share memory
// with the input.
func TestDecodedIsIndependent(t *testing.T) {
	ev := value.Event{Name: "hello", Args: []value.Value{value.String("world"), value.Enum("tcp")}}
	doc, _ := AppendEvent(nil, &ev)
	got, err := DecodeEvent(doc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range doc {
		doc[i] = 'X'
	}
	sameEvent(t, got, ev)
}

func TestCodecInterface(t *testing.T) {
	var ec codec.EventCodec = Codec{}
	var lc codec.LogCodec = Codec{}
	if ec.Format() != "zpipe-msgpack-v1" || lc.Format() != "zpipe-msgpack-v1" {
		t.Fatal(ec.Format())
	}
	ev := value.Event{Name: "x"}
	out, err := ec.AppendEvent([]byte("p"), &ev)
	if err != nil || !bytes.HasPrefix(out, []byte("p")) {
		t.Fatalf("append: %q, %v", out, err)
	}
	back, err := ec.DecodeEvent(out[1:])
	if err != nil || back.Name != "x" {
		t.Fatalf("decode: %+v, %v", back, err)
	}
	b := &value.LogBatch{Stream: "S", Writer: "W", Filter: "F", Path: "P"}
	out, err = lc.AppendLogBatch(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := lc.DecodeLogBatch(out)
	if err != nil {
		t.Fatal(err)
	}
	sameBatch(t, bb, b)
}

// TestDuplicatesAreCarried checks that sets and tables holding elements or
// keys that compare equal survive: the format carries the data model as
// it is, and the Zeek codecs decide what Zeek accepts.
func TestDuplicatesAreCarried(t *testing.T) {
	for _, v := range []value.Value{
		value.Set(value.Count(1), value.Count(1)),
		value.Table(value.Entry{Key: value.String("b"), Value: value.Int(1)}, value.Entry{Key: value.String("b"), Value: value.Int(2)}),
	} {
		enc, err := AppendValue(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeValue(enc)
		if err != nil || !value.Equal(back, v) {
			t.Fatalf("%v decodes as %v, %v", v, back, err)
		}
	}
}
