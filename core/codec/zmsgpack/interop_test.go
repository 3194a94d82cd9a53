package zmsgpack

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/value"
)

// TestOtherImplementationReadsDocuments has an independent MessagePack
// implementation walk every document made from the Zeek wire vectors: they
// are well-formed MessagePack, and times come out as the same instants.
func TestOtherImplementationReadsDocuments(t *testing.T) {
	var docs [][]byte
	for _, vec := range eventVectors(t) {
		ev, err := vec.codec.DecodeEvent(vec.payload)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := AppendEvent(nil, &ev)
		docs = append(docs, doc)
	}
	for _, payload := range logVectors(t) {
		b, err := zeeklog.Decode(payload)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := AppendLogBatch(nil, b)
		docs = append(docs, doc)
	}
	for _, doc := range docs {
		dec := msgpack.NewDecoder(bytes.NewReader(doc))
		if err := dec.Skip(); err != nil {
			t.Fatalf("vmihailenco/msgpack cannot walk % x: %v", doc, err)
		}
		if _, err := dec.PeekCode(); !errors.Is(err, io.EOF) {
			t.Fatalf("vmihailenco/msgpack sees more after the document: %v", err)
		}
	}
	for _, ns := range []int64{0, 1_700_000_000_000_000_000, 1_700_000_000_123_456_789, -1, 2_000_000_000_999_999_999} {
		enc, err := AppendValue(nil, value.Time(ns))
		if err != nil {
			t.Fatal(err)
		}
		var tm time.Time
		if err := msgpack.Unmarshal(enc, &tm); err != nil || tm.UnixNano() != ns {
			t.Errorf("time %d: vmihailenco/msgpack reads % x as %v (%v)", ns, enc, tm, err)
		}
	}
}

// TestProducerWithoutExtensions writes an event and a log batch the way a
// Go program would with a general-purpose MessagePack library: maps with
// keys in random order, time.Time for a time, plain integers, floats and
// strings in log records. zmsgpack reads them as typed values.
func TestProducerWithoutExtensions(t *testing.T) {
	when := time.Unix(1700000000, 500_000_000)
	evDoc, err := msgpack.Marshal(map[string]any{
		"event": "Demo::ping",
		"args":  []any{uint64(7), "hello", when, -3, []any{uint64(1), uint64(2)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := DecodeEvent(evDoc)
	if err != nil {
		t.Fatalf("decode % x: %v", evDoc, err)
	}
	sameEvent(t, ev, value.Event{Name: "Demo::ping", Args: []value.Value{
		value.Count(7), value.String("hello"), value.Time(when.UnixNano()), value.Int(-3),
		value.Vector(value.Count(1), value.Count(2)),
	}})

	type field struct {
		Name     string `msgpack:"name"`
		Type     string `msgpack:"type"`
		Subtype  string `msgpack:"subtype,omitempty"`
		Optional bool   `msgpack:"optional,omitempty"`
	}
	logDoc, err := msgpack.Marshal(map[string]any{
		"log":  "Conn::LOG",
		"path": "conn",
		"fields": []field{
			{Name: "ts", Type: "time"}, {Name: "id.orig_h", Type: "addr"}, {Name: "id.orig_p", Type: "port"},
			{Name: "proto", Type: "enum"}, {Name: "orig_bytes", Type: "count", Optional: true},
			{Name: "missed", Type: "int"}, {Name: "tunnel_parents", Type: "table", Subtype: "string", Optional: true},
		},
		"records": [][]any{
			{1210953047.736921, "192.168.2.16", "1576/tcp", "tcp", 0, 12, []string{"CHhAvVGS1DHFjwGM9"}},
			{1210953050.867067, "2001:db8::1", "53/udp", "udp", nil, -4, nil},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeLogBatch(logDoc)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := [][]value.Value{
		{value.TimeSeconds(1210953047.736921), value.Addr(netip.MustParseAddr("192.168.2.16")), value.PortOf(1576, value.ProtoTCP),
			value.Enum("tcp"), value.Count(0), value.Int(12), value.Set(value.String("CHhAvVGS1DHFjwGM9"))},
		{value.TimeSeconds(1210953050.867067), value.Addr(netip.MustParseAddr("2001:db8::1")), value.PortOf(53, value.ProtoUDP),
			value.Enum("udp"), value.None(), value.Int(-4), value.None()},
	}
	if b.Stream != "Conn::LOG" || b.Writer != DefaultWriter || b.Filter != DefaultFilter || len(b.Records) != 2 {
		t.Fatalf("batch %+v", b)
	}
	for r := range want {
		for i := range want[r] {
			if !value.Equal(b.Records[r][i], want[r][i]) {
				t.Errorf("record %d field %s = %v (%s), want %v", r, b.Fields[i].Name, b.Records[r][i], b.Records[r][i].Kind(), want[r][i])
			}
		}
	}
	// Such a batch encodes as Zeek's log format.
	if _, err := zeeklog.Append(nil, b); err != nil {
		t.Fatal(err)
	}
}
