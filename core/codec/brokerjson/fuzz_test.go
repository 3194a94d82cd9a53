package brokerjson

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/internal/vectors"
)

// FuzzBrokerJSONDecode decodes arbitrary payloads as events. Malformed
// input must give a DecodeError (never a panic); what decodes must
// re-encode and reach a fixed point after one lossy pass (or collide in a
// set or table, as it would in Zeek).
func FuzzBrokerJSONDecode(f *testing.F) {
	f.Add(vectors.Payload(f, "derived/event-zmq-hello-json.hex"))
	f.Add(vectors.Payload(f, "derived/event-all-types-json.hex"))
	for _, path := range vectors.Glob(f, "captured/zeek-event-*.hex") {
		ev, err := brokerbin.DecodeEvent(vectors.Frames(f, path)[3])
		if err != nil {
			f.Fatal(err)
		}
		payload, err := AppendEvent(nil, &ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(payload)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvent(data)
		if err != nil {
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is no DecodeError", err)
			}
			return
		}
		first, err := AppendEvent(nil, &ev)
		if err != nil {
			t.Fatalf("decoded event does not encode: %v", err)
		}
		back, err := DecodeEvent(first)
		if err != nil {
			if strings.Contains(err.Error(), " duplicates ") {
				return // elements that differed below JSON's precision
			}
			t.Fatalf("re-encoded event does not decode: %v\n%s", err, first)
		}
		second, err := AppendEvent(nil, &back)
		if err != nil || !bytes.Equal(first, second) {
			t.Fatalf("no fixed point (%v):\n%s\n%s", err, first, second)
		}
	})
}
