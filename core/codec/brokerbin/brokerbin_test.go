package brokerbin

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
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/value/valuetest"
	"github.com/zpipe/zpipe/internal/vectors"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

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
		t.Fatalf("re-encoding differs:\n got %x\nwant %x", out, payload)
	}
	return ev
}

func stringArgs(t *testing.T, ev value.Event) []string {
	t.Helper()
	var out []string
	for i, a := range ev.Args {
		if a.Kind() != value.KindString {
			t.Fatalf("argument %d: want string, have %s", i, a.Kind())
		}
		out = append(out, a.Str())
	}
	return out
}

func TestDerivedHello(t *testing.T) {
	frames := vectors.Load(t, "derived/event-zmq-hello.hex")
	if string(frames[2]) != codec.FormatBrokerBin {
		t.Fatalf("frame 2 = %q", frames[2])
	}
	ev := roundTrip(t, frames[3])
	if ev.Name != "Cluster::Backend::ZeroMQ::hello" || ev.Metadata != nil {
		t.Fatalf("event = %+v", ev)
	}
	if got := stringArgs(t, ev); got[0] != "manager" || got[1] != "zeromq_manager_zeek1_4100_N9kP" || len(got) != 2 {
		t.Fatalf("args = %q", got)
	}
	if _, ok := ev.NetworkTimestamp(); ok {
		t.Fatal("network timestamp reported for an event without metadata")
	}
}

func TestDerivedHelloWithMetadata(t *testing.T) {
	ev := roundTrip(t, vectors.Payload(t, "derived/event-cluster-hello-meta.hex"))
	if ev.Name != "Cluster::hello" || len(ev.Args) != 2 {
		t.Fatalf("event = %+v", ev)
	}
	ns, ok := ev.NetworkTimestamp()
	if !ok || ns != 1700000000500000000 {
		t.Fatalf("network timestamp = %d, %v", ns, ok)
	}
}

// TestZeekUnitTestVector is the vector of Zeek's own serializer unit test:
// Supervisor::node_status("TEST", 42) with network timestamp 0.
func TestZeekUnitTestVector(t *testing.T) {
	payload := vectors.Payload(t, "derived/broker-bin-unit-test-node_status.hex")
	ev := roundTrip(t, payload)
	if ev.Name != "Supervisor::node_status" || len(ev.Args) != 2 ||
		ev.Args[0].Str() != "TEST" || ev.Args[1].Count() != 42 || ev.Args[1].Kind() != value.KindCount {
		t.Fatalf("event = %v %v", ev.Name, ev.Args)
	}
	if ns, ok := ev.NetworkTimestamp(); !ok || ns != 0 {
		t.Fatalf("network timestamp = %d, %v", ns, ok)
	}
	// Built from scratch, the event encodes to the same bytes.
	built := value.Event{Name: "Supervisor::node_status", Args: []value.Value{value.String("TEST"), value.Count(42)}}
	built.SetNetworkTimestamp(0)
	out, err := AppendEvent(nil, &built)
	if err != nil || !bytes.Equal(out, payload) {
		t.Fatalf("built event encodes to %x, %v; want %x", out, err, payload)
	}
}

// allTypes is the values of derived/event-all-types-bin.hex: one value of
// every type.
func allTypes() []value.Value {
	return []value.Value{
		value.Bool(true),
		value.Count(42),
		value.Int(-7),
		value.Real(1.5),
		value.String("ab"),
		value.Addr(netip.MustParseAddr("192.168.1.10")),
		value.Addr(netip.MustParseAddr("2001:db8::1")),
		value.Subnet(netip.MustParsePrefix("10.0.0.0/8")),
		value.Subnet(netip.MustParsePrefix("2001:db8::/32")),
		value.PortOf(443, value.ProtoTCP),
		value.PortOf(53, value.ProtoUDP),
		value.PortOf(8, value.ProtoICMP),
		value.Time(1700000000500000000),
		value.Interval(-1500 * time.Millisecond),
		value.Enum("Conn::LOG"),
		value.Set(value.Count(1), value.Count(2)),
		value.Table(value.Entry{Key: value.String("a"), Value: value.Count(1)}),
		value.Table(value.Entry{Key: value.Vector(value.String("a"), value.Count(1)), Value: value.Bool(true)}),
		value.Vector(value.String("x")),
		value.Record(value.RecordField{Name: "a", Value: value.Count(1)}, value.RecordField{Name: "b"}),
	}
}

