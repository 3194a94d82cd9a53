package msgfile

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/message"
)

func batchOf(msgs ...[]string) *message.Batch {
	var b message.Batch
	for _, m := range msgs {
		var frames [][]byte
		for _, f := range m {
			frames = append(frames, []byte(f))
		}
		b.Append(frames...)
	}
	return &b
}

func readAll(t *testing.T, data []byte) (*message.Batch, error) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var b message.Batch
	for {
		if err := r.Next(&b); err != nil {
			if err == io.EOF {
				return &b, nil
			}
			return &b, err
		}
	}
}

func TestRoundTrip(t *testing.T) {
	in := batchOf([]string{"zeek.test", "node", "broker-bin-v1", "\x00\x01payload"}, []string{"\x01sub"}, []string{"", strings.Repeat("x", 300)})
	data := AppendBatch([]byte(Magic), in)
	out, err := readAll(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Data, in.Data) || len(out.Parts) != 3 || out.Parts[0] != 4 || out.Sizes[6] != 300 {
		t.Fatalf("read back %+v", out)
	}
}

// TestTruncated: a file cut anywhere gives every whole message before the
// cut and then ErrUnexpectedEOF (or a clean EOF at a boundary).
func TestTruncated(t *testing.T) {
	in := batchOf([]string{"a", "bb"}, []string{"ccc"}, []string{"dddd", "e"})
	data := AppendBatch([]byte(Magic), in)
	boundaries := map[int]int{len(Magic): 0}
	var one message.Batch
	for it, n := in.Iter(), len(Magic); it.Next(); {
		one.Reset()
		one.AppendFrom(in, &it)
		n += len(AppendBatch(nil, &one))
		boundaries[n] = it.Index() + 1
	}
	for cut := len(Magic); cut <= len(data); cut++ {
		out, err := readAll(t, data[:cut])
		whole, atBoundary := boundaries[cut]
		switch {
		case atBoundary && (err != nil || out.Len() != whole):
			t.Fatalf("cut at %d (boundary): %d messages, %v", cut, out.Len(), err)
		case !atBoundary && !errors.Is(err, io.ErrUnexpectedEOF):
			t.Fatalf("cut at %d: error %v, want unexpected EOF", cut, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	for _, c := range []struct {
		data, want string
	}{
		{"NOTMAGIC", "want magic"},
		{Magic + "\x00", "frame count 0"},
		{Magic + "\x01\xff\xff\xff\xff\x0f", "exceeds"},
		{Magic + "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "overflows"},
	} {
		_, err := readAll(t, []byte(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.data, err, c.want)
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add(AppendBatch([]byte(Magic), batchOf([]string{"a", "b"})))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		var b message.Batch
		for range 1000 {
			if r.Next(&b) != nil {
				break
			}
		}
		if err := b.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
