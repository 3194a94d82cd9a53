package value_test

import (
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/value/valuetest"
)

func TestScalars(t *testing.T) {
	if v := value.None(); !v.IsNone() || v.Kind() != value.KindNone || (value.Value{}).Kind() != value.KindNone {
		t.Fatal("none")
	}
	if v := value.Bool(true); !v.Bool() || v.Kind() != value.KindBool || value.Bool(false).Bool() {
		t.Fatal("bool")
	}
	if v := value.Count(math.MaxUint64); v.Count() != math.MaxUint64 || v.Int() != 0 {
		t.Fatal("count")
	}
	if v := value.Int(math.MinInt64); v.Int() != math.MinInt64 || v.Count() != 0 {
		t.Fatal("int")
	}
	if v := value.Real(-2.5); v.Real() != -2.5 || v.Kind() != value.KindReal {
		t.Fatal("real")
	}
	if v := value.String("\xff\x00"); v.Str() != "\xff\x00" || v.Kind() != value.KindString {
		t.Fatal("string")
	}
	b := []byte("abc")
	v := value.Bytes(b)
	b[0] = 'X'
	if v.Str() != "abc" {
		t.Fatal("Bytes shares its argument")
	}
	if v := value.Enum("Conn::LOG"); v.Str() != "Conn::LOG" || v.Kind() != value.KindEnum {
		t.Fatal("enum")
	}
	if p := value.PortOf(443, value.ProtoTCP).Port(); p != (value.Port{Num: 443, Proto: value.ProtoTCP}) || p.String() != "443/tcp" {
		t.Fatalf("port %v", p)
	}
	// Accessors of the wrong kind return zero values.
	c := value.Count(7)
	if c.Bool() || c.Real() != 0 || c.Str() != "" || c.Addr().IsValid() || c.Subnet().IsValid() ||
		c.Port() != (value.Port{}) || c.Nanos() != 0 || c.Seconds() != 0 || !c.Time().IsZero() ||
		c.Interval() != 0 || c.Len() != 0 || c.Elems() != nil || c.Pairs() != nil || c.Bits() != 0 || c.Is4() {
		t.Fatal("wrong-kind accessors")
	}
}

func TestAddresses(t *testing.T) {
	cases := []struct {
		in   string
		want string
		is4  bool
	}{
		{"192.168.1.2", "192.168.1.2", true},
		{"::ffff:192.168.1.2", "192.168.1.2", true},
		{"2001:db8::1", "2001:db8::1", false},
		{"fe80::1%eth0", "fe80::1", false},
		{"::", "::", false},
	}
	for _, c := range cases {
		v := value.Addr(netip.MustParseAddr(c.in))
		if v.Addr().String() != c.want || v.Is4() != c.is4 {
			t.Errorf("%s: %v is4=%v", c.in, v.Addr(), v.Is4())
		}
		if back := value.AddrFrom16(v.As16()); !value.Equal(back, v) {
			t.Errorf("%s: AddrFrom16(As16) = %v", c.in, back)
		}
	}
	if v := value.Addr(netip.Addr{}); v.Addr().String() != "::" {
		t.Fatalf("zero addr = %v", v.Addr())
	}
	b := value.Addr(netip.MustParseAddr("10.1.2.3")).As16()
	if netip.AddrFrom16(b).String() != "::ffff:10.1.2.3" {
		t.Fatalf("As16 = %x", b)
	}
}

func TestSubnets(t *testing.T) {
	cases := []struct {
		in, want string
		bits     int
		wire     uint8
	}{
		{"10.1.2.3/8", "10.0.0.0/8", 8, 104},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", 8, 104},
		{"2001:db8::1/32", "2001:db8::/32", 32, 32},
		{"0.0.0.0/0", "0.0.0.0/0", 0, 96},
		{"::ffff:0.0.0.0/80", "::/80", 80, 80},
	}
	for _, c := range cases {
		v := value.Subnet(netip.MustParsePrefix(c.in))
		if v.Subnet().String() != c.want || v.Bits() != c.bits || v.WireBits() != c.wire {
			t.Errorf("%s: %v bits %d wire %d", c.in, v.Subnet(), v.Bits(), v.WireBits())
		}
		back, err := value.SubnetFrom16(v.As16(), v.WireBits())
		if err != nil || !value.Equal(back, v) {
			t.Errorf("%s: SubnetFrom16 = %v, %v", c.in, back, err)
		}
	}
	if _, err := value.SubnetFrom16([16]byte{}, 129); err == nil {
		t.Fatal("length 129 accepted")
	}
	if v := value.Subnet(netip.Prefix{}); v.Subnet().String() != "::/0" {
		t.Fatalf("zero prefix = %v", v.Subnet())
	}
}