func TestDerivedAllTypes(t *testing.T) {
	payload := vectors.Payload(t, "derived/event-all-types-bin.hex")
	ev := roundTrip(t, payload)
	want := allTypes()
	if ev.Name != "Demo::all_types" || len(ev.Args) != len(want) {
		t.Fatalf("event %s with %d args", ev.Name, len(ev.Args))
	}
	for i, w := range want {
		if w.Kind() == value.KindRecord { // a record is a vector on the wire
			w = value.Vector(w.Elems()...)
		}
		if !value.Equal(ev.Args[i], w) {
			t.Errorf("arg %d = %v, want %v", i, ev.Args[i], w)
		}
	}
	built := value.Event{Name: "Demo::all_types", Args: allTypes()}
	out, err := AppendEvent(nil, &built)
	if err != nil || !bytes.Equal(out, payload) {
		t.Fatalf("built event encodes to %x, %v; want %x", out, err, payload)
	}
}

// TestValueEncodings checks the bytes of each value of allTypes, one by
// one, and the length header of a 200-byte string.
func TestValueEncodings(t *testing.T) {
	rows := []string{
		"01 01", "02 00 00 00 00 00 00 00 2a", "03 ff ff ff ff ff ff ff f9",
		"04 3f f8 00 00 00 00 00 00", "05 02 61 62",
		"06 00 00 00 00 00 00 00 00 00 00 ff ff c0 a8 01 0a",
		"06 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01",
		"07 00 00 00 00 00 00 00 00 00 00 ff ff 0a 00 00 00 68",
		"07 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 00 20",
		"08 01 bb 01", "08 00 35 02", "08 00 08 03",
		"09 17 97 9c fe 53 f7 65 00", "0a ff ff ff ff a6 97 d1 00",
		"0b 09 43 6f 6e 6e 3a 3a 4c 4f 47",
		"0c 02 02 00 00 00 00 00 00 00 01 02 00 00 00 00 00 00 00 02",
		"0d 01 05 01 61 02 00 00 00 00 00 00 00 01",
		"0d 01 0e 02 05 01 61 02 00 00 00 00 00 00 00 01 01 01",
		"0e 01 05 01 78",
		"0e 02 02 00 00 00 00 00 00 00 01 00",
	}
	for i, v := range allTypes() {
		got, err := AppendValue(nil, v)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if want := unhex(t, rows[i]); !bytes.Equal(got, want) {
			t.Errorf("row %d (%v): got % x, want % x", i, v, got, want)
		}
	}
	long := strings.Repeat("z", 200)
	got, err := AppendValue(nil, value.String(long))
	if err != nil || !bytes.Equal(got[:3], []byte{0x05, 0xc8, 0x01}) {
		t.Fatalf("200-byte string header = % x, %v", got[:3], err)
	}
	back, err := DecodeValue(got)
	if err != nil || back.Str() != long {
		t.Fatalf("200-byte string decodes to %d bytes, %v", len(back.Str()), err)
	}
}

