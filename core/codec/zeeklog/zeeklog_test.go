package zeeklog

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
func roundTrip(t *testing.T, payload []byte) *value.LogBatch {
	t.Helper()
	b, err := Decode(payload)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := b.Validate(); err != nil {
		t.Fatalf("decoded batch does not validate: %v", err)
	}
	out, err := Append(nil, b)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if !bytes.Equal(out, payload) {
		t.Fatalf("re-encoding differs:\n got %x\nwant %x", out, payload)
	}
	h, err := DecodeHeader(payload)
	if err != nil || h != (Header{b.Stream, b.Writer, b.Filter, b.Path}) {
		t.Fatalf("header = %+v, %v", h, err)
	}
	return b
}

func fieldNames(b *value.LogBatch) string {
	var names []string
	for _, f := range b.Fields {
		names = append(names, f.Name)
	}
	return strings.Join(names, " ")
}

// TestCapturedBatches decodes every captured log batch and every batch of
// the handshake sequence, re-encodes it to the same bytes, and checks the
// schema.
func TestCapturedBatches(t *testing.T) {
	schemas := map[string]struct {
		stream, path string
		fields       int
		records      int
	}{
		"zeek-log-conn-1rec-a.hex": {"Conn::LOG", "conn", 22, 1},
		"zeek-log-conn-1rec-b.hex": {"Conn::LOG", "conn", 22, 1},
		"zeek-log-conn-7rec.hex":   {"Conn::LOG", "conn", 22, 7},
		"zeek-log-dns-8rec.hex":    {"DNS::LOG", "dns", 26, 8},
		"zeek-log-test.hex":        {"TEST_LOG", "test", 15, 2},
	}
	paths := vectors.Glob(t, "captured/zeek-log-*.hex")
	if len(paths) != len(schemas) {
		t.Fatalf("%d captured log vectors, want %d", len(paths), len(schemas))
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			frames := vectors.Frames(t, path)
			if string(frames[0]) != "log-write" || string(frames[2]) != codec.FormatZeekLog {
				t.Fatalf("frames 0 and 2 = %q, %q", frames[0], frames[2])
			}
			b := roundTrip(t, frames[3])
			want := schemas[filepath.Base(path)]
			if b.Stream != want.stream || b.Path != want.path || b.Writer != "Log::WRITER_ASCII" || b.Filter != "default" ||
				len(b.Fields) != want.fields || len(b.Records) != want.records {
				t.Fatalf("batch %s/%s/%s/%s with %d fields, %d records", b.Stream, b.Writer, b.Filter, b.Path, len(b.Fields), len(b.Records))
			}
			if want.stream == "Conn::LOG" {
				const conn = "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes resp_pkts resp_ip_bytes tunnel_parents ip_proto"
				if got := fieldNames(b); got != conn {
					t.Fatalf("conn fields: %s", got)
				}
			}
		})
	}
	n := 0
	for _, m := range vectors.Handshake(t) {
		if m.Kind == "logs" {
			roundTrip(t, m.Frames[3])
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d log batches in the handshake sequence, want 3", n)
	}
}

// TestCapturedTestLog checks every value of the TEST_LOG batch against the
// records the capture scripts wrote.
func TestCapturedTestLog(t *testing.T) {
	b := roundTrip(t, vectors.Payload(t, "captured/zeek-log-test.hex"))
	types := "time string string count int double bool addr subnet port interval enum vector of string set[count] string"
	var got []string
	for _, f := range b.Fields {
		got = append(got, f.Type.String())
	}
	if strings.Join(got, " ") != types {
		t.Fatalf("types: %s", strings.Join(got, " "))
	}
	if !b.Fields[14].Optional || b.Fields[13].Optional {
		t.Fatal("optional flags")
	}
	str := value.String
	want := [][]value.Value{{
		value.TimeSeconds(1700000000.25), str("worker-1"), str("str"), value.Count(1), value.Int(-1),
		value.Real(1.5), value.Bool(false), value.Addr(netip.MustParseAddr("10.1.2.3")),
		value.Subnet(netip.MustParsePrefix("192.168.0.0/16")), value.PortOf(53, value.ProtoUDP),
		value.IntervalSeconds(2.5), value.Enum("tcp"), value.Vector(str("p"), str("q")),
		value.Set(value.Count(8), value.Count(7)), value.None(),
	}, {
		value.TimeSeconds(1700000001), str("worker-1"), str("second"), value.Count(2), value.Int(2),
		value.Real(-0.5), value.Bool(true), value.Addr(netip.MustParseAddr("2001:db8::2")),
		value.Subnet(netip.MustParsePrefix("2001:db8::/32")), value.PortOf(8080, value.ProtoTCP),
		value.IntervalSeconds(60), value.Enum("icmp"), value.Vector(), value.Set(), str("present"),
	}}
	for r := range want {
		for i := range want[r] {
			if !value.Equal(b.Records[r][i], want[r][i]) {
				t.Errorf("record %d field %s = %v, want %v", r, b.Fields[i].Name, b.Records[r][i], want[r][i])
			}
		}
	}
	// Built from scratch, the batch encodes to the captured bytes.
	built := &value.LogBatch{Stream: "TEST_LOG", Writer: "Log::WRITER_ASCII", Filter: "default", Path: "test", Fields: b.Fields, Records: want}
	out, err := Append(nil, built)
	if err != nil || !bytes.Equal(out, vectors.Payload(t, "captured/zeek-log-test.hex")) {
		t.Fatalf("built batch encodes differently (%v)", err)
	}
}