func TestTimes(t *testing.T) {
	v := value.Time(1700000000500000000)
	if v.Seconds() != 1700000000.5 || v.Nanos() != 1700000000500000000 || v.SecondsForm() ||
		!v.Time().Equal(time.Unix(1700000000, 5e8)) {
		t.Fatalf("time %v", v)
	}
	if v := value.TimeOf(time.Unix(5, 6)); v.Nanos() != 5000000006 {
		t.Fatalf("TimeOf = %d", v.Nanos())
	}
	s := value.TimeSeconds(1700000000.25)
	if !s.SecondsForm() || s.Seconds() != 1700000000.25 || s.Nanos() != 1700000000249999872 {
		t.Fatalf("seconds form %v: %d", s, s.Nanos())
	}
	iv := value.Interval(-1500 * time.Millisecond)
	if iv.Interval() != -1500*time.Millisecond || iv.Seconds() != -1.5 {
		t.Fatalf("interval %v", iv)
	}
	if is := value.IntervalSeconds(2.5); is.Interval() != 2500*time.Millisecond || !is.SecondsForm() {
		t.Fatalf("interval seconds %v", is)
	}
	for f, want := range map[float64]int64{1e300: math.MaxInt64, -1e300: math.MinInt64, math.NaN(): 0} {
		if got := value.TimeSeconds(f).Nanos(); got != want {
			t.Errorf("Nanos of %g seconds = %d, want %d", f, got, want)
		}
		if _, ok := value.SecondsToNanos(f); ok {
			t.Errorf("SecondsToNanos(%g) ok", f)
		}
	}
	if ns, ok := value.SecondsToNanos(-1.5); !ok || ns != -1500000000 {
		t.Fatalf("SecondsToNanos(-1.5) = %d, %v", ns, ok)
	}
	if value.NanosToSeconds(2500000000) != 2.5 {
		t.Fatal("NanosToSeconds")
	}
}

func TestContainers(t *testing.T) {
	set := value.Set(value.Count(1), value.Count(2))
	if set.Len() != 2 || set.Elems()[1].Count() != 2 {
		t.Fatal("set")
	}
	tab := value.Table(value.Entry{Key: value.String("a"), Value: value.Count(1)}, value.Entry{Key: value.String("b")})
	if tab.Len() != 2 || tab.Entry(1).Key.Str() != "b" || !tab.Entry(1).Value.IsNone() || len(tab.Pairs()) != 4 {
		t.Fatal("table")
	}
	if _, err := value.TableFromPairs(make([]value.Value, 3)); err == nil {
		t.Fatal("odd pairs accepted")
	}
	rec := value.Record(value.RecordField{Name: "a", Value: value.Count(1)}, value.RecordField{Name: "b"})
	if rec.Len() != 2 || rec.FieldName(1) != "b" || len(rec.Elems()) != 2 || rec.Elems()[0].Count() != 1 {
		t.Fatal("record")
	}
	if v, ok := rec.Field("b"); !ok || !v.IsNone() {
		t.Fatal("unset field")
	}
	if _, ok := rec.Field("c"); ok {
		t.Fatal("missing field found")
	}
	if got := rec.String(); got != "[a=1, b=none]" {
		t.Fatalf("record string %s", got)
	}
}