// TestCapturedTestEvent checks test_event as a real Zeek sent it, argument
// by argument, including the order of its set {x, y} and table
// {one=1, two=2}.
func TestCapturedTestEvent(t *testing.T) {
	frames := vectors.Load(t, "captured/zeek-event-test_event.hex")
	ev := roundTrip(t, frames[3])
	if ev.Name != "test_event" || len(ev.Metadata) != 0 {
		t.Fatalf("event %q, metadata %v", ev.Name, ev.Metadata)
	}
	want := []value.Value{
		value.String("hello"),
		value.Count(42),
		value.Int(-7),
		value.Real(3.25),
		value.Bool(true),
		value.Addr(netip.MustParseAddr("192.168.1.2")),
		value.Addr(netip.MustParseAddr("2001:db8::1")),
		value.Subnet(netip.MustParsePrefix("10.0.0.0/8")),
		value.PortOf(443, value.ProtoTCP),
		value.Time(1700000000500000000),
		value.Interval(90 * time.Second),
		value.Vector(value.Count(1), value.Count(2), value.Count(3)),
		value.Set(value.String("x"), value.String("y")),
		value.Table(
			value.Entry{Key: value.String("one"), Value: value.Count(1)},
			value.Entry{Key: value.String("two"), Value: value.Count(2)}),
		value.Vector(value.String("rec"), value.Count(5), value.Vector(value.String("a"), value.String("b")), value.None()),
		value.Enum("udp"),
	}
	if len(ev.Args) != len(want) {
		t.Fatalf("%d args, want %d", len(ev.Args), len(want))
	}
	for i, w := range want {
		if !value.Equal(ev.Args[i], w) {
			t.Errorf("arg %d = %v, want %v", i, ev.Args[i], w)
		}
	}
	// Built in the opposite order, Sorted puts the set and table into the
	// order Zeek wrote them in, reproducing the captured bytes.
	rev := value.Event{Name: "test_event", Args: append([]value.Value(nil), want...)}
	rev.Args[12] = value.Set(value.String("y"), value.String("x"))
	rev.Args[13] = value.Table(
		value.Entry{Key: value.String("two"), Value: value.Count(2)},
		value.Entry{Key: value.String("one"), Value: value.Count(1)})
	out, err := AppendEvent(nil, &rev)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(out, frames[3]) {
		t.Fatal("unsorted set and table encode like sorted ones")
	}
	for i, a := range rev.Args {
		rev.Args[i] = value.Sorted(a)
	}
	if out, err = AppendEvent(nil, &rev); err != nil || !bytes.Equal(out, frames[3]) {
		t.Fatalf("sorted event encodes to %x, %v; want %x", out, err, frames[3])
	}
}

// TestCapturedEvents decodes and re-encodes every captured event, from the
// single-message files and from the handshake sequence.
func TestCapturedEvents(t *testing.T) {
	n := 0
	for _, path := range vectors.Glob(t, "captured/zeek-event-*.hex") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			frames := vectors.Frames(t, path)
			ev := roundTrip(t, frames[3])
			if strings.Contains(path, "hello") {
				args := stringArgs(t, ev)
				if len(args) != 2 || string(frames[1]) != args[1] {
					t.Fatalf("hello args %q, sender %q", args, frames[1])
				}
			}
		})
		n++
	}
	for _, m := range vectors.Handshake(t) {
		if m.Kind != "publications" {
			continue
		}
		if string(m.Frames[2]) != codec.FormatBrokerBin {
			t.Fatalf("message %d: format %q", m.Seq, m.Frames[2])
		}
		ev := roundTrip(t, m.Frames[3])
		if ev.Name == "" {
			t.Fatalf("message %d: empty event name", m.Seq)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d captured events", n)
	}
}

func TestMetadataShapes(t *testing.T) {
	head := "0e03 020000000000000001 020000000000000001"
	name := "0503 657674"             // "evt"
	args := "0e01 020000000000000007" // [7]
	cases := []struct {
		name    string
		content string
		meta    int
		ts      bool
		exact   bool
	}{
		{"two elements", "0e02" + name + args, 0, false, true},
		{"empty metadata", "0e03" + name + args + "0e00", 0, false, false},
		{"timestamp", "0e03" + name + args + "0e01 0e02 020000000000000001 090000000000000005", 1, true, true},
		{"user entry", "0e03" + name + args + "0e02 0e02 0200000000000000c8 0502 6869 0e02 020000000000000001 090000000000000005", 2, true, true},
		{"timestamp of wrong type", "0e03" + name + args + "0e01 0e02 020000000000000001 020000000000000005", 1, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload := unhex(t, head+c.content)
			ev, err := DecodeEvent(payload)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Name != "evt" || len(ev.Args) != 1 || ev.Args[0].Count() != 7 || len(ev.Metadata) != c.meta {
				t.Fatalf("event = %+v", ev)
			}
			if ns, ok := ev.NetworkTimestamp(); ok != c.ts || (ok && ns != 5) {
				t.Fatalf("network timestamp = %d, %v", ns, ok)
			}
			out, err := AppendEvent(nil, &ev)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(out, payload) != c.exact {
				t.Fatalf("re-encoded %x from %x; exact = %v", out, payload, c.exact)
			}
		})
	}
}

