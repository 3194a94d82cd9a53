package value_test

import (
	"encoding/json"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/value/valuetest"
)

func TestTypedJSONForms(t *testing.T) {
	cases := []struct {
		v    value.Value
		json string
	}{
		{value.None(), `{"@type":"none"}`},
		{value.Bool(true), `{"@type":"bool","value":true}`},
		{value.Count(math.MaxUint64), `{"@type":"count","value":"18446744073709551615"}`},
		{value.Int(-7), `{"@type":"int","value":"-7"}`},
		{value.Real(1.5), `{"@type":"real","value":1.5}`},
		{value.Real(1e21), `{"@type":"real","value":1e+21}`},
		{value.Real(math.NaN()), `{"@type":"real","value":"NaN"}`},
		{value.Real(math.Inf(-1)), `{"@type":"real","value":"-Inf"}`},
		{value.String("a\"\n\x01é"), `{"@type":"string","value":"a\"\n\u0001é"}`},
		{value.String("\xff\x00"), `{"@type":"string","value_base64":"/wA="}`},
		{value.Enum("Conn::LOG"), `{"@type":"enum","value":"Conn::LOG"}`},
		{value.Addr(netip.MustParseAddr("2001:db8::1")), `{"@type":"addr","value":"2001:db8::1"}`},
		{value.Subnet(netip.MustParsePrefix("10.0.0.0/8")), `{"@type":"subnet","value":"10.0.0.0/8"}`},
		{value.PortOf(0, value.ProtoUnknown), `{"@type":"port","value":"0/unknown"}`},
		{value.Time(1700000000500000001), `{"@type":"time","value":"2023-11-14T22:13:20.500000001Z"}`},
		{value.TimeSeconds(1700000000.25), `{"@type":"time","seconds":1700000000.25}`},
		{value.Interval(-90 * time.Second), `{"@type":"interval","value":"-1m30s"}`},
		{value.IntervalSeconds(0.00035691261291503906), `{"@type":"interval","seconds":0.00035691261291503906}`},
		{value.Set(value.Count(1)), `{"@type":"set","value":[{"@type":"count","value":"1"}]}`},
		{value.Table(value.Entry{Key: value.String("a"), Value: value.Bool(false)}), `{"@type":"table","value":[{"key":{"@type":"string","value":"a"},"value":{"@type":"bool","value":false}}]}`},
		{value.Vector(), `{"@type":"vector","value":[]}`},
		{value.Record(value.RecordField{Name: "a"}, value.RecordField{Name: "\xfe", Value: value.Int(1)}), `{"@type":"record","value":[{"name":"a","value":{"@type":"none"}},{"name_base64":"/g==","value":{"@type":"int","value":"1"}}]}`},
	}
	for _, c := range cases {
		out, err := json.Marshal(c.v)
		if err != nil || string(out) != c.json {
			t.Errorf("%v: %s, %v; want %s", c.v, out, err, c.json)
		}
		var back value.Value
		if err := json.Unmarshal([]byte(c.json), &back); err != nil || !value.Equal(back, c.v) {
			t.Errorf("%s: decoded %v, %v", c.json, back, err)
		}
	}
	// Numbers are accepted as well as strings; null is none.
	for in, want := range map[string]value.Value{
		`{"@type":"count","value":42}`:    value.Count(42),
		`{"@type":"int","value":-3}`:      value.Int(-3),
		`{"@type":"real","value":"+Inf"}`: value.Real(math.Inf(1)),
		`null`:                            value.None(),
		`{"@type":"time","value":"1970-01-01T01:00:00+01:00"}`: value.Time(0),
	} {
		var v value.Value
		if err := json.Unmarshal([]byte(in), &v); err != nil || !value.Equal(v, want) {
			t.Errorf("%s: decoded %v, %v", in, v, err)
		}
	}
}

func TestTypedJSONErrors(t *testing.T) {
	cases := map[string]string{
		`{"value":1}`:                                             `missing "@type"`,
		`{"@type":"float","value":1}`:                             `unknown value type "float"`,
		`{"@type":"count"}`:                                       `count: missing "value"`,
		`{"@type":"count","value":"-1"}`:                          "count: strconv.ParseUint",
		`{"@type":"count","value":1.5}`:                           "count: strconv.ParseUint",
		`{"@type":"int","value":"9223372036854775808"}`:           "int: strconv.ParseInt",
		`{"@type":"real","value":"many"}`:                         `real "many": want a number`,
		`{"@type":"string","value_base64":"!"}`:                   `"value_base64"`,
		`{"@type":"addr","value":"1.2.3"}`:                        "addr: ParseAddr",
		`{"@type":"addr","value":"fe80::1%eth0"}`:                 "zones are not supported",
		`{"@type":"subnet","value":"1.2.3.4"}`:                    "subnet: netip.ParsePrefix",
		`{"@type":"port","value":"80"}`:                           "want <number>/<protocol>",
		`{"@type":"time","value":"yesterday"}`:                    "time: parsing time",
		`{"@type":"time","value":"2300-01-01T00:00:00Z"}`:         "outside the years 1678 to 2262",
		`{"@type":"interval","value":"5 days"}`:                   "interval: time: ",
		`{"@type":"set","value":[{"@type":"count"}]}`:             `set: element 0: count: missing "value"`,
		`{"@type":"table","value":[{"key":{"@type":"none"}}]}`:    `entry 0: want {"key":…,"value":…}`,
		`{"@type":"record","value":[{"value":{"@type":"none"}}]}`: `field 0: missing "name"`,
		`[1]`: "typed value: json: cannot unmarshal array",
	}
	for in, want := range cases {
		var v value.Value
		err := json.Unmarshal([]byte(in), &v)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
	}
	deep := strings.Repeat(`{"@type":"vector","value":[`, 300) + strings.Repeat(`]}`, 300)
	var v value.Value
	if err := json.Unmarshal([]byte(deep), &v); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("deep nesting: %v", err)
	}
}