// TestAgainstZeekJSON compares the decoded records with what Zeek's own
// logger wrote for the same batches as JSON lines.
func TestAgainstZeekJSON(t *testing.T) {
	cases := []struct {
		json    string
		batches []string
	}{
		{"captured/expected/json/test.log", []string{"captured/zeek-log-test.hex"}},
		{"captured/expected/json/dns.log", []string{"captured/zeek-log-dns-8rec.hex"}},
		{"captured/expected/captured-batches-only/json/conn.log", []string{
			"captured/zeek-log-conn-7rec.hex", "captured/zeek-log-conn-1rec-a.hex", "captured/zeek-log-conn-1rec-b.hex"}},
	}
	for _, c := range cases {
		t.Run(c.json, func(t *testing.T) {
			rows := readJSONLines(t, vectors.Path(t, c.json))
			var n int
			for _, rel := range c.batches {
				b := roundTrip(t, vectors.Payload(t, rel))
				for _, rec := range b.Records {
					if n >= len(rows) {
						t.Fatalf("more records than %d rows", len(rows))
					}
					compareRow(t, n, b.Fields, rec, rows[n])
					n++
				}
			}
			if n != len(rows) {
				t.Fatalf("%d records, %d rows", n, len(rows))
			}
		})
	}
}

func readJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		d := json.NewDecoder(strings.NewReader(sc.Text()))
		d.UseNumber()
		var row map[string]any
		if err := d.Decode(&row); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func compareRow(t *testing.T, n int, fields []value.Field, rec []value.Value, row map[string]any) {
	t.Helper()
	if len(row) > len(fields) {
		t.Errorf("row %d has %d columns, batch %d fields", n, len(row), len(fields))
	}
	for i, f := range fields {
		want, ok := row[f.Name]
		if rec[i].IsNone() {
			if ok {
				t.Errorf("row %d %s: unset, Zeek wrote %v", n, f.Name, want)
			}
			continue
		}
		if !ok {
			t.Errorf("row %d %s: %v, Zeek left it out", n, f.Name, rec[i])
			continue
		}
		if msg := compareJSON(rec[i], want); msg != "" {
			t.Errorf("row %d %s: %s", n, f.Name, msg)
		}
	}
}