func TestCompare(t *testing.T) {
	// One value of every kind, in Broker's order.
	ordered := []value.Value{
		value.None(), value.Bool(false), value.Count(0), value.Int(-1), value.Real(-1),
		value.String(""), value.Addr(netip.MustParseAddr("1.2.3.4")), value.Subnet(netip.MustParsePrefix("::/0")),
		value.PortOf(1, value.ProtoTCP), value.Time(0), value.Interval(0), value.Enum("a"),
		value.Set(), value.Table(), value.Vector(),
	}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := value.Compare(ordered[i], ordered[j]); got != want {
				t.Errorf("Compare(%v, %v) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	pairs := [][2]value.Value{ // first < second
		{value.Int(-5), value.Int(3)},
		{value.Count(3), value.Count(math.MaxUint64)},
		{value.Real(math.Inf(-1)), value.Real(-1)},
		{value.Real(math.Inf(1)), value.Real(math.NaN())},
		{value.String("a"), value.String("ab")},
		{value.String("b"), value.String("\xff")},
		{value.Addr(netip.MustParseAddr("255.255.255.255")), value.Addr(netip.MustParseAddr("2001::"))},
		{value.Addr(netip.MustParseAddr("::1")), value.Addr(netip.MustParseAddr("1.2.3.4"))},
		{value.Subnet(netip.MustParsePrefix("10.0.0.0/8")), value.Subnet(netip.MustParsePrefix("10.0.0.0/16"))},
		{value.PortOf(80, value.ProtoUDP), value.PortOf(81, value.ProtoTCP)},
		{value.PortOf(80, value.ProtoTCP), value.PortOf(80, value.ProtoUDP)},
		{value.Time(-1), value.TimeSeconds(0)},
		{value.Vector(value.Count(1)), value.Vector(value.Count(1), value.None())},
		{value.Vector(value.Count(1)), value.Vector(value.Count(2))},
		{value.Table(value.Entry{Key: value.Count(1), Value: value.Count(1)}), value.Table(value.Entry{Key: value.Count(1), Value: value.Count(2)})},
	}
	for _, p := range pairs {
		if value.Compare(p[0], p[1]) != -1 || value.Compare(p[1], p[0]) != 1 {
			t.Errorf("want %v < %v", p[0], p[1])
		}
	}
	equal := [][2]value.Value{
		{value.Real(0), value.Real(math.Copysign(0, -1))},
		{value.Real(math.NaN()), value.Real(-math.NaN())},
		{value.Time(1500000000), value.TimeSeconds(1.5)},
		{value.Record(value.RecordField{Name: "x", Value: value.Count(1)}), value.Vector(value.Count(1))},
	}
	for _, p := range equal {
		if value.Compare(p[0], p[1]) != 0 {
			t.Errorf("want %v == %v", p[0], p[1])
		}
		if value.Equal(p[0], p[1]) {
			t.Errorf("Equal(%v, %v) though their representations differ", p[0], p[1])
		}
	}
}

func TestSortedAndDuplicates(t *testing.T) {
	inner := value.Set(value.String("y"), value.String("x"))
	elems := []value.Value{value.Count(3), inner, value.Count(1)}
	set := value.Set(elems...)
	sorted := value.Sorted(set)
	if got := sorted.String(); got != `{1, 3, {"x", "y"}}` {
		t.Fatalf("sorted = %s", got)
	}
	if got := set.String(); got != `{3, {"y", "x"}, 1}` {
		t.Fatalf("Sorted modified its argument: %s", got)
	}
	tab := value.Table(
		value.Entry{Key: value.String("two"), Value: value.Set(value.Int(2), value.Int(1))},
		value.Entry{Key: value.String("one"), Value: value.Count(1)})
	if got := value.Sorted(tab).String(); got != `{["one"] = 1, ["two"] = {1, 2}}` {
		t.Fatalf("sorted table = %s", got)
	}
	already := value.Vector(value.Count(1), value.Set(value.Count(1), value.Count(2)))
	if s := value.Sorted(already); &s.Elems()[0] != &already.Elems()[0] {
		t.Fatal("Sorted copied a sorted value")
	}
	for _, c := range []struct {
		v    value.Value
		i, j int
		dup  bool
	}{
		{value.Set(value.Count(1), value.Count(2), value.Count(3)), 0, 0, false},
		{value.Set(value.Count(1), value.Count(1)), 0, 1, true},
		{value.Set(value.Count(3), value.Count(1), value.Count(2), value.Count(1)), 1, 3, true},
		{value.Set(value.Count(3), value.Count(1), value.Count(2)), 0, 0, false},
		{value.Table(value.Entry{Key: value.Count(2)}, value.Entry{Key: value.Count(1)}, value.Entry{Key: value.Count(2), Value: value.Count(9)}), 0, 2, true},
		{value.Vector(value.Count(1), value.Count(1)), 0, 0, false},
	} {
		i, j, dup := value.FindDuplicate(c.v)
		if dup != c.dup || (dup && (i != c.i || j != c.j)) {
			t.Errorf("FindDuplicate(%v) = %d, %d, %v", c.v, i, j, dup)
		}
	}
}

// TestSortedIsBrokerOrder checks on generated sets that Sorted agrees with
// Compare and is idempotent.
func TestSortedIsBrokerOrder(t *testing.T) {
	g := valuetest.New(11)
	for range 2000 {
		v := value.Sorted(g.OfKind(value.KindSet, 0))
		e := v.Elems()
		for i := 1; i < len(e); i++ {
			if value.Compare(e[i-1], e[i]) >= 0 {
				t.Fatalf("not in order: %v", v)
			}
		}
		if !value.Equal(value.Sorted(v), v) {
			t.Fatalf("Sorted is not idempotent on %v", v)
		}
	}
}

func TestEventTimestamp(t *testing.T) {
	var ev value.Event
	if _, ok := ev.NetworkTimestamp(); ok {
		t.Fatal("timestamp without metadata")
	}
	ev.Metadata = []value.Metadata{{ID: 200, Value: value.Count(1)}}
	ev.SetNetworkTimestamp(5)
	ev.SetNetworkTimestamp(7)
	if ns, ok := ev.NetworkTimestamp(); !ok || ns != 7 || len(ev.Metadata) != 2 {
		t.Fatalf("timestamp %d %v, metadata %v", ns, ok, ev.Metadata)
	}
	ev.Metadata[1].Value = value.Count(3)
	if _, ok := ev.NetworkTimestamp(); ok {
		t.Fatal("a count taken for a timestamp")
	}
}

func TestLogBatchValidate(t *testing.T) {
	fields := []value.Field{
		{Name: "ts", Type: value.Type{Tag: value.TypeTime}},
		{Name: "tags", Type: value.Type{Tag: value.TypeTable, Sub: value.TypeString}, Optional: true},
		{Name: "f", Type: value.Type{Tag: value.TypeFile}},
	}
	good := value.LogBatch{Fields: fields, Records: [][]value.Value{
		{value.TimeSeconds(1), value.Set(value.String("a")), value.String("x")},
		{value.Time(1), value.None(), value.None()},
	}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := good.Record(0).String(); got != `[ts=1, tags={"a"}, f="x"]` {
		t.Fatalf("record 0 = %s", got)
	}
	cases := []struct {
		b    value.LogBatch
		want string
	}{
		{value.LogBatch{Fields: fields, Records: [][]value.Value{{value.Time(1)}}}, "record 0: has 1 values, want 3"},
		{value.LogBatch{Fields: fields, Records: [][]value.Value{{value.Count(1), value.None(), value.None()}}}, `record 0 field 0 ("ts"): want time for type time, have count`},
		{value.LogBatch{Fields: fields, Records: [][]value.Value{{value.Time(1), value.Set(value.Count(1)), value.None()}}}, `field 1 ("tags"): element 0: want string for type string, have count`},
		{value.LogBatch{Fields: []value.Field{{Name: "p", Type: value.Type{Tag: value.TypePattern}}}}, `field 0 ("p"): type pattern cannot be logged`},
		{value.LogBatch{Fields: []value.Field{{Name: "v", Type: value.Type{Tag: value.TypeVector, Sub: value.TypeVector}}}}, "element type vector cannot be logged"},
	}
	for _, c := range cases {
		if err := c.b.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

func TestTypeNames(t *testing.T) {
	for tag := value.TypeVoid; tag <= value.TypeError; tag++ {
		back, err := value.ParseTypeTag(tag.String())
		if err != nil || back != tag {
			t.Errorf("%d: %s → %d, %v", tag, tag, back, err)
		}
	}
	if value.TypeTag(99).String() != "99" {
		t.Fatal(value.TypeTag(99).String())
	}
	if _, err := value.ParseTypeTag("float"); err == nil {
		t.Fatal("unknown type accepted")
	}
	if s := (value.Type{Tag: value.TypeVector, Sub: value.TypeAddr}).String(); s != "vector of addr" {
		t.Fatal(s)
	}
	for k := value.KindNone; k <= value.KindRecord; k++ {
		if back, err := value.ParseKind(k.String()); err != nil || back != k {
			t.Errorf("kind %d: %s → %d, %v", k, k, back, err)
		}
	}
	if _, err := value.ParsePort("1/sctp"); err == nil {
		t.Fatal("unknown protocol accepted")
	}
	if p, err := value.ParsePort("0/unknown"); err != nil || p != (value.Port{}) {
		t.Fatal(p, err)
	}
}

func TestString(t *testing.T) {
	cases := map[string]value.Value{
		"T":                          value.Bool(true),
		"-7":                         value.Int(-7),
		"1.5":                        value.Real(1.5),
		`"a\n"`:                      value.String("a\n"),
		"Conn::LOG":                  value.Enum("Conn::LOG"),
		"10.0.0.0/8":                 value.Subnet(netip.MustParsePrefix("10.0.0.0/8")),
		"53/udp":                     value.PortOf(53, value.ProtoUDP),
		"2023-11-14T22:13:20.5Z":     value.Time(1700000000500000000),
		"1700000000.25":              value.TimeSeconds(1700000000.25),
		"1m30s":                      value.Interval(90 * time.Second),
		"2.5s":                       value.IntervalSeconds(2.5),
		`{[1] = "a"}`:                value.Table(value.Entry{Key: value.Count(1), Value: value.String("a")}),
		"[none, 0/unknown]":          value.Vector(value.None(), value.PortOf(0, value.ProtoUnknown)),
		"{2001:db8::1, 192.168.1.1}": value.Set(value.Addr(netip.MustParseAddr("2001:db8::1")), value.Addr(netip.MustParseAddr("192.168.1.1"))),
	}
	for want, v := range cases {
		if got := v.String(); got != want {
			t.Errorf("String() = %s, want %s", got, want)
		}
	}
}
