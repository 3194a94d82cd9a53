package otlpsink

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/codec/zmsgpack"
	"github.com/zpipe/zpipe/core/stage/stagetest"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/value/valuetest"
	"github.com/zpipe/zpipe/internal/zeektest"
)

// Builders of expected AnyValues.
func sv(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}
func iv(n int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}
}
func dv(f float64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
}
func bv(b bool) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
}
func av(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
}
func kvl(kv ...any) *commonpb.AnyValue {
	var out []*commonpb.KeyValue
	for i := 0; i < len(kv); i += 2 {
		out = append(out, &commonpb.KeyValue{Key: kv[i].(string), Value: kv[i+1].(*commonpb.AnyValue)})
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: out}}}
}
func empty() *commonpb.AnyValue { return &commonpb.AnyValue{} }

func anyOf(v value.Value) *commonpb.AnyValue {
	var a commonpb.AnyValue
	setAny(&a, v, portNumber)
	return &a
}

// TestValueRules: every line of the value mapping, on values written out.
func TestValueRules(t *testing.T) {
	rec := value.Record(
		value.RecordField{Name: "name", Value: value.String("rec")},
		value.RecordField{Name: "opt", Value: value.None()},
		value.RecordField{Name: "n\xfe", Value: value.Count(5)},
	)
	for _, c := range []struct {
		name string
		v    value.Value
		want *commonpb.AnyValue
	}{
		{"bool", value.Bool(true), bv(true)},
		{"count", value.Count(42), iv(42)},
		{"count max int64", value.Count(math.MaxInt64), iv(math.MaxInt64)},
		{"count above max int64", value.Count(math.MaxUint64), sv("18446744073709551615")},
		{"count 2^63", value.Count(1 << 63), sv("9223372036854775808")},
		{"int", value.Int(-7), iv(-7)},
		{"double", value.Real(3.25), dv(3.25)},
		{"time nanos", value.Time(1700000000_123456789), sv("2023-11-14T22:13:20.123456789Z")},
		{"time seconds rounds to µs", value.TimeSeconds(1210953047.736921), sv("2008-05-16T15:50:47.736921000Z")},
		{"time before 1970", value.Time(-1_500_000_000), sv("1969-12-31T23:59:58.500000000Z")},
		{"interval nanos", value.Interval(90 * time.Second), dv(90)},
		{"interval seconds", value.IntervalSeconds(0.25), dv(0.25)},
		{"string", value.String("hello"), sv("hello")},
		{"string not UTF-8", value.String("a\xffé\xc3\\x"), sv(`a\xffé\xc3\x`)},
		{"enum", value.Enum("Conn::LOG"), sv("Conn::LOG")},
		{"port (log column)", value.PortOf(443, value.ProtoTCP), iv(443)},
		{"addr v4", value.Addr(netip.MustParseAddr("192.168.1.2")), sv("192.168.1.2")},
		{"addr v6", value.Addr(netip.MustParseAddr("2001:db8::1")), sv("2001:db8::1")},
		{"addr v4-compatible", value.Addr(netip.MustParseAddr("::1.2.3.4")), sv("::1.2.3.4")},
		{"subnet v4", value.Subnet(netip.MustParsePrefix("10.0.0.0/8")), sv("10.0.0.0/8")},
		{"subnet v6", value.Subnet(netip.MustParsePrefix("2001:db8::/32")), sv("2001:db8::/32")},
		{"set", value.Set(value.String("x"), value.String("y")), av(sv("x"), sv("y"))},
		{"vector with a hole", value.Vector(value.Count(1), value.None(), value.Count(3)), av(iv(1), empty(), iv(3))},
		{"empty vector", value.Vector(), av()},
		{"table", value.Table(value.Entry{Key: value.String("one"), Value: value.Count(1)}, value.Entry{Key: value.String("two"), Value: value.Count(2)}),
			av(av(sv("one"), iv(1)), av(sv("two"), iv(2)))},
		{"record: set fields", rec, kvl("name", sv("rec"), `n\xfe`, iv(5))},
		{"none", value.None(), empty()},
	} {
		if got := anyOf(c.v); !proto.Equal(got, c.want) {
			t.Errorf("%s: %v gives %v, want %v", c.name, c.v, got, c.want)
		}
	}
}

