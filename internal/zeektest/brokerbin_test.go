package zeektest

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestEncodeReproducesCapturedHellos rebuilds the captured hello payloads
// from the node names and ids they carry.
func TestEncodeReproducesCapturedHellos(t *testing.T) {
	for _, tc := range []struct {
		file, event, name string
	}{
		{"zeek-event-zeromq-hello.hex", ZeroMQHelloEvent, "worker-1"},
		{"zeek-event-zeromq-hello-from-manager.hex", ZeroMQHelloEvent, "manager"},
		{"zeek-event-cluster-hello.hex", ClusterHelloEvent, "worker-1"},
		{"zeek-event-cluster-hello-from-manager.hex", ClusterHelloEvent, "manager"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			frames := MustVector(t, tc.file)
			if len(frames) != 4 {
				t.Fatalf("%d frames, want 4", len(frames))
			}
			sender := string(frames[1])
			if string(frames[2]) != FormatBrokerBinV1 {
				t.Fatalf("format %q", frames[2])
			}
			got, err := EncodeEvent(tc.event, tc.name, sender)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, frames[3]) {
				t.Fatalf("payload mismatch:\n got %x\nwant %x", got, frames[3])
			}
			ev, err := DecodeEvent(frames[3])
			if err != nil {
				t.Fatal(err)
			}
			if args, ok := ev.StringArgs(); ev.Name != tc.event || !ok || len(args) != 2 || args[0] != tc.name || args[1] != sender {
				t.Fatalf("decoded %+v", ev)
			}
			// The topic is the receiver's node-id topic.
			if _, ok := NodeIDFromTopic(string(frames[0])); !ok || !strings.HasSuffix(string(frames[0]), ".") {
				t.Fatalf("topic %q is not a node-id topic", frames[0])
			}
		})
	}
}

// TestDecodeTestEventRoundTrip decodes the captured 16-argument test_event
// and re-encodes it byte for byte.
func TestDecodeTestEventRoundTrip(t *testing.T) {
	payload := MustVector(t, "zeek-event-test_event.hex")[3]
	ev, err := DecodeEvent(payload)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Name != "test_event" || len(ev.Args) != 16 || ev.Metadata != nil {
		t.Fatalf("decoded name %q, %d args, metadata %v", ev.Name, len(ev.Args), ev.Metadata)
	}
	if ev.Args[0] != "hello" || ev.Args[1] != uint64(42) || ev.Args[2] != int64(-7) || ev.Args[4] != true {
		t.Fatalf("scalar args %v", ev.Args[:5])
	}
	vec, ok := ev.Args[11].([]any)
	if !ok || len(vec) != 3 || vec[2] != uint64(3) {
		t.Fatalf("vector arg %v", ev.Args[11])
	}
	// Reals, addresses, enums etc. pass through as raw values.
	if raw, ok := ev.Args[15].(Raw); !ok || !bytes.Equal(raw, []byte("\x0b\x03udp")) {
		t.Fatalf("enum arg %#v", ev.Args[15])
	}
	again, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, payload) {
		t.Fatalf("round trip differs:\n got %x\nwant %x", again, payload)
	}
}

func TestEncodeMetadataAndScalars(t *testing.T) {
	// Cluster::hello with a network-timestamp metadata entry, as in
	// derived/event-cluster-hello-meta.hex.
	ts := Raw(mustHex(t, "0917979cfe53f76500"))
	ev := Event{
		Name:     ClusterHelloEvent,
		Args:     []any{"worker-1", "zeromq_worker-1_zeek1_4242_N3xQ"},
		Metadata: []any{[]any{uint64(1), ts}},
	}
	got, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, "0e03020000000000000001020000000000000001"+
		"0e03050e436c75737465723a3a68656c6c6f"+
		"0e020508776f726b65722d31051f7a65726f6d715f776f726b65722d315f7a65656b315f343234325f4e337851"+
		"0e010e0202000000000000000109"+"17979cfe53f76500")
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
	back, err := DecodeEvent(got)
	if err != nil || len(back.Metadata) != 1 {
		t.Fatalf("decode: %+v %v", back, err)
	}

	got, err = AppendValue(nil, []any{nil, false, int64(-1), strings.Repeat("x", 300)})
	if err != nil {
		t.Fatal(err)
	}
	want = append(mustHex(t, "0e04"+"00"+"0100"+"03ffffffffffffffff"+"05ac02"), strings.Repeat("x", 300)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("scalars: got %x\nwant %x", got, want)
	}
	if _, err := AppendValue(nil, 3); err == nil || !strings.Contains(err.Error(), "uint64") {
		t.Fatalf("int argument: err %v, want a hint to use uint64", err)
	}
	if _, err := AppendValue(nil, Raw{0xff}); err == nil {
		t.Fatal("invalid raw value accepted")
	}
}