func TestReals(t *testing.T) {
	cases := []struct {
		f    float64
		wire uint64
	}{
		{1.5, 0x3ff8000000000000},
		{0, 0},
		{math.Copysign(0, -1), 0x8000000000000000},
		{math.Inf(1), 0xfff0000000000000},
		{math.Inf(-1), 0x7ff0000000000000},
		{math.NaN(), 0xffffffffffffffff},
		{math.MaxFloat64, math.Float64bits(math.MaxFloat64)},
		{-2.5e-300, math.Float64bits(-2.5e-300)},
	}
	for _, c := range cases {
		if got := packReal(c.f); got != c.wire {
			t.Errorf("pack %g = %016x, want %016x", c.f, got, c.wire)
		}
		back := unpackReal(c.wire)
		if math.Float64bits(back) != math.Float64bits(c.f) && !(math.IsNaN(back) && math.IsNaN(c.f)) {
			t.Errorf("unpack %016x = %g, want %g", c.wire, back, c.f)
		}
	}
	// IEEE NaN and infinities are not CAF's patterns: they read as the
	// infinity of their sign bit, as in Zeek.
	for wire, want := range map[uint64]float64{
		0x7ff8000000000000: math.Inf(1),  // IEEE quiet NaN
		0x7ff0000000000001: math.Inf(1),  // IEEE signalling NaN
		0xfff8000000000000: math.Inf(-1), // negative IEEE NaN
	} {
		if got := unpackReal(wire); got != want {
			t.Errorf("unpack %016x = %g, want %g", wire, got, want)
		}
	}
	// The fast paths agree with a literal port of CAF's algorithms.
	g := valuetest.New(7)
	g.Subnormals = true
	for range 20000 {
		f := g.Real()
		if got, want := packReal(f), cafPack(f); got != want {
			t.Fatalf("pack %g (%016x) = %016x, CAF %016x", f, math.Float64bits(f), got, want)
		}
		u := g.R.Uint64()
		got, want := unpackReal(u), cafUnpack(u)
		if math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("unpack %016x = %g, CAF %g", u, got, want)
		}
	}
	for _, f := range []float64{5e-324, -5e-324, 1e-310, 2.225073858507201e-308} {
		if got, want := packReal(f), cafPack(f); got != want {
			t.Errorf("pack subnormal %g = %016x, CAF %016x", f, got, want)
		}
	}
}

// cafPack and cafUnpack are literal ports of CAF's pack754 and unpack754
// for double.
func cafPack(f float64) uint64 {
	if math.IsNaN(f) {
		return 0xffffffffffffffff
	}
	if math.IsInf(f, 0) {
		if math.Signbit(f) {
			return 0x7ff0000000000000
		}
		return 0xfff0000000000000
	}
	if math.Abs(f) <= 0 {
		if math.Signbit(f) {
			return 0x8000000000000000
		}
		return 0
	}
	var sign uint64
	fnorm := f
	if f < 0 {
		sign, fnorm = 1, -f
	}
	var shift uint64
	for fnorm >= 2 {
		fnorm /= 2
		shift++
	}
	for fnorm < 1 {
		fnorm *= 2
		shift--
	}
	fnorm--
	significand := uint64(fnorm * (float64(uint64(1)<<52) + 0.5))
	exp := shift + 1023
	return sign<<63 | exp<<52 | significand
}

