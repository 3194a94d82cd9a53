package brokerjson

import (
	"bytes"
	"errors"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/value/valuetest"
	"github.com/zpipe/zpipe/internal/vectors"
)

// roundTrip decodes payload, re-encodes it and requires the same bytes.
func roundTrip(t *testing.T, payload []byte) value.Event {
	t.Helper()
	ev, err := DecodeEvent(payload)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	out, err := AppendEvent(nil, &ev)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if !bytes.Equal(out, payload) {
		t.Fatalf("re-encoding differs:\n got %s\nwant %s", out, payload)
	}
	return ev
}

// binaryTwin decodes the broker-bin-v1 vector rel.
func binaryTwin(t *testing.T, rel string) value.Event {
	t.Helper()
	ev, err := brokerbin.DecodeEvent(vectors.Payload(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func sameEvent(t *testing.T, got, want value.Event) {
	t.Helper()
	if got.Name != want.Name || len(got.Args) != len(want.Args) || len(got.Metadata) != len(want.Metadata) {
		t.Fatalf("event %s/%d args/%d metadata, want %s/%d/%d", got.Name, len(got.Args), len(got.Metadata), want.Name, len(want.Args), len(want.Metadata))
	}
	for i := range want.Args {
		if !value.Equal(got.Args[i], want.Args[i]) {
			t.Errorf("arg %d = %v, want %v", i, got.Args[i], want.Args[i])
		}
	}
	for i := range want.Metadata {
		if got.Metadata[i].ID != want.Metadata[i].ID || !value.Equal(got.Metadata[i].Value, want.Metadata[i].Value) {
			t.Errorf("metadata %d = %v, want %v", i, got.Metadata[i], want.Metadata[i])
		}
	}
}

func TestDerivedHello(t *testing.T) {
	frames := vectors.Load(t, "derived/event-zmq-hello-json.hex")
	if string(frames[2]) != codec.FormatBrokerJSON {
		t.Fatalf("frame 2 = %q", frames[2])
	}
	ev := roundTrip(t, frames[3])
	sameEvent(t, ev, binaryTwin(t, "derived/event-zmq-hello.hex"))
}

// TestDerivedAllTypes decodes the JSON form of one value of every type, which
// must equal the binary vector's values and re-encode byte for byte.
func TestDerivedAllTypes(t *testing.T) {
	ev := roundTrip(t, vectors.Payload(t, "derived/event-all-types-json.hex"))
	sameEvent(t, ev, binaryTwin(t, "derived/event-all-types-bin.hex"))
}

// TestZeekUnitTestJSON is the JSON that Zeek's serializer unit test
// expects for Supervisor::node_status("TEST", 42) with timestamp 0.
func TestZeekUnitTestJSON(t *testing.T) {
	const want = `{"@data-type":"vector","data":[{"@data-type":"count","data":1},{"@data-type":"count","data":1},{"@data-type":"vector","data":[{"@data-type":"string","data":"Supervisor::node_status"},{"@data-type":"vector","data":[{"@data-type":"string","data":"TEST"},{"@data-type":"count","data":42}]},{"@data-type":"vector","data":[{"@data-type":"vector","data":[{"@data-type":"count","data":1},{"@data-type":"timestamp","data":"1970-01-01T00:00:00.000"}]}]}]}]}`
	ev := binaryTwin(t, "derived/broker-bin-unit-test-node_status.hex")
	out, err := AppendEvent(nil, &ev)
	if err != nil || string(out) != want {
		t.Fatalf("encoded %s, %v", out, err)
	}
	sameEvent(t, roundTrip(t, []byte(want)), ev)
}

// TestCapturedEvents writes every captured binary event as JSON and reads
// it back.
func TestCapturedEvents(t *testing.T) {
	for _, m := range vectors.Handshake(t) {
		if m.Kind != "publications" {
			continue
		}
		ev, err := brokerbin.DecodeEvent(m.Frames[3])
		if err != nil {
			t.Fatal(err)
		}
		out, err := AppendEvent(nil, &ev)
		if err != nil {
			t.Fatal(err)
		}
		sameEvent(t, roundTrip(t, out), ev)
	}
	ev := binaryTwin(t, "captured/zeek-event-test_event.hex")
	out, err := AppendEvent(nil, &ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"@data-type":"real","data":3.250000}`,
		`{"@data-type":"timestamp","data":"2023-11-14T22:13:20.500"}`,
		`{"@data-type":"timespan","data":"90s"}`,
		`{"@data-type":"set","data":[{"@data-type":"string","data":"x"},{"@data-type":"string","data":"y"}]}`,
		`{"@data-type":"table","data":[{"key":{"@data-type":"string","data":"one"},"value":{"@data-type":"count","data":1}},{"key":{"@data-type":"string","data":"two"},"value":{"@data-type":"count","data":2}}]}`,
		`{"@data-type":"vector","data":[{"@data-type":"string","data":"rec"},{"@data-type":"count","data":5},{"@data-type":"vector","data":[{"@data-type":"string","data":"a"},{"@data-type":"string","data":"b"}]},{"@data-type":"none","data":{}}]}`,
		`{"@data-type":"enum-value","data":"udp"}`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("test_event JSON lacks %s", want)
		}
	}
}

func TestScalarForms(t *testing.T) {
	cases := []struct {
		v    value.Value
		json string
	}{
		{value.Real(0.1), `{"@data-type":"real","data":0.100000}`},
		{value.Real(1e-7), `{"@data-type":"real","data":0.000000}`},
		{value.Real(1e20), `{"@data-type":"real","data":100000000000000000000.000000}`},
		{value.Real(math.Copysign(0, -1)), `{"@data-type":"real","data":-0.000000}`},
		{value.Real(0.0078125), `{"@data-type":"real","data":0.007812}`}, // ties round to even, as glibc
		{value.Real(math.NaN()), `{"@data-type":"real","data":nan}`},
		{value.Real(math.Inf(-1)), `{"@data-type":"real","data":-inf}`},
		{value.Interval(0), `{"@data-type":"timespan","data":"0s"}`},
		{value.Interval(1), `{"@data-type":"timespan","data":"1ns"}`},
		{value.Interval(1500 * time.Microsecond), `{"@data-type":"timespan","data":"1500us"}`},
		{value.Interval(-1500 * time.Millisecond), `{"@data-type":"timespan","data":"-1500ms"}`},
		{value.Interval(42 * time.Second), `{"@data-type":"timespan","data":"42s"}`},
		{value.Interval(2 * time.Hour), `{"@data-type":"timespan","data":"7200s"}`},
		{value.Time(1700000000123999999), `{"@data-type":"timestamp","data":"2023-11-14T22:13:20.123"}`},
		{value.Time(-1500000000), `{"@data-type":"timestamp","data":"1969-12-31T23:59:59.000"}`},
		{value.TimeSeconds(1700000000.5), `{"@data-type":"timestamp","data":"2023-11-14T22:13:20.500"}`},
		{value.PortOf(7, value.ProtoUnknown), `{"@data-type":"port","data":"7/?"}`},
		{value.String("a\"\\\b\f\n\r\t\v\x01\xff/é"), "{\"@data-type\":\"string\",\"data\":\"a\\\"\\\\\\b\\f\\n\\r\\t\\v\x01\xff/é\"}"},
		{value.Addr(netip.MustParseAddr("::ffff:10.1.2.3")), `{"@data-type":"address","data":"10.1.2.3"}`},
		{value.Addr(netip.MustParseAddr("::1.2.3.4")), `{"@data-type":"address","data":"::102:304"}`},
		{value.Addr(netip.MustParseAddr("1:0:0:2:0:0:0:3")), `{"@data-type":"address","data":"1:0:0:2::3"}`},
		{value.Set(), `{"@data-type":"set","data":[]}`},
		{value.Table(), `{"@data-type":"table","data":[]}`},
		{value.Record(value.RecordField{Name: "a", Value: value.Count(1)}), `{"@data-type":"vector","data":[{"@data-type":"count","data":1}]}`},
	}
	for _, c := range cases {
		out, err := AppendValue(nil, c.v)
		if err != nil || string(out) != c.json {
			t.Errorf("%v: encoded %s, %v; want %s", c.v, out, err, c.json)
		}
	}
}

// TestIPv6Text checks addresses against a port of CAF's IPv6 printer,
// which Broker uses.
func TestIPv6Text(t *testing.T) {
	g := valuetest.New(3)
	for range 20000 {
		var b [16]byte
		for i := range b {
			if g.R.IntN(3) == 0 {
				b[i] = byte(g.R.Uint32())
			}
		}
		a := netip.AddrFrom16(b)
		out, err := AppendValue(nil, value.Addr(a))
		if err != nil {
			t.Fatal(err)
		}
		want := `{"@data-type":"address","data":"` + cafIPv6(b) + `"}`
		if string(out) != want {
			t.Fatalf("%x: encoded %s, want %s", b, out, want)
		}
	}
}

// cafIPv6 ports caf::to_string(ipv6_address).
func cafIPv6(b [16]byte) string {
	if [12]byte(b[:12]) == [12]byte{10: 0xff, 11: 0xff} {
		return netip.AddrFrom4([4]byte(b[12:])).String()
	}
	var w [8]uint16
	for i := range w {
		w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	if w == [8]uint16{} {
		return "::"
	}
	bestStart, bestLen := -1, 0
	for i := 0; i < 8; {
		if w[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && w[j] == 0 {
			j++
		}
		if j-i >= 2 && j-i > bestLen {
			bestStart, bestLen = i, j-i
		}
		i = j
	}
	var parts []string
	for i := 0; i < 8; i++ {
		if i == bestStart {
			parts = append(parts, "")
			if i == 0 {
				parts = append(parts, "")
			}
			i += bestLen - 1
			if i == 7 {
				parts = append(parts, "")
			}
			continue
		}
		parts = append(parts, strconv.FormatUint(uint64(w[i]), 16))
	}
	return strings.Join(parts, ":")
}

func TestDecodeForms(t *testing.T) {
	cases := []struct {
		json string
		want value.Value
	}{
		{` { "data" : 7 , "@data-type" : "count" } `, value.Count(7)},
		{`{"@data-type":"count","extra":[1,{"a":null}],"data":18446744073709551615}`, value.Count(math.MaxUint64)},
		{`{"@data-type":"integer","data":-9223372036854775808}`, value.Int(math.MinInt64)},
		{`{"@data-type":"real","data":1e3}`, value.Real(1000)},
		{`{"@data-type":"real","data":-inf}`, value.Real(math.Inf(-1))},
		{`{"@data-type":"none"}`, value.None()},
		{`{"@data-type":"none","data":[1,2]}`, value.None()},
		{`{"@data-type":"string","data":"\u00e9\ud83d\ude00\/\v"}`, value.String("é😀/\v")},
		{`{"@data-type":"string","data":"\udc00"}`, value.String("\xed\xb0\x80")},
		{`{"@data-type":"port","data":"80"}`, value.PortOf(80, value.ProtoTCP)},
		{`{"@data-type":"port","data":"80/sctp"}`, value.PortOf(80, value.ProtoUnknown)},
		{`{"@data-type":"subnet","data":"10.1.2.3/8"}`, value.Subnet(netip.MustParsePrefix("10.0.0.0/8"))},
		{`{"@data-type":"timestamp","data":"1970-01-01T01:42:42"}`, value.Time(6162e9)},
		{`{"@data-type":"timestamp","data":"2023-11-14T23:13:20.123456789+01:00"}`, value.Time(1700000000123456789)},
		{`{"@data-type":"timestamp","data":"2023-11-14T22:13:20.5Z"}`, value.Time(1700000000500000000)},
		{`{"@data-type":"timespan","data":"-3min"}`, value.Interval(-3 * time.Minute)},
		{`{"@data-type":"timespan","data":"2h"}`, value.Interval(2 * time.Hour)},
		{`{"data":[{"value":{"@data-type":"count","data":2},"key":{"@data-type":"string","data":"b"}}],"@data-type":"table"}`,
			value.Table(value.Entry{Key: value.String("b"), Value: value.Count(2)})},
	}
	for _, c := range cases {
		v, err := DecodeValue([]byte(c.json))
		if err != nil || !value.Equal(v, c.want) {
			t.Errorf("%s: decoded %v, %v; want %v", c.json, v, err, c.want)
		}
	}
	// The WebSocket framing keys are ignored.
	hello := vectors.Payload(t, "derived/event-zmq-hello-json.hex")
	ws := append([]byte(`{"type":"data-message","topic":"zeek.x",`), hello[1:]...)
	ev, err := DecodeEvent(ws)
	if err != nil {
		t.Fatal(err)
	}
	sameEvent(t, ev, binaryTwin(t, "derived/event-zmq-hello.hex"))
}

func TestMetadataShapes(t *testing.T) {
	const prefix = `{"@data-type":"vector","data":[{"@data-type":"count","data":1},{"@data-type":"count","data":1},{"@data-type":"vector","data":[{"@data-type":"string","data":"e"},{"@data-type":"vector","data":[]}`
	for _, c := range []struct {
		meta  string
		n     int
		exact bool
	}{
		{``, 0, true},
		{`,{"@data-type":"vector","data":[]}`, 0, false},
		{`,{"@data-type":"vector","data":[{"@data-type":"vector","data":[{"@data-type":"count","data":1},{"@data-type":"timestamp","data":"2023-11-14T22:13:20.500"}]}]}`, 1, true},
	} {
		payload := []byte(prefix + c.meta + `]}]}`)
		ev, err := DecodeEvent(payload)
		if err != nil || len(ev.Metadata) != c.n {
			t.Fatalf("%s: %+v, %v", payload, ev, err)
		}
		out, err := AppendEvent(nil, &ev)
		if err != nil || bytes.Equal(out, payload) != c.exact {
			t.Fatalf("%s: re-encoded %s, %v", payload, out, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	cases := []struct{ name, json, want string }{
		{"empty", ``, "offset 0: want a value object '{', have end of payload"},
		{"not an object", `[1]`, "offset 0: want a value object '{', have '['"},
		{"no type", `{"data":1}`, `offset 0: want "@data-type" in the value object`},
		{"empty object", `{}`, `offset 0: want "@data-type" in the value object`},
		{"unknown type", `{"@data-type":"float","data":1}`, `offset 0: unknown @data-type "float"`},
		{"no data", `{"@data-type":"count"}`, `offset 0: want "data" in the "count" value object`},
		{"duplicate type", `{"@data-type":"count","@data-type":"count","data":1}`, `offset 22: duplicate key "@data-type"`},
		{"duplicate data", `{"@data-type":"count","data":1,"data":2}`, `offset 31: duplicate key "data"`},
		{"negative count", `{"@data-type":"count","data":-1}`, "offset 29: want count (an integer from 0 to 2^64-1), have -1"},
		{"fractional count", `{"@data-type":"count","data":1.0}`, "offset 29: want count (an integer from 0 to 2^64-1), have 1.0"},
		{"big integer", `{"@data-type":"integer","data":9223372036854775808}`, "offset 31: want integer (from -2^63 to 2^63-1), have 9223372036854775808"},
		{"integral real", `{"@data-type":"real","data":1}`, "offset 28: want real with a decimal point or exponent, have 1"},
		{"bad number", `{"@data-type":"real","data":1.}`, "offset 30: want digits after the decimal point"},
		{"boolean", `{"@data-type":"boolean","data":1}`, "offset 31: want boolean true or false, have '1'"},
		{"string", `{"@data-type":"string","data":5}`, "offset 30: want string string, have '5'"},
		{"escape", `{"@data-type":"string","data":"\x"}`, `offset 31: want an escape of ", \, /, b, f, n, r, t, v or u, have 'x'`},
		{"unterminated", `{"@data-type":"string","data":"abc`, "offset 30: unterminated string string"},
		{"lone high surrogate", `{"@data-type":"string","data":"\ud83dx"}`, `offset 37: want a low surrogate \uDC00 to \uDFFF after \uD83D`},
		{"address", `{"@data-type":"address","data":"10.1.2"}`, `offset 31: want address an IPv4 or IPv6 address, have "10.1.2"`},
		{"zone", `{"@data-type":"address","data":"fe80::1%eth0"}`, `want address an IPv4 or IPv6 address`},
		{"subnet", `{"@data-type":"subnet","data":"10.0.0.0/33"}`, `offset 30: want subnet <address>/<length>, have "10.0.0.0/33"`},
		{"port", `{"@data-type":"port","data":"70000/tcp"}`, `offset 28: want port <number 0 to 65535>/<protocol>, have "70000/tcp"`},
		{"timestamp", `{"@data-type":"timestamp","data":"2023-11-14 22:13:20"}`, `want timestamp YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]`},
		{"timestamp range", `{"@data-type":"timestamp","data":"2300-01-01T00:00:00"}`, `want timestamp between the years 1678 and 2262`},
		{"timespan unit", `{"@data-type":"timespan","data":"5d"}`, `want timespan <integer><unit> with unit ns, us, ms, s, min or h, have "5d"`},
		{"timespan overflow", `{"@data-type":"timespan","data":"9999999999h"}`, `want timespan within ±2^63 nanoseconds`},
		{"duplicate set element", `{"@data-type":"set","data":[{"@data-type":"count","data":1},{"@data-type":"count","data":2},{"@data-type":"count","data":1}]}`, "offset 92: set element 2 duplicates set element 0"},
		{"duplicate table key", `{"@data-type":"table","data":[{"key":{"@data-type":"none","data":{}},"value":{"@data-type":"none","data":{}}},{"key":{"@data-type":"none","data":{}},"value":{"@data-type":"count","data":1}}]}`, "offset 110: table entry 1 duplicates table entry 0"},
		{"table entry", `{"@data-type":"table","data":[{"key":{"@data-type":"none","data":{}}}]}`, `offset 30: want table entry {"key": …, "value": …}`},
		{"trailing", `{"@data-type":"none","data":{}} x`, "offset 32: want end of payload, have 'x'"},
		{"separator", `{"@data-type":"vector","data":[{"@data-type":"none","data":{}} {"@data-type":"none","data":{}}]}`, "offset 63: want ',' or ']', have '{'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeValue([]byte(c.json))
			if err == nil {
				t.Fatal("decoded without error")
			}
			var de *codec.DecodeError
			if !errors.As(err, &de) || de.Codec != "brokerjson" {
				t.Fatalf("error %v is no brokerjson DecodeError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestMalformedEvents(t *testing.T) {
	v := func(s string) string { return `{"@data-type":"vector","data":[` + s + `]}` }
	c1 := `{"@data-type":"count","data":1}`
	cases := []struct{ json, want string }{
		{`{"@data-type":"set","data":[]}`, `offset 0: want event vector of @data-type "vector", have "set"`},
		{v(c1 + "," + c1), "offset 0: want event vector of 3 elements, have 2"},
		{v(`{"@data-type":"count","data":2},` + c1 + "," + v("")), "offset 31: want protocol version count 1, have count 2"},
		{v(c1 + "," + c1 + "," + v(`{"@data-type":"enum-value","data":"x"},`+v(""))), "offset 126: want event name string, have enum"},
		{v(c1 + "," + c1 + "," + v(`{"@data-type":"string","data":"x"}`)), "offset 95: want event content vector of 2 or 3 elements, have 1"},
		{v(c1 + "," + c1 + "," + v(`{"@data-type":"string","data":"x"},`+v("")+","+v(v(c1)))), "offset 226: want metadata entry vector of 2 elements, have 1"},
		{strings.Repeat(`{"@data-type":"vector","data":[`, MaxDepth+1), "nested deeper than 128"},
	}
	for _, c := range cases {
		_, err := DecodeEvent([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.json, err, c.want)
		}
	}
}

func TestTruncations(t *testing.T) {
	payload := vectors.Payload(t, "derived/event-all-types-json.hex")
	for n := range len(payload) {
		if _, err := DecodeEvent(payload[:n]); err == nil {
			t.Fatalf("prefix of %d bytes decoded", n)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, c := range []struct {
		v    value.Value
		want string
	}{
		{value.Set(value.String("a"), value.String("a")), "set element 1 duplicates element 0"},
		{value.Table(value.Entry{Key: value.Count(1)}, value.Entry{Key: value.Count(1)}), "table key 1 duplicates key 0"},
		{value.TimeSeconds(math.Inf(1)), "does not fit in int64 nanoseconds"},
	} {
		_, err := AppendValue(nil, c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.v, err, c.want)
		}
	}
}

// TestRoundTripGenerated encodes generated events whose values JSON
// carries exactly (reals in 1/64 steps, times in milliseconds): decoding
// gives the same values and re-encoding the same text.
func TestRoundTripGenerated(t *testing.T) {
	g := valuetest.New(4)
	g.Millis = true
	for i := range 3000 {
		ev := g.Event()
		payload, err := AppendEvent(nil, &ev)
		if err != nil {
			t.Fatalf("event %d: encode: %v", i, err)
		}
		back, err := DecodeEvent(payload)
		if err != nil {
			t.Fatalf("event %d: decode: %v\n%s", i, err, payload)
		}
		sameEvent(t, back, ev)
		again, err := AppendEvent(nil, &back)
		if err != nil || !bytes.Equal(again, payload) {
			t.Fatalf("event %d: re-encoding differs (%v)", i, err)
		}
	}
}

// TestLossyRoundTrip encodes arbitrary events: JSON loses precision of
// reals and times as Zeek's does, but one pass reaches a fixed point. Set
// elements or table keys that differ only below that precision collide,
// which Zeek's decoder rejects too; such events are counted.
func TestLossyRoundTrip(t *testing.T) {
	g := valuetest.New(5)
	collisions := 0
	for i := range 2000 {
		ev := g.Event()
		first, err := AppendEvent(nil, &ev)
		if err != nil {
			t.Fatalf("event %d: encode: %v", i, err)
		}
		back, err := DecodeEvent(first)
		if err != nil && strings.Contains(err.Error(), " duplicates ") {
			collisions++
			continue
		}
		if err != nil {
			t.Fatalf("event %d: decode: %v\n%s", i, err, first)
		}
		second, err := AppendEvent(nil, &back)
		if err != nil {
			t.Fatalf("event %d: re-encode: %v", i, err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("event %d: not a fixed point:\n%s\n%s", i, first, second)
		}
	}
	if collisions > 100 {
		t.Fatalf("%d of 2000 events collided", collisions)
	}
}

func TestCodecInterface(t *testing.T) {
	var c codec.EventCodec = Codec{}
	if c.Format() != "broker-json-v1" {
		t.Fatal(c.Format())
	}
	payload := vectors.Payload(t, "derived/event-zmq-hello-json.hex")
	ev, err := c.DecodeEvent(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.AppendEvent(nil, &ev)
	if err != nil || !bytes.Equal(out, payload) {
		t.Fatalf("append = %s, %v", out, err)
	}
}