// compareJSON compares v with Zeek's JSON rendering of it; it returns a
// description of the difference, or "".
func compareJSON(v value.Value, want any) string {
	bad := func() string { return "decoded " + v.String() + ", Zeek wrote " + jsonText(want) }
	switch v.Kind() {
	case value.KindSet, value.KindVector:
		arr, ok := want.([]any)
		if !ok || len(arr) != v.Len() {
			return bad()
		}
		for i, e := range v.Elems() {
			if msg := compareJSON(e, arr[i]); msg != "" {
				return "element " + strconv.Itoa(i) + ": " + msg
			}
		}
		return ""
	case value.KindBool:
		if b, ok := want.(bool); !ok || b != v.Bool() {
			return bad()
		}
		return ""
	case value.KindString, value.KindEnum, value.KindAddr, value.KindSubnet:
		s, ok := want.(string)
		text := v.Str()
		if v.Kind() == value.KindAddr {
			text = v.Addr().String()
		} else if v.Kind() == value.KindSubnet {
			text = v.Subnet().String()
		}
		if !ok || s != text {
			return bad()
		}
		return ""
	}
	num, ok := want.(json.Number)
	if !ok {
		return bad()
	}
	switch v.Kind() {
	case value.KindCount:
		if num.String() != strconv.FormatUint(v.Count(), 10) {
			return bad()
		}
	case value.KindInt:
		if num.String() != strconv.FormatInt(v.Int(), 10) {
			return bad()
		}
	case value.KindPort:
		if num.String() != strconv.Itoa(int(v.Port().Num)) {
			return bad()
		}
	case value.KindReal, value.KindInterval:
		f, err := num.Float64()
		got := v.Real()
		if v.Kind() == value.KindInterval {
			got = v.Seconds()
		}
		if err != nil || f != got {
			return bad()
		}
	case value.KindTime:
		// Zeek's JSON writer rounds times to microseconds.
		f, err := num.Float64()
		if err != nil || math.Abs(f-v.Seconds()) > 1e-6 {
			return bad()
		}
	default:
		return bad()
	}
	return ""
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDerivedVectors checks the derived batches of testdata/zeek.
func TestDerivedVectors(t *testing.T) {
	frames := vectors.Load(t, "derived/log-write-cluster.hex")
	b := roundTrip(t, frames[3])
	if b.Stream != "Cluster::LOG" || b.Path != "cluster" || fieldNames(b) != "ts node message" ||
		b.Records[0][0].Seconds() != 1700000000.5 || b.Records[0][2].Str() != "got hello from manager" {
		t.Fatalf("cluster batch: %+v", b)
	}
	b = roundTrip(t, vectors.Payload(t, "derived/log-write-demo.hex"))
	want := []string{
		"1700000000.5", "192.168.1.10", "51234/tcp", "2001:db8::1", "53/udp", "udp", "none", "42", "-5", "T",
		"10.0.0.0/8", `{"a", "b"}`, "[1, 2]",
	}
	for i, w := range want {
		if got := b.Records[0][i].String(); got != w {
			t.Errorf("demo column %s = %s, want %s", b.Fields[i].Name, got, w)
		}
	}
	if !b.Fields[6].Optional || b.Fields[11].Type != (value.Type{Tag: value.TypeTable, Sub: value.TypeString}) {
		t.Errorf("demo fields: %+v", b.Fields)
	}
}

// TestZeekUnitTestVector is the vector of Zeek's own log serializer unit
// test, whose field and values carry subtype 22 (error).
func TestZeekUnitTestVector(t *testing.T) {
	payload := vectors.Payload(t, "derived/zeek-bin-unit-test-log.hex")
	b := roundTrip(t, payload)
	f := b.Fields[0]
	if f.Name != "ts" || f.Type != (value.Type{Tag: value.TypeTime, Sub: value.TypeError}) || f.ValueSubtype != value.TypeError {
		t.Fatalf("field = %+v", f)
	}
	built := &value.LogBatch{
		Stream: "Log::UNKNOWN", Writer: "Log::WRITER_NONE", Filter: "default", Path: "my-path",
		Fields:  []value.Field{{Name: "ts", Type: value.Type{Tag: value.TypeTime, Sub: value.TypeError}, ValueSubtype: value.TypeError}},
		Records: [][]value.Value{{value.TimeSeconds(1)}, {value.TimeSeconds(2)}},
	}
	out, err := Append(nil, built)
	if err != nil || !bytes.Equal(out, payload) {
		t.Fatalf("built batch encodes to %x, %v; want %x", out, err, payload)
	}
}

// TestNanosecondTimes encodes times and intervals held in nanoseconds (as
// decoded from Broker) as Zeek's float seconds.
func TestNanosecondTimes(t *testing.T) {
	b := &value.LogBatch{
		Fields:  []value.Field{{Name: "ts", Type: value.Type{Tag: value.TypeTime}}, {Name: "d", Type: value.Type{Tag: value.TypeInterval}}},
		Records: [][]value.Value{{value.Time(1700000000500000000), value.Interval(2500000000)}},
	}
	out, err := Append(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	if back.Records[0][0].Seconds() != 1700000000.5 || back.Records[0][1].Seconds() != 2.5 {
		t.Fatalf("decoded %v", back.Records[0])
	}
}

func TestMalformed(t *testing.T) {
	// header: "S" "W" "F" "P"
	head := "00000001 53 00000001 57 00000001 46 00000001 50"
	field := func(tag, sub string) string { return "00 00000001 78" + tag + sub + "00" }
	cases := []struct{ name, hex, want string }{
		{"empty", "", "offset 0: want 4 bytes of stream name length, have 0"},
		{"long string", "00000009 53", "offset 4: want 9 bytes of stream name, have 1"},
		{"negative string length", "80000000", "offset 0: want stream name length below 2^31, have 2147483648"},
		{"field count", head + "7fffffff", "offset 20: field count 2147483647 cannot fit in the remaining 0 bytes"},
		{"secondary flag", head + "00000001 02 00000000 00000003 00000000 00 00000000", "offset 24: want secondary name flag 0x00 or 0x01, have 0x02"},
		{"unloggable type", head + "00000001" + field("00000008", "00000000"), "offset 30: field 0 (\"x\"): type pattern cannot be logged"},
		{"nested set", head + "00000001" + field("0000000e", "00000013"), "offset 30: field 0 (\"x\"): type set[vector] cannot be logged"},
		{"optional flag", head + "00000001 00 00000001 78 00000003 00000000 05", "offset 38: want optional flag 0x00 or 0x01, have 0x05"},
		{"records without fields", head + "00000000 00000003", "offset 24: want no records in a batch without fields, have 3"},
		{"record count", head + "00000001" + field("00000003", "00000000") + "00000002 00000003 00000000 00", "offset 39: record count 2 cannot fit in the remaining 9 bytes"},
		{"value type", head + "00000001" + field("00000003", "00000000") + "00000001 00000002 00000000 00", "offset 43: field \"x\": want value type count (3), have int"},
		{"present flag", head + "00000001" + field("00000003", "00000000") + "00000001 00000003 00000000 07", "offset 51: want present flag 0x00 or 0x01, have 0x07"},
		{"truncated count", head + "00000001" + field("00000003", "00000000") + "00000001 00000003 00000000 01 0000", "offset 52: want 8 bytes of count, have 2"},
		{"trailing", head + "00000001" + field("00000003", "00000000") + "00000001 00000003 00000000 00 ff", "offset 52: want end of payload, have 1 trailing bytes"},
		{"port number", head + "00000001" + field("0000000a", "00000000") + "00000001 0000000a 00000000 01 0000000000010000 00000001", "offset 52: want port number below 65536, have 65536"},
		{"port protocol", head + "00000001" + field("0000000a", "00000000") + "00000001 0000000a 00000000 01 0000000000000050 00000004", "offset 60: want port protocol 0 to 3, have 4"},
		{"address family", head + "00000001" + field("0000000b", "00000000") + "00000001 0000000b 00000000 01 05", "offset 52: want address family 4 or 6, have 5"},
		{"IPv4 subnet length", head + "00000001" + field("0000000c", "00000000") + "00000001 0000000c 00000000 01 08 04 0a000000", "offset 52: want IPv4 subnet length 96 to 128 (96 + prefix length), have 8"},
		{"IPv6 subnet length", head + "00000001" + field("0000000c", "00000000") + "00000001 0000000c 00000000 01 81 06 00000000000000000000000000000000", "offset 52: want IPv6 subnet length of at most 128, have 129"},
		{"huge set", head + "00000001" + field("0000000e", "00000003") + "00000001 0000000e 00000000 01 00000000ffffffff", "offset 52: 4294967295 elements cannot fit in the remaining 0 bytes"},
		{"negative set size", head + "00000001" + field("0000000e", "00000003") + "00000001 0000000e 00000000 01 ffffffffffffffff", "offset 52: -1 elements cannot fit"},
		{"element type", head + "00000001" + field("00000013", "00000003") + "00000001 00000013 00000000 01 0000000000000001 00000002 00000000 00", "offset 60: field \"x\": want value type count (3), have int"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(unhex(t, c.hex))
			if err == nil {
				t.Fatal("decoded without error")
			}
			var de *codec.DecodeError
			if !errors.As(err, &de) || de.Codec != "zeeklog" {
				t.Fatalf("error %v is no zeeklog DecodeError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestTruncations(t *testing.T) {
	for _, rel := range []string{"captured/zeek-log-test.hex", "derived/log-write-demo.hex"} {
		payload := vectors.Payload(t, rel)
		h, err := DecodeHeader(payload)
		if err != nil {
			t.Fatal(err)
		}
		headerLen := 16 + len(h.Stream) + len(h.Writer) + len(h.Filter) + len(h.Path)
		for n := range len(payload) {
			if _, err := Decode(payload[:n]); err == nil {
				t.Fatalf("%s: prefix of %d bytes decoded", rel, n)
			}
			if got, err := DecodeHeader(payload[:n]); (err == nil) != (n >= headerLen) || (err == nil && got != h) {
				t.Fatalf("%s: header of a %d-byte prefix: %+v, %v", rel, n, got, err)
			}
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	count := value.Type{Tag: value.TypeCount}
	cases := []struct {
		b    value.LogBatch
		want string
	}{
		{value.LogBatch{Fields: []value.Field{{Name: "x", Type: count}}, Records: [][]value.Value{{}}}, "record 0 has 0 values, want 1"},
		{value.LogBatch{Fields: []value.Field{{Name: "x", Type: count}}, Records: [][]value.Value{{value.Int(1)}}}, `record 0 field 0 ("x"): want count for type count, have int`},
		{value.LogBatch{Fields: []value.Field{{Name: "x", Type: value.Type{Tag: value.TypeRecord}}}}, "type record cannot be logged"},
		{value.LogBatch{Fields: []value.Field{{Name: "v", Type: value.Type{Tag: value.TypeVector, Sub: value.TypeString}}},
			Records: [][]value.Value{{value.Vector(value.String("a"), value.Count(1))}}}, "element 1: want string for type string, have count"},
		{value.LogBatch{Records: [][]value.Value{{}}}, "1 records but no fields"},
	}
	for _, c := range cases {
		_, err := Append(nil, &c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

func TestRoundTripGenerated(t *testing.T) {
	g := valuetest.New(2)
	g.Seconds = true
	g.Subnormals = true
	for i := range 2000 {
		b := g.LogBatch()
		payload, err := Append(nil, b)
		if err != nil {
			t.Fatalf("batch %d: encode: %v", i, err)
		}
		back, err := Decode(payload)
		if err != nil {
			t.Fatalf("batch %d: decode: %v", i, err)
		}
		if back.Stream != b.Stream || back.Path != b.Path || len(back.Fields) != len(b.Fields) || len(back.Records) != len(b.Records) {
			t.Fatalf("batch %d: header or shape differs", i)
		}
		for j, f := range b.Fields {
			if len(b.Records) > 0 && back.Fields[j] != f {
				t.Fatalf("batch %d field %d: decoded %+v, want %+v", i, j, back.Fields[j], f)
			}
		}
		for r := range b.Records {
			for j := range b.Records[r] {
				if !value.Equal(back.Records[r][j], b.Records[r][j]) {
					t.Fatalf("batch %d record %d field %d: decoded %v, want %v", i, r, j, back.Records[r][j], b.Records[r][j])
				}
			}
		}
		again, err := Append(nil, back)
		if err != nil || !bytes.Equal(again, payload) {
			t.Fatalf("batch %d: re-encoding differs (%v)", i, err)
		}
	}
}

// TestTypedJSON carries every captured batch through the typed JSON form
// and back without loss.
func TestTypedJSON(t *testing.T) {
	for _, path := range vectors.Glob(t, "captured/zeek-log-*.hex") {
		payload := vectors.Payload(t, "captured/"+filepath.Base(path))
		b, err := Decode(payload)
		if err != nil {
			t.Fatal(err)
		}
		text, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		var back value.LogBatch
		if err := json.Unmarshal(text, &back); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, text)
		}
		out, err := Append(nil, &back)
		if err != nil || !bytes.Equal(out, payload) {
			t.Fatalf("%s: batch through typed JSON encodes differently (%v)", path, err)
		}
	}
}

func TestCodecInterface(t *testing.T) {
	var c codec.LogCodec = Codec{}
	if c.Format() != "zeek-bin-serializer" {
		t.Fatal(c.Format())
	}
	payload := vectors.Payload(t, "derived/log-write-cluster.hex")
	b, err := c.DecodeLogBatch(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.AppendLogBatch([]byte("x"), b)
	if err != nil || !bytes.Equal(out, append([]byte("x"), payload...)) {
		t.Fatalf("append = %x, %v", out, err)
	}
}