func cafUnpack(i uint64) float64 {
	switch i {
	case 0:
		return 0
	case 0x8000000000000000:
		return math.Copysign(0, -1)
	case 0xfff0000000000000:
		return math.Inf(1)
	case 0x7ff0000000000000:
		return math.Inf(-1)
	case 0xffffffffffffffff:
		return math.NaN()
	}
	result := float64(i & (1<<52 - 1))
	result /= float64(uint64(1) << 52)
	result++
	shift := (int64(i)>>52)&2047 - 1023
	for ; shift > 0; shift-- {
		result *= 2
	}
	for ; shift < 0; shift++ {
		result /= 2
	}
	if i>>63 == 1 {
		result *= -1
	}
	return result
}

func TestSubnets(t *testing.T) {
	for _, c := range []struct{ prefix, wire string }{
		{"10.0.0.0/8", "07 00000000000000000000ffff0a000000 68"},
		{"192.168.1.0/24", "07 00000000000000000000ffffc0a80100 78"},
		{"0.0.0.0/0", "07 00000000000000000000ffff00000000 60"},
		{"1.2.3.4/32", "07 00000000000000000000ffff01020304 80"},
		{"2001:db8::/32", "07 20010db8000000000000000000000000 20"},
		{"::/0", "07 00000000000000000000000000000000 00"},
	} {
		v := value.Subnet(netip.MustParsePrefix(c.prefix))
		got, err := AppendValue(nil, v)
		if err != nil || !bytes.Equal(got, unhex(t, c.wire)) {
			t.Errorf("%s encodes to % x, %v", c.prefix, got, err)
		}
		back, err := DecodeValue(got)
		if err != nil || back.Subnet().String() != c.prefix {
			t.Errorf("%s decodes to %v, %v", c.prefix, back, err)
		}
	}
	// Host bits are masked, as Broker does.
	v, err := DecodeValue(unhex(t, "07 00000000000000000000ffff0a010203 68"))
	if err != nil || v.Subnet().String() != "10.0.0.0/8" {
		t.Fatalf("unmasked subnet decodes to %v, %v", v, err)
	}
}