// TestUTF8Safe: valid UTF-8 is unchanged, other bytes become \xNN.
func TestUTF8Safe(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"plain":           "plain",
		"é€😀":             "é€😀",
		"\xff":            `\xff`,
		"a\x80b\xc3\xa9c": `a\x80béc`,
		"\xe2\x82":        `\xe2\x82`, // a truncated sequence: each byte
		"\x00\x7f":        "\x00\x7f", // control characters are UTF-8
	} {
		got := utf8Safe(in)
		if got != want || !utf8.ValidString(got) {
			t.Errorf("utf8Safe(%q) = %q, want %q", in, got, want)
		}
	}
}

// escaped is the non-UTF-8 rule written out plainly, for checks.
func escaped(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)

// wantNanos is the nanosecond time a time value maps to.
func wantNanos(v value.Value) int64 {
	if s := v.Seconds(); v.SecondsForm() && !math.IsNaN(s) && math.Abs(s) < 9e9 {
		return int64(math.Round(s*1e6)) * 1000
	}
	return v.Nanos()
}

func sameFloat(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// checkAny checks that a is the mapping of v by the value rules.
func checkAny(t *testing.T, where string, v value.Value, a *commonpb.AnyValue, ports portForm) {
	t.Helper()
	if a == nil {
		t.Errorf("%s: no value for %v", where, v)
		return
	}
	bad := func() { t.Helper(); t.Errorf("%s: %s %v mapped to %v", where, v.Kind(), v, a) }
	switch v.Kind() {
	case value.KindNone:
		if a.Value != nil {
			bad()
		}
	case value.KindBool:
		if x, ok := a.Value.(*commonpb.AnyValue_BoolValue); !ok || x.BoolValue != v.Bool() {
			bad()
		}
	case value.KindCount:
		if c := v.Count(); c <= math.MaxInt64 {
			if x, ok := a.Value.(*commonpb.AnyValue_IntValue); !ok || x.IntValue != int64(c) {
				bad()
			}
		} else if x, ok := a.Value.(*commonpb.AnyValue_StringValue); !ok || x.StringValue != strconv.FormatUint(c, 10) {
			bad()
		}
	case value.KindInt:
		if x, ok := a.Value.(*commonpb.AnyValue_IntValue); !ok || x.IntValue != v.Int() {
			bad()
		}
	case value.KindPort:
		if ports == portText {
			want := fmt.Sprintf("%d/%s", v.Port().Num, v.Port().Proto)
			if x, ok := a.Value.(*commonpb.AnyValue_StringValue); !ok || x.StringValue != want {
				bad()
			}
		} else if x, ok := a.Value.(*commonpb.AnyValue_IntValue); !ok || x.IntValue != int64(v.Port().Num) {
			bad()
		}
	case value.KindReal:
		if x, ok := a.Value.(*commonpb.AnyValue_DoubleValue); !ok || !sameFloat(x.DoubleValue, v.Real()) {
			bad()
		}
	case value.KindInterval:
		if x, ok := a.Value.(*commonpb.AnyValue_DoubleValue); !ok || !sameFloat(x.DoubleValue, v.Seconds()) {
			bad()
		}
	case value.KindString, value.KindEnum:
		if x, ok := a.Value.(*commonpb.AnyValue_StringValue); !ok || x.StringValue != escaped(v.Str()) {
			bad()
		}
	case value.KindAddr:
		x, ok := a.Value.(*commonpb.AnyValue_StringValue)
		if !ok {
			bad()
			return
		}
		if got, err := netip.ParseAddr(x.StringValue); err != nil || got != v.Addr() {
			bad()
		}
	case value.KindSubnet:
		x, ok := a.Value.(*commonpb.AnyValue_StringValue)
		if !ok {
			bad()
			return
		}
		if got, err := netip.ParsePrefix(x.StringValue); err != nil || got != v.Subnet() {
			bad()
		}
	case value.KindTime:
		x, ok := a.Value.(*commonpb.AnyValue_StringValue)
		if !ok || !timeRE.MatchString(x.StringValue) {
			bad()
			return
		}
		if got, err := time.Parse(time.RFC3339Nano, x.StringValue); err != nil || got.UnixNano() != wantNanos(v) {
			bad()
		}
	case value.KindSet, value.KindVector:
		x, ok := a.Value.(*commonpb.AnyValue_ArrayValue)
		if !ok || len(x.ArrayValue.GetValues()) != len(v.Elems()) {
			bad()
			return
		}
		for i, e := range v.Elems() {
			checkAny(t, fmt.Sprintf("%s[%d]", where, i), e, x.ArrayValue.Values[i], ports)
		}
	case value.KindTable:
		x, ok := a.Value.(*commonpb.AnyValue_ArrayValue)
		if !ok || len(x.ArrayValue.GetValues()) != v.Len() {
			bad()
			return
		}
		for i := range v.Len() {
			e := v.Entry(i)
			pair, ok := x.ArrayValue.Values[i].GetValue().(*commonpb.AnyValue_ArrayValue)
			if !ok || len(pair.ArrayValue.GetValues()) != 2 {
				bad()
				return
			}
			checkAny(t, fmt.Sprintf("%s[%d].key", where, i), e.Key, pair.ArrayValue.Values[0], ports)
			checkAny(t, fmt.Sprintf("%s[%d].value", where, i), e.Value, pair.ArrayValue.Values[1], ports)
		}
	case value.KindRecord:
		x, ok := a.Value.(*commonpb.AnyValue_KvlistValue)
		if !ok {
			bad()
			return
		}
		kvs := x.KvlistValue.GetValues()
		j := 0
		for i, f := range v.Elems() {
			if f.IsNone() {
				continue
			}
			if j >= len(kvs) || kvs[j].Key != escaped(v.FieldName(i)) {
				bad()
				return
			}
			checkAny(t, where+"."+v.FieldName(i), f, kvs[j].Value, ports)
			j++
		}
		if j != len(kvs) {
			bad()
		}
	default:
		t.Errorf("%s: unexpected kind %s", where, v.Kind())
	}
}

// attrs returns the attributes as a map, failing on duplicate keys.
func attrs(t *testing.T, kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	t.Helper()
	m := make(map[string]*commonpb.AnyValue, len(kvs))
	for _, kv := range kvs {
		if _, dup := m[kv.Key]; dup {
			t.Errorf("attribute %q twice", kv.Key)
		}
		m[kv.Key] = kv.Value
	}
	return m
}

// pushed is one message pushed, with the receive-time bounds and a check
// of the records it must give.
type pushed struct {
	msg    [][]byte
	n      int // records it gives
	check  func(t *testing.T, recs []*logspb.LogRecord, lo, hi int64)
	lo, hi int64
}

// checkEnvelope checks the attributes every event record has, and its
// times.
func checkEvent(t *testing.T, rec *logspb.LogRecord, frames [][]byte, ev *value.Event, lo, hi int64) {
	t.Helper()
	a := attrs(t, rec.Attributes)
	want := map[string]string{
		AttrMessagingSystem: "zeromq", AttrDestination: escaped(string(frames[0])),
		AttrNodeID: escaped(string(frames[1])), AttrFormat: string(frames[2]),
	}
	if len(a) != len(want) {
		t.Errorf("event %q: attributes %v", ev.Name, rec.Attributes)
	}
	for k, v := range want {
		if !proto.Equal(a[k], sv(v)) {
			t.Errorf("event %q: attribute %s = %v, want %q", ev.Name, k, a[k], v)
		}
	}
	if rec.EventName != escaped(ev.Name) {
		t.Errorf("EventName %q, want %q", rec.EventName, escaped(ev.Name))
	}
	obs := int64(rec.ObservedTimeUnixNano)
	if obs < lo || obs > hi {
		t.Errorf("event %q: observed time %d outside the push [%d, %d]", ev.Name, obs, lo, hi)
	}
	if ns, ok := ev.NetworkTimestamp(); ok && ns > 0 {
		if rec.TimeUnixNano != uint64(ns) {
			t.Errorf("event %q: time %d, want the network timestamp %d", ev.Name, rec.TimeUnixNano, ns)
		}
	} else if rec.TimeUnixNano != rec.ObservedTimeUnixNano {
		t.Errorf("event %q without network timestamp: time %d, want the receive time %d", ev.Name, rec.TimeUnixNano, rec.ObservedTimeUnixNano)
	}
	args := rec.Body.GetArrayValue()
	if args == nil || len(args.Values) != len(ev.Args) {
		t.Errorf("event %q: body %v, want an array of %d arguments", ev.Name, rec.Body, len(ev.Args))
		return
	}
	for i, arg := range ev.Args {
		checkAny(t, fmt.Sprintf("%s arg %d", ev.Name, i), arg, args.Values[i], portText)
	}
}

// checkLog checks the records of a log batch against the decoded batch.
func checkLog(t *testing.T, recs []*logspb.LogRecord, frames [][]byte, b *value.LogBatch, lo, hi int64) {
	t.Helper()
	if len(recs) != len(b.Records) {
		t.Fatalf("%d records, want %d", len(recs), len(b.Records))
	}
	for r, rec := range recs {
		row := b.Records[r]
		where := fmt.Sprintf("%s record %d", b.Path, r)
		if rec.EventName != "zeek.log."+escaped(b.Path) {
			t.Errorf("%s: EventName %q", where, rec.EventName)
		}
		if rec.Body != nil {
			t.Errorf("%s: body %v, want none", where, rec.Body)
		}
		a := attrs(t, rec.Attributes)
		set := 0
		var ts value.Value
		for i, f := range b.Fields {
			if f.Name == "ts" && f.Type.Tag == value.TypeTime {
				ts = row[i]
			}
			got, ok := a[escaped(f.Name)]
			if row[i].IsNone() {
				if ok {
					t.Errorf("%s: unset %s present as %v", where, f.Name, got)
				}
				continue
			}
			set++
			checkAny(t, where+" "+f.Name, row[i], got, portNumber)
		}
		for k, v := range map[string]string{
			AttrLogPath: escaped(b.Path), AttrNodeID: escaped(string(frames[1])),
			AttrMessagingSystem: "zeromq", AttrDestination: escaped(string(frames[0])),
		} {
			if !proto.Equal(a[k], sv(v)) {
				t.Errorf("%s: attribute %s = %v, want %q", where, k, a[k], v)
			}
		}
		if len(a) != set+4 {
			t.Errorf("%s: %d attributes, want %d set columns + 4", where, len(a), set)
		}
		obs := int64(rec.ObservedTimeUnixNano)
		if obs < lo || obs > hi {
			t.Errorf("%s: observed time %d outside the push [%d, %d]", where, obs, lo, hi)
		}
		if ns := wantNanos(ts); ts.Kind() == value.KindTime && ns > 0 {
			if rec.TimeUnixNano != uint64(ns) {
				t.Errorf("%s: time %d, want ts %d", where, rec.TimeUnixNano, ns)
			}
		} else if rec.TimeUnixNano != rec.ObservedTimeUnixNano {
			t.Errorf("%s without ts: time %d, want the receive time", where, rec.TimeUnixNano)
		}
	}
}

// checkZeekJSON checks log records against the JSON lines Zeek's own
// logger wrote for the same batch: every key is an attribute of the JSON
// type (integers as IntValue, numbers with a fraction as DoubleValue,
// strings, bools, arrays), ts is the RFC 3339 time and the record's time,
// and there is nothing else but the four attributes of the sink.
func checkZeekJSON(t *testing.T, recs []*logspb.LogRecord, file string, first int) {
	t.Helper()
	dir, err := zeektest.VectorsDir()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "expected", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < first+len(recs) {
		t.Fatalf("%s has %d lines, want %d", file, len(lines), first+len(recs))
	}
	for r, rec := range recs {
		d := json.NewDecoder(strings.NewReader(lines[first+r]))
		d.UseNumber()
		var obj map[string]any
		if err := d.Decode(&obj); err != nil {
			t.Fatal(err)
		}
		a := attrs(t, rec.Attributes)
		if len(a) != len(obj)+4 {
			t.Errorf("%s line %d: %d attributes, Zeek logged %d fields", file, first+r+1, len(a), len(obj))
		}
		for k, jv := range obj {
			where := fmt.Sprintf("%s line %d %s", file, first+r+1, k)
			if k == "ts" {
				sec, _ := jv.(json.Number).Float64()
				want := int64(math.Round(sec*1e6)) * 1000
				got, err := time.Parse(time.RFC3339Nano, a[k].GetStringValue())
				if err != nil || got.UnixNano() != want || rec.TimeUnixNano != uint64(want) {
					t.Errorf("%s: %v / time %d, want %d", where, a[k], rec.TimeUnixNano, want)
				}
				continue
			}
			checkJSON(t, where, jv, a[k])
		}
	}
}

func checkJSON(t *testing.T, where string, jv any, a *commonpb.AnyValue) {
	t.Helper()
	ok := false
	switch x := jv.(type) {
	case json.Number:
		if strings.ContainsAny(x.String(), ".eE") {
			f, _ := x.Float64()
			_, isD := a.GetValue().(*commonpb.AnyValue_DoubleValue)
			ok = isD && a.GetDoubleValue() == f
		} else {
			n, _ := x.Int64()
			_, isI := a.GetValue().(*commonpb.AnyValue_IntValue)
			ok = isI && a.GetIntValue() == n
		}
	case string:
		_, isS := a.GetValue().(*commonpb.AnyValue_StringValue)
		ok = isS && a.GetStringValue() == x
	case bool:
		_, isB := a.GetValue().(*commonpb.AnyValue_BoolValue)
		ok = isB && a.GetBoolValue() == x
	case []any:
		arr := a.GetArrayValue()
		ok = arr != nil && len(arr.Values) == len(x)
		if ok {
			for i, e := range x {
				checkJSON(t, fmt.Sprintf("%s[%d]", where, i), e, arr.Values[i])
			}
		}
	}
	if !ok {
		t.Errorf("%s: Zeek logged %v (%T), attribute is %v", where, jv, jv, a)
	}
}

// allTypesBatch is a log batch with a column of every loggable type, a
// set and a vector of each element type, unset columns and vector holes,
// counts above MaxInt64 and strings that are not UTF-8.
func allTypesBatch(t *testing.T, seed uint64) *value.LogBatch {
	scalars := []value.TypeTag{value.TypeBool, value.TypeInt, value.TypeCount, value.TypeDouble, value.TypeTime,
		value.TypeInterval, value.TypeString, value.TypeEnum, value.TypePort, value.TypeAddr, value.TypeSubnet,
		value.TypeFunc, value.TypeFile}
	b := &value.LogBatch{Stream: "All::LOG", Writer: "Log::WRITER_ASCII", Filter: "default", Path: "all_types\xff"}
	b.Fields = append(b.Fields, value.Field{Name: "ts", Type: value.Type{Tag: value.TypeTime}, Optional: true})
	for _, tag := range scalars {
		b.Fields = append(b.Fields,
			value.Field{Name: "c_" + tag.String(), Type: value.Type{Tag: tag}, Optional: true},
			value.Field{Name: "set_" + tag.String(), Type: value.Type{Tag: value.TypeTable, Sub: tag}, Optional: true},
			value.Field{Name: "vec_" + tag.String(), Type: value.Type{Tag: value.TypeVector, Sub: tag}, Optional: true})
	}
	b.Fields = append(b.Fields, value.Field{Name: "name\xfe", Type: value.Type{Tag: value.TypeString}})
	g := valuetest.New(seed)
	g.Seconds = true
	for r := range 12 {
		row := make([]value.Value, len(b.Fields))
		for i, f := range b.Fields {
			if r%4 != 0 && g.R.IntN(4) == 0 {
				continue // unset
			}
			row[i] = g.Column(f.Type)
		}
		row[len(row)-1] = value.String(g.Bytes())
		b.Records = append(b.Records, row)
	}
	// Corners written out.
	corner := make([]value.Value, len(b.Fields))
	corner[0] = value.TimeSeconds(1700000000.25)
	for i, f := range b.Fields {
		switch f.Name {
		case "c_count":
			corner[i] = value.Count(math.MaxUint64)
		case "set_count":
			corner[i] = value.Set(value.Count(1<<63), value.Count(7))
		case "vec_string":
			corner[i] = value.Vector(value.String("ok"), value.None(), value.String("bad\xff"))
		case "c_addr":
			corner[i] = value.Addr(netip.MustParseAddr("::1.2.3.4"))
		}
	}
	corner[len(corner)-1] = value.String("\xc3")
	b.Records = append(b.Records, corner)
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	return b
}

// logMsg encodes a log batch as Zeek sends it.
func logMsg(t *testing.T, b *value.LogBatch) ([][]byte, *value.LogBatch) {
	t.Helper()
	payload, err := zeeklog.Append(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := zeeklog.Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{[]byte("log-write"), []byte("zeromq_worker-1_vm_1_Nx"), []byte(codec.FormatZeekLog), payload}, decoded
}

// eventMsg encodes an event in broker-bin-v1 (or msgpack, which carries
// records) and decodes it back, for the reference.
func eventMsg(t *testing.T, topic string, ev *value.Event, msgpack bool) ([][]byte, *value.Event) {
	t.Helper()
	format := codec.FormatBrokerBin
	var payload []byte
	var err error
	if msgpack {
		format = zmsgpack.Format
		payload, err = zmsgpack.AppendEvent(nil, ev)
	} else {
		payload, err = brokerbin.AppendEvent(nil, ev)
	}
	if err != nil {
		t.Fatal(err)
	}
	var back value.Event
	if msgpack {
		back, err = zmsgpack.DecodeEvent(payload)
	} else {
		back, err = brokerbin.DecodeEvent(payload)
	}
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{[]byte(topic), []byte("zeromq_manager_vm_2_\xffNy"), []byte(format), payload}, &back
}

// mappingInput is every kind of message of the mapping tests.
func mappingInput(t *testing.T) []*pushed {
	var in []*pushed
	// The captured test_event, checked value by value.
	te := zeektest.MustVector(t, "zeek-event-test_event.hex")
	in = append(in, &pushed{msg: te, n: 1, check: func(t *testing.T, recs []*logspb.LogRecord, lo, hi int64) {
		ev, err := brokerbin.DecodeEvent(te[3])
		if err != nil {
			t.Fatal(err)
		}
		checkEvent(t, recs[0], te, &ev, lo, hi)
		want := av(sv("hello"), iv(42), iv(-7), dv(3.25), bv(true), sv("192.168.1.2"), sv("2001:db8::1"),
			sv("10.0.0.0/8"), sv("443/tcp"), sv("2023-11-14T22:13:20.500000000Z"), dv(90), av(iv(1), iv(2), iv(3)),
			av(sv("x"), sv("y")), av(av(sv("one"), iv(1)), av(sv("two"), iv(2))),
			av(sv("rec"), iv(5), av(sv("a"), sv("b")), empty()), sv("udp"))
		if !proto.Equal(recs[0].Body, want) {
			t.Errorf("test_event body\n%v\nwant\n%v", recs[0].Body, want)
		}
		if recs[0].EventName != "test_event" || recs[0].TimeUnixNano != recs[0].ObservedTimeUnixNano {
			t.Errorf("test_event: name %q, time %d, observed %d", recs[0].EventName, recs[0].TimeUnixNano, recs[0].ObservedTimeUnixNano)
		}
	}})
	// Captured log batches, against Zeek's own JSON logs.
	for _, v := range []struct {
		vector, json string
		n            int
	}{
		{"zeek-log-conn-7rec.hex", "captured-batches-only/json/conn.log", 7},
		{"zeek-log-dns-8rec.hex", "json/dns.log", 8},
		{"zeek-log-test.hex", "json/test.log", 2},
	} {
		msg := zeektest.MustVector(t, v.vector)
		in = append(in, &pushed{msg: msg, n: v.n, check: func(t *testing.T, recs []*logspb.LogRecord, lo, hi int64) {
			b, err := zeeklog.Decode(msg[3])
			if err != nil {
				t.Fatal(err)
			}
			checkLog(t, recs, msg, b, lo, hi)
			checkZeekJSON(t, recs, v.json, 0)
		}})
	}
	// Generated events: broker-bin-v1, and msgpack with records.
	g := valuetest.New(7)
	for i := range 40 {
		ev := g.Event()
		msgpack := i%4 == 3
		if msgpack {
			ev.Args = append(ev.Args, g.OfKind(value.KindRecord, 1), value.Count(math.MaxUint64))
		}
		if i == 5 {
			ev.SetNetworkTimestamp(1_700_000_000_123_456_789)
		}
		msg, back := eventMsg(t, "zeek/topic/"+strconv.Itoa(i), &ev, msgpack)
		in = append(in, &pushed{msg: msg, n: 1, check: func(t *testing.T, recs []*logspb.LogRecord, lo, hi int64) {
			checkEvent(t, recs[0], msg, back, lo, hi)
		}})
	}
	// Generated batches of every type.
	for seed := range uint64(3) {
		msg, back := logMsg(t, allTypesBatch(t, seed))
		in = append(in, &pushed{msg: msg, n: len(back.Records), check: func(t *testing.T, recs []*logspb.LogRecord, lo, hi int64) {
			checkLog(t, recs, msg, back, lo, hi)
			if seed == 0 {
				last := attrs(t, recs[len(recs)-1].Attributes)
				for k, want := range map[string]*commonpb.AnyValue{
					"c_count":       sv("18446744073709551615"),
					"set_count":     av(sv("9223372036854775808"), iv(7)),
					"vec_string":    av(sv("ok"), empty(), sv(`bad\xff`)),
					"c_addr":        sv("::1.2.3.4"),
					`name\xfe`:      sv(`\xc3`),
					"ts":            sv("2023-11-14T22:13:20.250000000Z"),
					AttrLogPath:     sv(`all_types\xff`),
					AttrNodeID:      sv("zeromq_worker-1_vm_1_Nx"),
					AttrDestination: sv("log-write"),
				} {
					if !proto.Equal(last[k], want) {
						t.Errorf("corner record: %s = %v, want %v", k, last[k], want)
					}
				}
			}
		}})
	}
	return in
}

// TestMappingOverTheWire: events and log batches pushed into the sink
// arrive at a real collector with exactly the documented mapping, over
// gRPC and over HTTP.
func TestMappingOverTheWire(t *testing.T) {
	for _, protocol := range []string{ProtocolGRPC, ProtocolHTTP} {
		t.Run(protocol, func(t *testing.T) {
			col := startCollector(t, protocol, nil)
			s, _ := newSink(t, map[string]any{"endpoint": col.endpoint(), "protocol": protocol, "insecure": true,
				"batch_size": 16, "batch_timeout": "20ms", "resource": map[string]string{"service.name": "zeek", "deployment.environment": "test"}})
			finish := run(t, s)
			in := mappingInput(t)
			for i := 0; i < len(in); i += 3 { // three messages per push
				group := in[i:min(i+3, len(in))]
				var msgs [][][]byte
				for _, p := range group {
					msgs = append(msgs, p.msg)
				}
				lo := time.Now().UnixNano()
				if err := s.Push(context.Background(), stagetest.Batch(msgs...)); err != nil {
					t.Fatal(err)
				}
				hi := time.Now().UnixNano()
				for _, p := range group {
					p.lo, p.hi = lo, hi
				}
			}
			if err := finish(); err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, p := range in {
				total += p.n
			}
			recs := col.Records()
			if len(recs) != total {
				t.Fatalf("collector got %d records, want %d", len(recs), total)
			}
			st := s.Stats()
			if st.Received != uint64(len(in)) || st.Sent != uint64(total) || st.Depth != 0 {
				t.Fatalf("stats %+v, want %d received, %d sent", st, len(in), total)
			}
			for reason, n := range st.Dropped {
				if n != 0 {
					t.Errorf("dropped %d for %s", n, reason)
				}
			}
			for _, req := range col.Requests() {
				checkResourceScope(t, req.ResourceLogs, map[string]string{"service.name": "zeek", "deployment.environment": "test"})
			}
			at := 0
			for _, p := range in {
				p.check(t, recs[at:at+p.n], p.lo, p.hi)
				at += p.n
			}
		})
	}
}

func checkResourceScope(t *testing.T, rls []*logspb.ResourceLogs, resource map[string]string) {
	t.Helper()
	if len(rls) != 1 || len(rls[0].ScopeLogs) != 1 {
		t.Fatalf("want one resource and one scope, have %v", rls)
	}
	ra := attrs(t, rls[0].Resource.GetAttributes())
	if len(ra) != len(resource) {
		t.Errorf("resource attributes %v, want %v", ra, resource)
	}
	for k, v := range resource {
		if !proto.Equal(ra[k], sv(v)) {
			t.Errorf("resource %s = %v, want %q", k, ra[k], v)
		}
	}
	sc := rls[0].ScopeLogs[0].Scope
	sa := attrs(t, sc.GetAttributes())
	if sc.GetName() != ScopeName || !proto.Equal(sa[AttrComponent], sv("sink.otlp.test")) || !proto.Equal(sa[AttrPipeline], sv("p")) {
		t.Errorf("scope %v", sc)
	}
}
