package logwrite

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/internal/zeektest"
)

// TestConn: a message of n records keeps the captured frames 0-2 and
// carries the captured records, repeated in order, n of them.
func TestConn(t *testing.T) {
	captured, err := zeektest.LoadVector(VectorFile)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := zeeklog.Decode(captured[3])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 7, 20} {
		frames, lb, err := Conn(n)
		if err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		if len(frames) != 4 {
			t.Fatalf("%d records: %d frames", n, len(frames))
		}
		for i := range 3 {
			if !bytes.Equal(frames[i], captured[i]) {
				t.Errorf("%d records: frame %d %q, want the captured %q", n, i, frames[i], captured[i])
			}
		}
		decoded, err := zeeklog.Decode(frames[3])
		if err != nil {
			t.Fatalf("%d records: decode the payload: %v", n, err)
		}
		if !reflect.DeepEqual(decoded, lb) {
			t.Errorf("%d records: the returned batch is not the payload's", n)
		}
		if len(lb.Records) != n {
			t.Fatalf("%d records: %d in the batch", n, len(lb.Records))
		}
		for i, r := range lb.Records {
			if !reflect.DeepEqual(r, orig.Records[i%len(orig.Records)]) {
				t.Errorf("%d records: record %d is not captured record %d", n, i, i%len(orig.Records))
			}
		}
		if lb.Path != orig.Path || !reflect.DeepEqual(lb.Fields, orig.Fields) {
			t.Errorf("%d records: path or fields changed", n)
		}
	}
	if _, _, err := Conn(0); err == nil {
		t.Error("0 records: no error")
	}
}