func TestMalformed(t *testing.T) {
	hello := vectors.Payload(t, "derived/event-zmq-hello.hex")
	cases := []struct {
		name, hex, want string
	}{
		{"empty", "", "offset 0: want 1 bytes of event vector tag"},
		{"not a vector", "05 00", "offset 0: want event vector tag 0x0e, have 0x05 (string)"},
		{"outer size", "0e 02", "offset 0: want event vector of 3 elements, have 2"},
		{"version", "0e03 020000000000000002", "offset 2: want protocol version 1, have 2"},
		{"message type", "0e03 020000000000000001 020000000000000003", "offset 11: want message type 1 (event), have 3"},
		{"version tag", "0e03 030000000000000001", "offset 2: want protocol version count tag 0x02, have 0x03 (integer)"},
		{"content size", "0e03 020000000000000001 020000000000000001 0e04", "offset 20: want event content vector of 2 or 3 elements, have 4"},
		{"name tag", "0e03 020000000000000001 020000000000000001 0e02 0b00", "offset 22: want event name string tag 0x05, have 0x0b (enum_value)"},
		{"trailing", hex.EncodeToString(hello) + "00", "offset 98: want end of payload, have 1 trailing bytes"},
		{"truncated string", "0505 6162", "offset 2: want 5 bytes of string, have 2"},
		{"varbyte 6 bytes", "05 8080808080 00", "offset 1: varbyte string length longer than 5 bytes"},
		{"varbyte over 2^32", "05 ffffffff7f", "offset 1: varbyte string length 34359738367 exceeds 2^32-1"},
		{"unknown tag", "0f", "offset 0: want a type tag 0x00 to 0x0e, have 0x0f"},
		{"port protocol", "08 0050 04", "offset 3: want port protocol 0 to 3, have 4"},
		{"subnet length", "07 00000000000000000000000000000000 81", "offset 17: want subnet length of at most 128, have 129"},
		{"duplicate set element", "0c03 0501 61 0501 62 0501 61", "offset 8: set element 2 duplicates set element 0"},
		{"duplicate zero reals", "0c02 040000000000000000 048000000000000000", "offset 11: set element 1 duplicates set element 0"},
		{"duplicate table key", "0d02 0501 61 0100 0501 61 0101", "offset 7: table entry 1 duplicates table entry 0"},
		{"huge vector", "0e ffffffff0f 00", "offset 6: vector element count 4294967295 cannot fit in the remaining 1 bytes"},
		{"huge table", "0d 02 00 00 00", "offset 2: table entry count 2 cannot fit in the remaining 3 bytes"},
		{"huge event args", "0e03 020000000000000001 020000000000000001 0e02 0500 0e ffffffff0f", "offset 30: argument count 4294967295 cannot fit in the remaining 0 bytes"},
		{"metadata entry shape", "0e03 020000000000000001 020000000000000001 0e03 0500 0e00 0e01 0e03 020000000000000001 00 00 00 00", "offset 28: want metadata entry vector of 2 elements, have 3"},
		{"huge metadata", "0e03 020000000000000001 020000000000000001 0e03 0500 0e00 0e ffffffff0f", "offset 26: metadata vector of 4294967295 entries cannot fit in 0 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := unhex(t, c.hex)
			var err error
			if strings.HasPrefix(c.hex, "0e03") || c.hex == "" || strings.HasPrefix(c.hex, "05 00") || strings.HasPrefix(c.hex, "0e 02") {
				_, err = DecodeEvent(data)
			} else {
				_, err = DecodeValue(data)
			}
			if err == nil {
				t.Fatalf("decoded % x without error", data)
			}
			var de *codec.DecodeError
			if !errors.As(err, &de) || de.Codec != "brokerbin" {
				t.Fatalf("error %v is no brokerbin DecodeError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestHugeCountsAllocateLittle feeds element counts of 2³²-1 with no
// elements behind them; decoding must fail without allocating for them.
func TestHugeCountsAllocateLittle(t *testing.T) {
	for _, h := range []string{"0e ffffffff0f", "0c ffffffff0f 00", "0d ffffffff0f 0000", "05 ffffffff0f 61"} {
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
	deep := bytes.Repeat([]byte{tagVector, 1}, MaxDepth+1)
	deep = append(deep, tagNone)
	if _, err := DecodeValue(deep); err == nil || !strings.Contains(err.Error(), "nested deeper than 128") {
		t.Fatalf("error = %v", err)
	}
	ok := append(bytes.Repeat([]byte{tagVector, 1}, MaxDepth), tagNone)
	v, err := DecodeValue(ok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AppendValue(nil, v); err != nil {
		t.Fatal(err)
	}
	if _, err := AppendValue(nil, value.Vector(v)); err == nil {
		t.Fatal("encoded a value nested too deeply")
	}
}

// TestTruncations decodes every proper prefix of every vector: each must
// fail cleanly.
func TestTruncations(t *testing.T) {
	for _, rel := range []string{"derived/event-all-types-bin.hex", "captured/zeek-event-test_event.hex", "derived/event-cluster-hello-meta.hex"} {
		payload := vectors.Payload(t, rel)
		for n := range len(payload) {
			if _, err := DecodeEvent(payload[:n]); err == nil {
				t.Fatalf("%s: prefix of %d bytes decoded", rel, n)
			}
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	cases := []struct {
		v    value.Value
		want string
	}{
		{value.Set(value.Count(1), value.Count(1)), "set element 1 duplicates element 0"},
		{value.Set(value.Real(0), value.Real(math.Copysign(0, -1))), "set element 1 duplicates element 0"},
		{value.Table(value.Entry{Key: value.String("b")}, value.Entry{Key: value.String("a")}, value.Entry{Key: value.String("b")}), "table key 2 duplicates key 0"},
		{value.Vector(value.Set(value.Int(3), value.Int(3))), "vector element 0: set element 1 duplicates element 0"},
		{value.TimeSeconds(1e300), "does not fit in int64 nanoseconds"},
		{value.IntervalSeconds(math.NaN()), "does not fit in int64 nanoseconds"},
	}
	for _, c := range cases {
		_, err := AppendValue(nil, c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.v, err, c.want)
		}
	}
	ev := value.Event{Name: "e", Args: []value.Value{value.Count(1), c0()}}
	if _, err := AppendEvent(nil, &ev); err == nil || !strings.Contains(err.Error(), "event e argument 1") {
		t.Errorf("event error = %v", err)
	}
}

func c0() value.Value { return value.Set(value.Count(0), value.Count(0)) }

// TestSecondsForm encodes times and intervals held as float seconds (as
// decoded from a log batch) the way Zeek converts them: truncated to
// nanoseconds.
func TestSecondsForm(t *testing.T) {
	got, err := AppendValue(nil, value.TimeSeconds(1700000000.5))
	if err != nil || !bytes.Equal(got, unhex(t, "09 17979cfe53f76500")) {
		t.Fatalf("time = % x, %v", got, err)
	}
	got, err = AppendValue(nil, value.IntervalSeconds(-1.5))
	if err != nil || !bytes.Equal(got, unhex(t, "0a ffffffffa697d100")) {
		t.Fatalf("interval = % x, %v", got, err)
	}
}

func TestRoundTripGenerated(t *testing.T) {
	g := valuetest.New(1)
	for i := range 3000 {
		ev := g.Event()
		payload, err := AppendEvent(nil, &ev)
		if err != nil {
			t.Fatalf("event %d: encode: %v", i, err)
		}
		back, err := DecodeEvent(payload)
		if err != nil {
			t.Fatalf("event %d: decode: %v\n% x", i, err, payload)
		}
		if back.Name != ev.Name || len(back.Args) != len(ev.Args) || len(back.Metadata) != len(ev.Metadata) {
			t.Fatalf("event %d: decoded %+v, want %+v", i, back, ev)
		}
		for j := range ev.Args {
			if !value.Equal(back.Args[j], ev.Args[j]) {
				t.Fatalf("event %d arg %d: decoded %v, want %v", i, j, back.Args[j], ev.Args[j])
			}
		}
		for j := range ev.Metadata {
			if back.Metadata[j].ID != ev.Metadata[j].ID || !value.Equal(back.Metadata[j].Value, ev.Metadata[j].Value) {
				t.Fatalf("event %d metadata %d: decoded %v, want %v", i, j, back.Metadata[j], ev.Metadata[j])
			}
		}
		again, err := AppendEvent(nil, &back)
		if err != nil || !bytes.Equal(again, payload) {
			t.Fatalf("event %d: re-encoding differs (%v)", i, err)
		}
	}
}

// TestDecodedIsIndependent checks that a decoded event does not share
// memory with the payload.
func TestDecodedIsIndependent(t *testing.T) {
	payload := bytes.Clone(vectors.Payload(t, "derived/event-zmq-hello.hex"))
	ev, err := DecodeEvent(payload)
	if err != nil {
		t.Fatal(err)
	}
	for i := range payload {
		payload[i] = 'X'
	}
	if ev.Name != "Cluster::Backend::ZeroMQ::hello" || ev.Args[0].Str() != "manager" {
		t.Fatalf("decoded event changed with its payload: %v", ev)
	}
}

func TestCodecInterface(t *testing.T) {
	var c codec.EventCodec = Codec{}
	if c.Format() != "broker-bin-v1" {
		t.Fatal(c.Format())
	}
	payload := vectors.Payload(t, "derived/event-zmq-hello.hex")
	ev, err := c.DecodeEvent(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.AppendEvent([]byte("prefix"), &ev)
	if err != nil || !bytes.Equal(out, append([]byte("prefix"), payload...)) {
		t.Fatalf("append = %q, %v", out, err)
	}
}
