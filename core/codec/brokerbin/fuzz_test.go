package brokerbin

import (
	"bytes"
	"errors"
	"testing"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/internal/vectors"
)

// FuzzBrokerBinDecode decodes arbitrary payloads as events and as single
// values. Malformed input must give a DecodeError (never a panic); what
// decodes must re-encode, decode to values equal as Broker carries them
// (subnormal reals are not carried exactly, see the package doc), and reach
// a fixed point.
func FuzzBrokerBinDecode(f *testing.F) {
	for _, rel := range []string{
		"derived/event-zmq-hello.hex", "derived/event-cluster-hello-meta.hex",
		"derived/event-all-types-bin.hex", "derived/broker-bin-unit-test-node_status.hex",
	} {
		f.Add(vectors.Payload(f, rel))
	}
	for _, path := range vectors.Glob(f, "captured/zeek-event-*.hex") {
		frames := vectors.Frames(f, path)
		f.Add(frames[3])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if ev, err := DecodeEvent(data); err != nil {
			requireDecodeError(t, err)
		} else {
			first, err := AppendEvent(nil, &ev)
			if err != nil {
				t.Fatalf("decoded event does not encode: %v", err)
			}
			back, err := DecodeEvent(first)
			if err != nil {
				t.Fatalf("re-encoded event does not decode: %v", err)
			}
			if back.Name != ev.Name || !equalValues(back.Args, ev.Args) || len(back.Metadata) != len(ev.Metadata) {
				t.Fatalf("event changed: %+v → %+v", ev, back)
			}
			second, err := AppendEvent(nil, &back)
			if err != nil || !bytes.Equal(first, second) {
				t.Fatalf("no fixed point: %x → %x (%v)", first, second, err)
			}
		}
		if v, err := DecodeValue(data); err != nil {
			requireDecodeError(t, err)
		} else {
			first, err := AppendValue(nil, v)
			if err != nil {
				t.Fatalf("decoded value does not encode: %v", err)
			}
			back, err := DecodeValue(first)
			if err != nil || !sameOnWire(back, v) {
				t.Fatalf("value changed: %v → %v (%v)", v, back, err)
			}
		}
	})
}

func requireDecodeError(t *testing.T, err error) {
	t.Helper()
	var de *codec.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is no DecodeError", err)
	}
}

func equalValues(a, b []value.Value) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameOnWire(a[i], b[i]) {
			return false
		}
	}
	return true
}

// sameOnWire reports whether a and b are equal as Broker carries them: they
// encode to the same bytes.
func sameOnWire(a, b value.Value) bool {
	x, errA := AppendValue(nil, a)
	y, errB := AppendValue(nil, b)
	return errA == nil && errB == nil && bytes.Equal(x, y)
}