func TestVarbyte(t *testing.T) {
	for n, want := range map[uint32]string{0: "00", 5: "05", 127: "7f", 128: "8001", 200: "c801", 300: "ac02", 16384: "808001", 0xffffffff: "ffffffff0f"} {
		got := appendVarbyte(nil, n)
		if hex.EncodeToString(got) != want {
			t.Errorf("varbyte(%d) = %x, want %s", n, got, want)
		}
		back, off, err := readVarbyte(got, 0)
		if err != nil || back != n || off != len(got) {
			t.Errorf("read %x: %d %d %v", got, back, off, err)
		}
	}
	for _, bad := range []string{"", "80", "ffffffff10", "8080808080"} {
		if _, _, err := readVarbyte(mustHex(t, bad), 0); err == nil {
			t.Errorf("varbyte %s accepted", bad)
		}
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	hello := MustVector(t, "zeek-event-zeromq-hello.hex")[3]
	for name, in := range map[string][]byte{
		"empty":            nil,
		"truncated":        hello[:len(hello)-1],
		"trailing":         append(append([]byte{}, hello...), 0),
		"not a vector":     mustHex(t, "0200000000000000ff"),
		"wrong version":    mustHex(t, "0e03020000000000000002020000000000000001"+"0e02050178"+"0e00"),
		"name not string":  mustHex(t, "0e03020000000000000001020000000000000001"+"0e0200"+"0e00"),
		"args not vector":  mustHex(t, "0e03020000000000000001020000000000000001"+"0e02050178"+"00"),
		"unknown tag":      mustHex(t, "0e03020000000000000001020000000000000001"+"0e02050178"+"0e01ff"),
		"bad port proto":   mustHex(t, "0e03020000000000000001020000000000000001"+"0e02050178"+"0e010801bb04"),
		"huge vector":      mustHex(t, "0e03020000000000000001020000000000000001"+"0e02050178"+"0effffffff0f"),
		"huge string":      mustHex(t, "0e03020000000000000001020000000000000001"+"0e020580808080"),
		"deep nesting":     bytes.Repeat([]byte{0x0e, 0x01}, 200),
		"content of four":  mustHex(t, "0e03020000000000000001020000000000000001"+"0e04050178"+"0e00"+"0e00"+"0e00"),
		"table truncation": mustHex(t, "0e03020000000000000001020000000000000001"+"0e02050178"+"0e010d01"+"0200000000000000010e"),
	} {
		if ev, err := DecodeEvent(in); err == nil {
			t.Errorf("%s: decoded %+v, want an error", name, ev)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, file := range []string{"zeek-event-test_event.hex", "zeek-event-cluster-hello.hex"} {
		frames, err := LoadVector(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frames[3])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := DecodeEvent(in)
		if err != nil {
			return
		}
		out, err := ev.Encode()
		if err != nil {
			t.Fatalf("re-encode of decoded %x: %v", in, err)
		}
		// Non-minimal lengths decode but re-encode minimally, so compare
		// the decoded values, not the bytes.
		again, err := DecodeEvent(out)
		if err != nil {
			t.Fatalf("decode of re-encoded %x: %v", out, err)
		}
		if !reflect.DeepEqual(again, ev) {
			t.Fatalf("round trip: %+v became %+v", ev, again)
		}
	})
}

func TestNodeIDFormat(t *testing.T) {
	id, err := NewNodeID("worker-1", "zeek1", 4242)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^zeromq_worker-1_zeek1_4242_N[0-9A-Za-z]{10,17}$`).MatchString(id) {
		t.Fatalf("node id %q does not have Zeek's shape", id)
	}
	other, err := NewNodeID("worker-1", "zeek1", 4242)
	if err != nil || other == id {
		t.Fatalf("two ids are equal (%q) or error %v", id, err)
	}
	if got, ok := NodeIDFromTopic(NodeIDTopic(id)); !ok || got != id {
		t.Fatalf("NodeIDFromTopic(NodeIDTopic(%q)) = %q %v", id, got, ok)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
