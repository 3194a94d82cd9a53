package zeeklog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/internal/vectors"
)

// FuzzZeekLogDecode decodes arbitrary payloads as log batches. Malformed
// input must give a DecodeError (never a panic); what decodes must
// validate, re-encode, decode to equal values, and reach a fixed point.
// Rows must agree with Decode on every input.
func FuzzZeekLogDecode(f *testing.F) {
	for _, rel := range []string{
		"derived/log-write-cluster.hex", "derived/log-write-demo.hex", "derived/zeek-bin-unit-test-log.hex",
	} {
		f.Add(vectors.Payload(f, rel))
	}
	for _, path := range vectors.Glob(f, "captured/zeek-log-*.hex") {
		frames := vectors.Frames(f, path)
		f.Add(frames[3])
	}
	var rows Rows
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRows(t, &rows, data)
		b, err := Decode(data)
		if err != nil {
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is no DecodeError", err)
			}
			return
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("decoded batch does not validate: %v", err)
		}
		first, err := Append(nil, b)
		if err != nil {
			t.Fatalf("decoded batch does not encode: %v", err)
		}
		back, err := Decode(first)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		if len(back.Records) != len(b.Records) {
			t.Fatalf("%d records became %d", len(b.Records), len(back.Records))
		}
		for r := range b.Records {
			for i := range b.Records[r] {
				if !value.Equal(back.Records[r][i], b.Records[r][i]) {
					t.Fatalf("record %d field %d: %v → %v", r, i, b.Records[r][i], back.Records[r][i])
				}
			}
		}
		second, err := Append(nil, back)
		if err != nil || !bytes.Equal(first, second) {
			t.Fatalf("no fixed point (%v)", err)
		}
	})
}
