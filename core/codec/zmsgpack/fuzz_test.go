package zmsgpack

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/brokerjson"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/internal/vectors"
)

// fuzzSeeds returns the zpipe-msgpack-v1 documents of every Zeek wire
// vector: the events of broker-bin-v1 and broker-json-v1 payloads and the
// log batches of zeek-bin-serializer payloads.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	addEvent := func(ev value.Event, err error) {
		if err != nil {
			f.Fatal(err)
		}
		doc, err := AppendEvent(nil, &ev)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, doc)
	}
	for _, rel := range []string{"derived/event-zmq-hello.hex", "derived/event-cluster-hello-meta.hex",
		"derived/event-all-types-bin.hex", "derived/broker-bin-unit-test-node_status.hex"} {
		addEvent(brokerbin.DecodeEvent(vectors.Payload(f, rel)))
	}
	for _, path := range vectors.Glob(f, "captured/zeek-event-*.hex") {
		addEvent(brokerbin.DecodeEvent(vectors.Frames(f, path)[3]))
	}
	addEvent(brokerjson.DecodeEvent(vectors.Payload(f, "derived/event-all-types-json.hex")))
	logs := []string{"derived/log-write-cluster.hex", "derived/log-write-demo.hex", "derived/zeek-bin-unit-test-log.hex"}
	for _, path := range vectors.Glob(f, "captured/zeek-log-*.hex") {
		logs = append(logs, "captured/"+filepath.Base(path))
	}
	for _, rel := range logs {
		b, err := zeeklog.Decode(vectors.Payload(f, rel))
		if err != nil {
			f.Fatal(err)
		}
		doc, err := AppendLogBatch(nil, b)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, doc)
	}
	return seeds
}

// FuzzMsgpackDecode decodes arbitrary input as a document and as a single
// value. Malformed input must give a DecodeError (never a panic); what
// decodes must re-encode, decode to equal values, and reach a fixed point.
func FuzzMsgpackDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if doc, err := Decode(data); err != nil {
			requireDecodeError(t, err)
		} else {
			var first []byte
			if doc.Event != nil {
				first, err = AppendEvent(nil, doc.Event)
			} else {
				first, err = AppendLogBatch(nil, doc.Log)
			}
			if err != nil {
				t.Fatalf("decoded document does not encode: %v", err)
			}
			back, err := Decode(first)
			if err != nil {
				t.Fatalf("re-encoded document does not decode: %v\n% x", err, first)
			}
			var second []byte
			if back.Event != nil {
				second, err = AppendEvent(nil, back.Event)
			} else {
				second, err = AppendLogBatch(nil, back.Log)
			}
			if err != nil || !bytes.Equal(first, second) {
				t.Fatalf("no fixed point (%v):\n% x\n% x", err, first, second)
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
			if err != nil || !value.Equal(back, v) {
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
