package zeekascii

import (
	"bytes"
	"errors"
	"math"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/value/valuetest"
	"github.com/zpipe/zpipe/internal/vectors"
)

func decode(t testing.TB, rel string) *value.LogBatch {
	t.Helper()
	b, err := zeeklog.Decode(vectors.Payload(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// renderFile renders the batches as one file, as Zeek's writer writes it:
// the header of the first batch, every record, the footer.
func renderFile(t *testing.T, rels ...string) []byte {
	t.Helper()
	open := time.Date(2026, 11, 22, 4, 26, 37, 0, time.UTC)
	var out []byte
	for i, rel := range rels {
		b := decode(t, rel)
		if i == 0 {
			out = AppendHeader(out, b, open)
		}
		var err error
		if out, err = AppendRecords(out, b); err != nil {
			t.Fatal(err)
		}
	}
	return AppendClose(out, open.Add(2*time.Second))
}

var timeLine = regexp.MustCompile(`(?m)^#(open|close)\t(.*)$`)

// maskTimes replaces the times of the #open and #close lines, after
// checking their form, so that files of different runs compare equal.
func maskTimes(t *testing.T, what string, b []byte) []byte {
	t.Helper()
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d$`)
	n := 0
	out := timeLine.ReplaceAllFunc(b, func(line []byte) []byte {
		n++
		m := timeLine.FindSubmatch(line)
		if !stamp.Match(m[2]) {
			t.Errorf("%s: malformed time line %q", what, line)
		}
		return []byte("#" + string(m[1]) + "\tTIME")
	})
	if n != 2 {
		t.Errorf("%s: %d #open/#close lines, want 2", what, n)
	}
	return out
}

func sameFile(t *testing.T, got []byte, wantRel string) {
	t.Helper()
	want, err := os.ReadFile(vectors.Path(t, wantRel))
	if err != nil {
		t.Fatal(err)
	}
	g, w := maskTimes(t, "rendered", got), maskTimes(t, wantRel, want)
	if bytes.Equal(g, w) {
		return
	}
	gl, wl := strings.SplitAfter(string(g), "\n"), strings.SplitAfter(string(w), "\n")
	for i := range max(len(gl), len(wl)) {
		var a, b string
		if i < len(gl) {
			a = gl[i]
		}
		if i < len(wl) {
			b = wl[i]
		}
		if a != b {
			t.Errorf("%s line %d:\n got %q\nwant %q", wantRel, i+1, a, b)
		}
	}
}

// TestZeekTSVLogs renders the captured batches and compares them with the
// files Zeek's own logger wrote for them, byte for byte but for the times
// of #open and #close.
func TestZeekTSVLogs(t *testing.T) {
	sameFile(t, renderFile(t, "captured/zeek-log-test.hex"), "captured/expected/tsv/test.log")
	sameFile(t, renderFile(t, "captured/zeek-log-test.hex"), "captured/expected/captured-batches-only/tsv/test.log")
	sameFile(t, renderFile(t, "captured/zeek-log-dns-8rec.hex"), "captured/expected/tsv/dns.log")
	sameFile(t, renderFile(t, "captured/zeek-log-conn-7rec.hex", "captured/zeek-log-conn-1rec-a.hex", "captured/zeek-log-conn-1rec-b.hex"),
		"captured/expected/captured-batches-only/tsv/conn.log")

	// In the full conn.log (header of 8 lines), the 7-record batch is
	// rows 1-7, 1rec-a row 8 and 1rec-b row 16.
	data, err := os.ReadFile(vectors.Path(t, "captured/expected/tsv/conn.log"))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.SplitAfter(string(data), "\n")
	rows := func(rel string) string {
		out, err := AppendRecords(nil, decode(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	for _, c := range []struct {
		rel      string
		from, to int
	}{{"captured/zeek-log-conn-7rec.hex", 8, 15}, {"captured/zeek-log-conn-1rec-a.hex", 15, 16}, {"captured/zeek-log-conn-1rec-b.hex", 23, 24}} {
		if got, want := rows(c.rel), strings.Join(all[c.from:c.to], ""); got != want {
			t.Errorf("%s:\n got %q\nwant %q", c.rel, got, want)
		}
	}
}

func TestHeader(t *testing.T) {
	b := &value.LogBatch{Path: "my path\x01é", Fields: []value.Field{
		{Name: "ts", Type: value.Type{Tag: value.TypeTime}},
		{Name: "id.orig_h", Type: value.Type{Tag: value.TypeAddr}},
		{Name: "tags", Type: value.Type{Tag: value.TypeTable, Sub: value.TypeString}},
		{Name: "sizes", Type: value.Type{Tag: value.TypeVector, Sub: value.TypeCount}},
		{Name: "d", Type: value.Type{Tag: value.TypeDouble}},
		{Name: "f", Type: value.Type{Tag: value.TypeFunc}},
	}}
	est := time.FixedZone("EST", -5*3600)
	open := time.Date(2026, 1, 2, 3, 4, 5, 999_000_000, time.UTC)
	got := string(AppendHeader(nil, b, open.In(est)))
	want := "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n" +
		"#path\tmy\\x20path\\x01\\xc3\\xa9\n#open\t2026-01-01-22-04-05\n" +
		"#fields\tts\tid.orig_h\ttags\tsizes\td\tf\n#types\ttime\taddr\tset[string]\tvector[count]\tdouble\tfunc\n"
	if got != want {
		t.Errorf("header:\n got %q\nwant %q", got, want)
	}
	if got := string(AppendClose([]byte("x"), open)); got != "x#close\t2026-01-02-03-04-05\n" {
		t.Errorf("close: %q", got)
	}
}

func TestTypeName(t *testing.T) {
	cases := []struct {
		typ  value.Type
		want string
	}{
		{value.Type{Tag: value.TypeBool}, "bool"}, {value.Type{Tag: value.TypeInt}, "int"},
		{value.Type{Tag: value.TypeCount}, "count"}, {value.Type{Tag: value.TypeDouble}, "double"},
		{value.Type{Tag: value.TypeTime}, "time"}, {value.Type{Tag: value.TypeInterval}, "interval"},
		{value.Type{Tag: value.TypeString}, "string"}, {value.Type{Tag: value.TypeEnum}, "enum"},
		{value.Type{Tag: value.TypePort}, "port"}, {value.Type{Tag: value.TypeAddr}, "addr"},
		{value.Type{Tag: value.TypeSubnet}, "subnet"}, {value.Type{Tag: value.TypeFile}, "file"},
		{value.Type{Tag: value.TypeTable, Sub: value.TypeAddr}, "set[addr]"},
		{value.Type{Tag: value.TypeVector, Sub: value.TypeInterval}, "vector[interval]"},
	}
	for _, c := range cases {
		if got := TypeName(value.Field{Type: c.typ}); got != c.want {
			t.Errorf("%v: %q, want %q", c.typ, got, c.want)
		}
	}
}

// render renders one value as the only column of a record, without the
// newline.
func render(t *testing.T, typ value.Type, v value.Value) string {
	t.Helper()
	out, err := AppendRecord(nil, []value.Field{{Name: "x", Type: typ}}, []value.Value{v})
	if err != nil {
		t.Fatalf("%v: %v", v, err)
	}
	if !bytes.HasSuffix(out, []byte("\n")) {
		t.Fatalf("no newline: %q", out)
	}
	return string(out[:len(out)-1])
}

var (
	tBool     = value.Type{Tag: value.TypeBool}
	tInt      = value.Type{Tag: value.TypeInt}
	tCount    = value.Type{Tag: value.TypeCount}
	tDouble   = value.Type{Tag: value.TypeDouble}
	tTime     = value.Type{Tag: value.TypeTime}
	tInterval = value.Type{Tag: value.TypeInterval}
	tString   = value.Type{Tag: value.TypeString}
	tEnum     = value.Type{Tag: value.TypeEnum}
	tPort     = value.Type{Tag: value.TypePort}
	tAddr     = value.Type{Tag: value.TypeAddr}
	tSubnet   = value.Type{Tag: value.TypeSubnet}
)

func TestScalars(t *testing.T) {
	cases := []struct {
		typ  value.Type
		v    value.Value
		want string
	}{
		{tBool, value.Bool(true), "T"}, {tBool, value.Bool(false), "F"},
		{tInt, value.Int(-1), "-1"}, {tInt, value.Int(math.MinInt64), "-9223372036854775808"},
		{tCount, value.Count(math.MaxUint64), "18446744073709551615"}, {tCount, value.Count(0), "0"},
		{tPort, value.PortOf(443, value.ProtoTCP), "443"}, {tPort, value.PortOf(8, value.ProtoICMP), "8"},
		{tPort, value.PortOf(0, value.ProtoUnknown), "0"},
		{tEnum, value.Enum("Notice::ACTION_LOG"), "Notice::ACTION_LOG"},
		{tAddr, value.Addr(netip.MustParseAddr("10.1.2.3")), "10.1.2.3"},
		{tAddr, value.Addr(netip.MustParseAddr("2001:db8::2")), "2001:db8::2"},
		{tAddr, value.Addr(netip.MustParseAddr("2001:0:4137:9e50:8000:f12a:b9c8:2815")), "2001:0:4137:9e50:8000:f12a:b9c8:2815"},
		{tAddr, value.Addr(netip.MustParseAddr("fe80::8000:ffff:ffff:fffd")), "fe80::8000:ffff:ffff:fffd"},
		{tAddr, value.Addr(netip.MustParseAddr("2001:db8:0:1:0:0:0:1")), "2001:db8:0:1::1"},
		{tAddr, value.Addr(netip.MustParseAddr("2001:db8:0:0:1:0:0:1")), "2001:db8::1:0:0:1"},
		{tAddr, value.Addr(netip.MustParseAddr("::")), "::"},
		{tAddr, value.Addr(netip.MustParseAddr("::1")), "::1"},
		{tAddr, value.Addr(netip.MustParseAddr("::1.2.3.4")), "::1.2.3.4"},
		{tAddr, value.Addr(netip.MustParseAddr("::ffff:1.2.3.4")), "1.2.3.4"}, // IPv4-mapped is IPv4 in Zeek
		{tSubnet, value.Subnet(netip.MustParsePrefix("192.168.0.0/16")), "192.168.0.0/16"},
		{tSubnet, value.Subnet(netip.MustParsePrefix("2001:db8::/32")), "2001:db8::/32"},
		{tSubnet, value.Subnet(netip.MustParsePrefix("0.0.0.0/0")), "0.0.0.0/0"},
		{tSubnet, value.Subnet(netip.MustParsePrefix("10.1.2.3/32")), "10.1.2.3/32"},
		{tSubnet, value.Subnet(netip.MustParsePrefix("::/0")), "::/0"},
	}
	for _, c := range cases {
		if got := render(t, c.typ, c.v); got != c.want {
			t.Errorf("%v: %q, want %q", c.v, got, c.want)
		}
	}
	// Unset values of any type.
	for _, typ := range []value.Type{tBool, tString, tTime, tAddr, {Tag: value.TypeTable, Sub: value.TypeString}} {
		if got := render(t, typ, value.None()); got != "-" {
			t.Errorf("unset %v: %q", typ, got)
		}
	}
}

// TestDoubles checks the values of Zeek's btest
// scripts.base.frameworks.logging.ascii-double against its baseline, and
// a few more.
func TestDoubles(t *testing.T) {
	dmax, dmin := 1.79e308, 2.23e-308
	const maxDigits = "178999999999999996376899522972626047077637637819240219954027593177370961667659291027329061638406108931437333529420935752785895444161234074984843178962619172326295244262722141766382622299223626438470088150218987997954747866198184686628013966119769261150988554952970462018533787926725176560021258785656871583744"
	cases := []struct {
		d    float64
		want string
	}{
		// The baseline, in the test's order.
		{2153226000.0, "2153226000.0"}, {2153226000.1, "2153226000.1"}, {2153226000.123456789, "2153226000.123457"},
		{1.0, "1.0"}, {1.1, "1.1"}, {1.123456789, "1.123457"}, {-1.123456789, "-1.123457"}, {1.1234, "1.1234"},
		{.1234, "0.1234"}, {5e4, "50000.0"}, {-5e4, "-50000.0"}, {3.14e15, "3140000000000000.0"},
		{-3.14e15, "-3140000000000000.0"}, {dmax, maxDigits + ".0"}, {-dmax, "-" + maxDigits + ".0"},
		{1.23456789e-5, "0.000012"}, {dmin, "0.0"}, {-dmin, "-0.0"}, {math.Inf(1), "inf"}, {math.Inf(-1), "-inf"},
		{math.Copysign(0, -1), "0.0"}, {math.NaN(), "nan"},
		// The captured test.log, and more.
		{1.5, "1.5"}, {-0.5, "-0.5"}, {0, "0.0"}, {0.0000006, "0.000001"}, {0.0000004, "0"}, {-0.0000004, "-0"},
		{0.1, "0.1"}, {123.000001, "123.000001"}, {2147483646.5, "2147483646.5"},
		{2147483647, "2147483647.0"}, {0.00035691261291503906, "0.000357"},
		// Within 1e-9 of a whole number: ".0" even though the digits say otherwise.
		{2.0000000001, "2.0"},
		// Rounded up to a whole number but not within 1e-9 of it: no ".0".
		{1.9999999, "2"},
	}
	for _, c := range cases {
		if got := render(t, tDouble, value.Real(c.d)); got != c.want {
			t.Errorf("%g: %q, want %q", c.d, got, c.want)
		}
	}
}

// TestTimes checks times and intervals: Zeek's btest
// scripts.base.frameworks.logging.ascii-timestamps and more.
func TestTimes(t *testing.T) {
	cases := []struct {
		s    float64
		want string
	}{
		{1234567890, "1234567890.000000"}, {1234567890.01, "1234567890.010000"},
		{1234567890.001, "1234567890.001000"}, {1234567890.0001, "1234567890.000100"},
		{1234567890.00001, "1234567890.000010"}, {1234567890.000001, "1234567890.000001"},
		{1234567890.0000001, "1234567890.000000"},
		{1700000000.25, "1700000000.250000"}, {1210953047.736921, "1210953047.736921"},
		{2.5, "2.500000"}, {60, "60.000000"}, {0.00035691261291503906, "0.000357"},
		{-2.5, "-2.500000"}, {-0.0000001, "-0.000000"}, {math.Copysign(0, -1), "0.000000"},
		{-315619200, "-315619200.000000"}, {0.9999996, "1.000000"},
		// From 2^31 - 1 on, modp_dtoa switches to %.16e.
		{2147483647, "2.147483647e+09"}, {3e9, "3e+09"}, {2153226000.5, "2.1532260005e+09"},
		{-4e9, "-4e+09"}, {math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}, {math.NaN(), "nan"},
	}
	for _, c := range cases {
		if got := render(t, tTime, value.TimeSeconds(c.s)); got != c.want {
			t.Errorf("time %v: %q, want %q", c.s, got, c.want)
		}
		if got := render(t, tInterval, value.IntervalSeconds(c.s)); got != c.want {
			t.Errorf("interval %v: %q, want %q", c.s, got, c.want)
		}
	}
	// Broker's nanosecond form converts as Zeek converts it.
	if got := render(t, tTime, value.Time(1_700_000_000_500_000_000)); got != "1700000000.500000" {
		t.Errorf("time in nanoseconds: %q", got)
	}
	if got := render(t, tInterval, value.Interval(-90*time.Second)); got != "-90.000000" {
		t.Errorf("interval in nanoseconds: %q", got)
	}
}

func TestStrings(t *testing.T) {
	cases := []struct{ in, want string }{
		{"str", "str"},
		{"", "(empty)"},
		{"-", `\x2d`},
		{"(empty)", `\x28empty)`},
		{"--", "--"},
		{" ", " "},
		{"(empty", "(empty"},
		{"a,b", "a,b"}, // the set separator is escaped only in containers
		{"a\tb", `a\x09b`},
		{`back\slash`, `back\\slash`},
		{`AB\xffCD`, `AB\\xffCD`},
		{"AB\x00CD\x00", `AB\x00CD\x00`},
		{"AB\xffCD\x00", `AB\xffCD\x00`},
		{"foo \x0e bar ^N baz", `foo \x0e bar ^N baz`},
		{"del\x7f", `del\x7f`},
		// Zeek's btest ascii-utf8-enabled-control-characters.
		{"foo \n\t\x00 bar", `foo \x0a\x09\x00 bar`},
		// Zeek's btest ascii-utf8-enabled: valid UTF-8 passes.
		{"foo \xc2\xae bar", "foo ® bar"},
		{"दुनिया को नमस्ते", "दुनिया को नमस्ते"},
		{"hello 𠜎", "hello 𠜎"},
		// One bad byte escapes every non-ASCII byte of its run ...
		{"é\xff", `\xc3\xa9\xff`},
		{"é\n", `\xc3\xa9\x0a`},
		{"\x07\xd4\xb7o", `\x07\xd4\xb7o`},
		// ... but not of the runs beyond a backslash or a separator.
		{"é\\\xff", `é\\\xff`},
		{"é\t\xff", `é\x09\xff`},
		{"foo \xc2\xae bar \\xc2\\xae baz", `foo ® bar \\xc2\\xae baz`},
		// Code points Zeek does not let through.
		{"\xc2\x80", `\xc2\x80`},         // C1 control U+0080
		{"\xee\x8b\xa0", `\xee\x8b\xa0`}, // private use U+E2E0
		{"\xef\xbf\xbd", `\xef\xbf\xbd`}, // U+FFFD, in the specials block
		{"\xed\xa0\x80", `\xed\xa0\x80`}, // a surrogate
		{"\xc0\x81", `\xc0\x81`},         // overlong
		{"\xf0\x90\x8c", `\xf0\x90\x8c`}, // truncated
		{"\xef\xbf\xaf", "\xef\xbf\xaf"}, // U+FFEF is fine
		// A line that would start with the meta prefix.
		{"#x", `\x23x`},
		{"#", `\x23`},
		{"a#", "a#"},
	}
	for _, c := range cases {
		if got := render(t, tString, value.String(c.in)); got != c.want {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
	if got := render(t, tEnum, value.Enum("-")); got != `\x2d` {
		t.Errorf("enum -: %q", got)
	}
}

func TestContainers(t *testing.T) {
	setOf := func(sub value.TypeTag) value.Type { return value.Type{Tag: value.TypeTable, Sub: sub} }
	vecOf := func(sub value.TypeTag) value.Type { return value.Type{Tag: value.TypeVector, Sub: sub} }
	s := value.String
	cases := []struct {
		typ  value.Type
		v    value.Value
		want string
	}{
		{setOf(value.TypeCount), value.Set(value.Count(8), value.Count(7)), "8,7"},
		{setOf(value.TypeCount), value.Set(), "(empty)"},
		{vecOf(value.TypeString), value.Vector(), "(empty)"},
		{vecOf(value.TypeString), value.Vector(s("p"), s("q")), "p,q"},
		{vecOf(value.TypeString), value.Vector(s("a,b"), s("c\td"), s(`e\f`)), `a\x2cb,c\x09d,e\\f`},
		{vecOf(value.TypeString), value.Vector(s(""), s("-"), s("(empty)")), `(empty),\x2d,\x28empty)`},
		{vecOf(value.TypeString), value.Vector(s("x"), value.None(), s("y")), "x,-,y"},
		{vecOf(value.TypeString), value.Vector(s("#a")), `\x23a`},
		{vecOf(value.TypeInterval), value.Vector(value.IntervalSeconds(8655), value.IntervalSeconds(-0.5)), "8655.000000,-0.500000"},
		{vecOf(value.TypeDouble), value.Vector(value.Real(1), value.Real(0.25)), "1.0,0.25"},
		{setOf(value.TypeAddr), value.Set(value.Addr(netip.MustParseAddr("10.0.0.1")), value.Addr(netip.MustParseAddr("2001:db8::1"))), "10.0.0.1,2001:db8::1"},
		{setOf(value.TypeSubnet), value.Set(value.Subnet(netip.MustParsePrefix("10.0.0.0/8"))), "10.0.0.0/8"},
		{setOf(value.TypePort), value.Set(value.PortOf(80, value.ProtoTCP), value.PortOf(53, value.ProtoUDP)), "80,53"},
		{setOf(value.TypeEnum), value.Set(value.Enum("tcp"), value.Enum("udp")), "tcp,udp"},
		{setOf(value.TypeBool), value.Set(value.Bool(true), value.Bool(false)), "T,F"},
		{vecOf(value.TypeString), value.Vector(s("é,\xff")), `é\x2c\xff`},
	}
	for _, c := range cases {
		if got := render(t, c.typ, c.v); got != c.want {
			t.Errorf("%v: %q, want %q", c.v, got, c.want)
		}
	}
}

func TestRecordLayout(t *testing.T) {
	fields := []value.Field{{Name: "a", Type: tString}, {Name: "b", Type: tCount}, {Name: "c", Type: tString}}
	out, err := AppendRecord([]byte("prefix\n"), fields, []value.Value{value.String("#x"), value.None(), value.String("")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "prefix\n\\x23x\t-\t(empty)\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMismatch(t *testing.T) {
	fields := []value.Field{{Name: "ts", Type: tTime}, {Name: "n", Type: tCount},
		{Name: "tags", Type: value.Type{Tag: value.TypeTable, Sub: value.TypeString}}}
	ok := []value.Value{value.TimeSeconds(1), value.Count(2), value.Set(value.String("a"))}
	cases := []struct {
		name string
		rec  []value.Value
		msg  string
	}{
		{"too few", ok[:2], "2 values for 3 fields"},
		{"too many", append(append([]value.Value{}, ok...), value.Count(1)), "4 values for 3 fields"},
		{"kind", []value.Value{value.TimeSeconds(1), value.String("2"), ok[2]}, `field 1 ("n"): want count for type count, have string`},
		{"int for count", []value.Value{value.TimeSeconds(1), value.Int(2), ok[2]}, `field 1 ("n")`},
		{"element", []value.Value{ok[0], ok[1], value.Set(value.String("a"), value.Count(1))}, `field 2 ("tags"): element 1: want string`},
		{"vector for set", []value.Value{ok[0], ok[1], value.Vector()}, `field 2 ("tags"): want set`},
	}
	for _, c := range cases {
		out, err := AppendRecord([]byte("keep"), fields, c.rec)
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want ErrMismatch with %q", c.name, err, c.msg)
		}
		if string(out) != "keep" {
			t.Errorf("%s: dst changed to %q", c.name, out)
		}
	}
	bad := []value.Field{{Name: "r", Type: value.Type{Tag: value.TypeRecord}}}
	if err := CheckRecord(bad, []value.Value{value.None()}); !errors.Is(err, ErrMismatch) {
		t.Errorf("record column: %v", err)
	}
	nested := []value.Field{{Name: "v", Type: value.Type{Tag: value.TypeVector, Sub: value.TypeVector}}}
	if err := CheckRecord(nested, []value.Value{value.Vector()}); !errors.Is(err, ErrMismatch) {
		t.Errorf("nested vector column: %v", err)
	}
	if err := CheckRecord(fields, ok); err != nil {
		t.Errorf("good record: %v", err)
	}

	b := &value.LogBatch{Fields: fields, Records: [][]value.Value{ok, ok, {ok[0]}}}
	out, err := AppendRecords([]byte("keep"), b)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "record 2:") || string(out) != "keep" {
		t.Errorf("AppendRecords: %q, %v", out, err)
	}
}

// unescape reverses the escaping of one column value: \\ and \xNN.
func unescape(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		case i+3 < len(s) && s[i+1] == 'x':
			var c byte
			for _, h := range s[i+2 : i+4] {
				c = c<<4 | byte(strings.IndexRune(hexDigits, h))
			}
			b.WriteByte(c)
			i += 3
		default:
			t.Fatalf("stray backslash in %q", s)
		}
	}
	return b.String()
}

// TestGenerated renders random batches: every record is one line of one
// column per field, the output has no control characters but the tab
// separators and newlines, and every string reads back to its bytes.
func TestGenerated(t *testing.T) {
	g := valuetest.New(7)
	g.Seconds = true
	for range 400 {
		b := g.LogBatch()
		out, err := AppendRecords(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(out), "\n")
		if lines[len(lines)-1] != "" || len(lines)-1 != len(b.Records) {
			t.Fatalf("%d lines for %d records: %q", len(lines)-1, len(b.Records), out)
		}
		for r, line := range lines[:len(b.Records)] {
			cols := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
			if len(cols) != len(b.Fields) {
				t.Fatalf("record %d: %d columns for %d fields: %q", r, len(cols), len(b.Fields), line)
			}
			for j, col := range cols {
				for _, c := range []byte(col) {
					if c < 0x20 || c == 0x7f {
						t.Fatalf("record %d column %d: raw control byte in %q", r, j, col)
					}
				}
				if j == 0 && strings.HasPrefix(col, "#") {
					t.Fatalf("record %d: line starts with #: %q", r, line)
				}
				v := b.Records[r][j]
				if v.Kind() == value.KindString || v.Kind() == value.KindEnum {
					if got := unescape(t, col); v.Str() != "" && got != v.Str() {
						t.Fatalf("record %d column %d: %q reads back as %q, want %q", r, j, col, got, v.Str())
					}
				}
				if v.Kind() == value.KindSet || v.Kind() == value.KindVector {
					elems := v.Elems()
					parts := strings.Split(col, ",")
					if len(elems) > 0 && len(parts) != len(elems) {
						t.Fatalf("record %d column %d: %d parts for %d elements: %q", r, j, len(parts), len(elems), col)
					}
				}
			}
		}
	}
}

// TestCheckAgreesWithRendering puts random values of any kind into random
// records: AppendRecord fails exactly when CheckRecord does.
func TestCheckAgreesWithRendering(t *testing.T) {
	g := valuetest.New(11)
	rejected := 0
	for range 2000 {
		b := g.LogBatch()
		if len(b.Records) == 0 {
			continue
		}
		rec := slices.Clone(b.Records[0])
		switch g.R.IntN(3) {
		case 0:
			rec[g.R.IntN(len(rec))] = g.Value()
		case 1:
			rec = rec[:g.R.IntN(len(rec))]
		}
		out, err := AppendRecord(nil, b.Fields, rec)
		if check := CheckRecord(b.Fields, rec); (err == nil) != (check == nil) {
			t.Fatalf("AppendRecord: %v; CheckRecord: %v", err, check)
		}
		if err != nil {
			rejected++
			if !errors.Is(err, ErrMismatch) || out != nil {
				t.Fatalf("error %v, output %q", err, out)
			}
		}
	}
	if rejected == 0 {
		t.Fatal("no record was rejected")
	}
}