// TestTypedJSONRoundTrip carries generated values of every kind, in both
// time representations, through the typed JSON form without loss.
func TestTypedJSONRoundTrip(t *testing.T) {
	for _, seconds := range []bool{false, true} {
		g := valuetest.New(9)
		g.Seconds = seconds
		g.Subnormals = true
		for range 3000 {
			v := g.OfKind(value.KindRecord, 0)
			if g.R.IntN(2) == 0 {
				v = g.Value()
			}
			text, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var back value.Value
			if err := json.Unmarshal(text, &back); err != nil {
				t.Fatalf("%s: %v", text, err)
			}
			if !value.Equal(back, v) && !sameNaNs(back, v) {
				t.Fatalf("%s decoded to %v, want %v", text, back, v)
			}
		}
	}
}

// sameNaNs reports whether a and b differ only in NaN payloads, which the
// typed JSON form does not keep.
func sameNaNs(a, b value.Value) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb) && strings.Contains(string(ja), "NaN")
}

func TestEventJSON(t *testing.T) {
	ev := value.Event{Name: "Cluster::hello", Args: []value.Value{value.String("w"), value.Count(1)}}
	ev.SetNetworkTimestamp(5)
	text, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"name":"Cluster::hello","args":[{"@type":"string","value":"w"},{"@type":"count","value":"1"}],"metadata":[{"id":1,"value":{"@type":"time","value":"1970-01-01T00:00:00.000000005Z"}}]}`
	if string(text) != want {
		t.Fatalf("event JSON %s", text)
	}
	var back value.Event
	if err := json.Unmarshal(text, &back); err != nil {
		t.Fatal(err)
	}
	if ns, _ := back.NetworkTimestamp(); back.Name != ev.Name || len(back.Args) != 2 || !value.Equal(back.Args[1], ev.Args[1]) || ns != 5 {
		t.Fatalf("decoded %+v", back)
	}
	if text, _ := json.Marshal(value.Event{Name: "e"}); string(text) != `{"name":"e","args":[]}` {
		t.Fatalf("empty event JSON %s", text)
	}
	if _, err := json.Marshal(value.Event{Name: "\xff"}); err == nil {
		t.Fatal("non-UTF-8 event name marshaled")
	}
}

func TestLogBatchJSON(t *testing.T) {
	b := value.LogBatch{
		Stream: "Conn::LOG", Writer: "Log::WRITER_ASCII", Filter: "default", Path: "conn",
		Fields: []value.Field{
			{Name: "ts", Type: value.Type{Tag: value.TypeTime}, ValueSubtype: value.TypeError},
			{Name: "tunnel_parents", Type: value.Type{Tag: value.TypeTable, Sub: value.TypeString}, Optional: true},
		},
		Records: [][]value.Value{{value.TimeSeconds(1.5), value.None()}},
	}
	text, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"stream":"Conn::LOG","writer":"Log::WRITER_ASCII","filter":"default","path":"conn","fields":[{"name":"ts","type":"time","subtype":"void","optional":false,"value_subtype":"error"},{"name":"tunnel_parents","type":"table","subtype":"string","optional":true}],"records":[[{"@type":"time","seconds":1.5},{"@type":"none"}]]}`
	if string(text) != want {
		t.Fatalf("batch JSON %s", text)
	}
	var back value.LogBatch
	if err := json.Unmarshal(text, &back); err != nil {
		t.Fatal(err)
	}
	if back.Fields[0] != b.Fields[0] || back.Fields[1] != b.Fields[1] || !value.Equal(back.Records[0][0], b.Records[0][0]) {
		t.Fatalf("decoded %+v", back)
	}
	bad := strings.Replace(want, `"seconds":1.5`, `"value":"1m"`, 1)
	bad = strings.Replace(bad, `"@type":"time"`, `"@type":"interval"`, 1)
	if err := json.Unmarshal([]byte(bad), &back); err == nil || !strings.Contains(err.Error(), "want time for type time, have interval") {
		t.Fatalf("invalid batch: %v", err)
	}
	var tag value.TypeTag
	if err := json.Unmarshal([]byte(`14`), &tag); err != nil || tag != value.TypeTable {
		t.Fatalf("numeric tag: %v %v", tag, err)
	}
	if _, err := json.Marshal(value.LogBatch{Path: "\xff"}); err == nil {
		t.Fatal("non-UTF-8 path marshaled")
	}
}
