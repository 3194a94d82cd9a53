package jsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/value/valuetest"
	"github.com/zpipe/zpipe/internal/vectors"
)

func readLines(t *testing.T, rel string) []string {
	t.Helper()
	f, err := os.Open(vectors.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func renderBatches(t *testing.T, rels ...string) []string {
	t.Helper()
	var out []byte
	for _, rel := range rels {
		b, err := zeeklog.Decode(vectors.Payload(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		out = AppendLog(out, b, LogOptions{})
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d lines, Zeek wrote %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
}

// TestZeekJSONLogs renders the captured batches and compares them byte for
// byte with what Zeek's own JSON log writer wrote for them.
func TestZeekJSONLogs(t *testing.T) {
	sameLines(t, renderBatches(t, "captured/zeek-log-test.hex"), readLines(t, "captured/expected/json/test.log"))
	sameLines(t, renderBatches(t, "captured/zeek-log-dns-8rec.hex"), readLines(t, "captured/expected/json/dns.log"))
	sameLines(t, renderBatches(t, "captured/zeek-log-conn-7rec.hex", "captured/zeek-log-conn-1rec-a.hex", "captured/zeek-log-conn-1rec-b.hex"),
		readLines(t, "captured/expected/captured-batches-only/json/conn.log"))
	// In the full conn.log, the 7-record batch is rows 1-7, 1rec-a row 8
	// and 1rec-b row 16.
	all := readLines(t, "captured/expected/json/conn.log")
	sameLines(t, renderBatches(t, "captured/zeek-log-conn-7rec.hex"), all[:7])
	sameLines(t, renderBatches(t, "captured/zeek-log-conn-1rec-a.hex"), all[7:8])
	sameLines(t, renderBatches(t, "captured/zeek-log-conn-1rec-b.hex"), all[15:16])
}

func TestPathOption(t *testing.T) {
	b, err := zeeklog.Decode(vectors.Payload(t, "captured/zeek-log-test.hex"))
	if err != nil {
		t.Fatal(err)
	}
	out := string(AppendLog(nil, b, LogOptions{Path: true}))
	if !strings.HasPrefix(out, `{"_path":"test","ts":1700000000.25,`) || strings.Count(out, "\n") != 2 {
		t.Fatalf("with path: %s", out)
	}
}

// TestDoubles checks rapidjson's number forms.
func TestDoubles(t *testing.T) {
	cases := []struct {
		f    float64
		want string
	}{
		{0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1, "1.0"}, {-0.5, "-0.5"}, {1.5, "1.5"},
		{60, "60.0"}, {1700000001, "1700000001.0"}, {1700000000.25, "1700000000.25"},
		{0.00035691261291503906, "0.00035691261291503906"}, {1e-6, "0.000001"}, {1.5e-7, "1.5e-7"},
		{1e-7, "1e-7"}, {123456789012345678901, "123456789012345680000.0"}, {1e21, "1e21"}, {9.5e20, "950000000000000000000.0"},
		{1e22, "1e22"}, {1.25e22, "1.25e22"}, {math.MaxFloat64, "1.7976931348623157e308"},
		{5e-324, "5e-324"}, {math.NaN(), "null"}, {math.Inf(1), "null"}, {math.Inf(-1), "null"},
	}
	for _, c := range cases {
		if got := string(appendDouble(nil, c.f)); got != c.want {
			t.Errorf("%g: %s, want %s", c.f, got, c.want)
		}
		if c.want != "null" {
			back, err := strconv.ParseFloat(c.want, 64)
			if err != nil || back != c.f {
				t.Errorf("%s does not read back as %g", c.want, c.f)
			}
		}
	}
}

// TestDoublesPlainRange: the plain notation's shortcut (strconv's 'f'
// form from 1e-6 to 1e21) writes what the general way writes, for random
// doubles of every magnitude and the neighbours of the bounds.
func TestDoublesPlainRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var fs []float64
	for range 200000 {
		fs = append(fs, math.Float64frombits(rng.Uint64()), (rng.Float64()-0.5)*math.Pow(10, float64(rng.IntN(50)-25)),
			float64(rng.IntN(1<<20))/float64(int(1)<<rng.IntN(30)))
	}
	for _, b := range []float64{1e-6, 1e21, 1, 10, 0.1} {
		for _, f := range []float64{b, math.Nextafter(b, 0), math.Nextafter(b, math.Inf(1))} {
			fs = append(fs, f, -f)
		}
	}
	for _, f := range fs {
		if got, want := appendDouble(nil, f), appendDoubleDigits(nil, f); string(got) != string(want) {
			t.Fatalf("%b (%g): %s, want %s", f, f, got, want)
		}
	}
}

// TestStringsByRune: strings of random bytes are written as by escaping
// them rune by rune (bytes that are not UTF-8 as \\xNN, then rapidjson's
// escapes), whatever runs of plain bytes come between.
func TestStringsByRune(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("ab\"\\\n\x00\x1f\x7f\xc3\xa9\xe2\x82\xac\xff\xf0\x9f\x98\x80 ")
	for range 20000 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		var want []byte
		want = append(want, '"')
		for i := 0; i < len(b); {
			r, size := utf8.DecodeRune(b[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				want = fmt.Appendf(want, `\\x%02x`, b[i])
			case r == '"' || r == '\\':
				want = append(want, '\\', byte(r))
			case r < 0x20:
				want = append(want, map[rune]string{'\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`}[r]...)
				if r != '\b' && r != '\f' && r != '\n' && r != '\r' && r != '\t' {
					want = fmt.Appendf(want, `\u%04X`, r)
				}
			default:
				want = append(want, b[i:i+size]...)
			}
			i += size
		}
		want = append(want, '"')
		if got := appendString(nil, string(b)); string(got) != string(want) {
			t.Fatalf("%q: %s, want %s", b, got, want)
		}
	}
}

func TestStrings(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"\b\f\n\r\t\x01\x1f\x7f", `"\b\f\n\r\t\u0001\u001F` + "\x7f" + `"`},
		{"é€😀/", `"é€😀/"`},
		{"a\xffb\xc3", `"a\\xffb\\xc3"`},
	}
	for _, c := range cases {
		got := string(appendString(nil, c.in))
		if got != c.want {
			t.Errorf("%q: %s, want %s", c.in, got, c.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("%q: %s is not valid JSON", c.in, got)
		}
	}
}

// TestEvent renders the captured test_event, which has an argument of
// every kind.
func TestEvent(t *testing.T) {
	frames := vectors.Frames(t, vectors.Path(t, "captured/zeek-event-test_event.hex"))
	ev, err := brokerbin.DecodeEvent(frames[3])
	if err != nil {
		t.Fatal(err)
	}
	env := Envelope{Time: time.Unix(1700000002, 250_000_000), Topic: string(frames[0]), Sender: "worker-1", Format: string(frames[2])}
	got := string(AppendEvent(nil, env, &ev))
	want := `{"ts":1700000002.25,"topic":"zeek.test.events","sender":"worker-1","format":"broker-bin-v1","event":"test_event",` +
		`"args":["hello",42,-7,3.25,true,"192.168.1.2","2001:db8::1","10.0.0.0/8","443/tcp",1700000000.5,90.0,[1,2,3],["x","y"],` +
		`[["one",1],["two",2]],["rec",5,["a","b"],null],"udp"]}` + "\n"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// Without an envelope only the event is written; the network
	// timestamp stands in for the receive time; records are objects.
	ev = value.Event{Name: "e", Args: []value.Value{value.Record(
		value.RecordField{Name: "a", Value: value.Count(1)}, value.RecordField{Name: "b"})}}
	ev.SetNetworkTimestamp(1_500_000_000_000_000_000)
	got = string(AppendEvent(nil, Envelope{}, &ev))
	want = `{"ts":1500000000.0,"event":"e","args":[{"a":1}],"metadata":[{"id":1,"value":1500000000.0}]}` + "\n"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestAlwaysValidJSON renders generated events and batches, whatever their
// strings and reals hold, and requires one valid JSON object per line.
func TestAlwaysValidJSON(t *testing.T) {
	g := valuetest.New(3)
	g.Subnormals = true
	for i := range 500 {
		ev := g.Event()
		line := AppendEvent(nil, Envelope{Topic: g.Bytes(), Sender: g.Bytes()}, &ev)
		checkLines(t, line, 1)
		b := g.LogBatch()
		checkLines(t, AppendLog(nil, b, LogOptions{Path: i%2 == 0}), len(b.Records))
	}
}

func checkLines(t *testing.T, out []byte, n int) {
	t.Helper()
	if bytes.Count(out, []byte("\n")) != n {
		t.Fatalf("%d lines, want %d:\n%s", bytes.Count(out, []byte("\n")), n, out)
	}
	for _, line := range bytes.SplitAfter(out, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(line, &obj); err != nil {
			t.Fatalf("not a JSON object (%v): %s", err, line)
		}
	}
}
