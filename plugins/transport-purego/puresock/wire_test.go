package puresock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"
)

// encode writes messages with a frameWriter into a buffer.
func encode(t testing.TB, msgs ...[][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw := newFrameWriter(&buf)
	for _, m := range msgs {
		if err := fw.writeMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.writeCommand(cmdPing, []byte{0, 10, 'c', 't', 'x'}); err != nil {
		t.Fatal(err)
	}
	if err := fw.flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// oneByteReader hands out one byte per Read, so every frame straddles
// buffer refills.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

// TestFrameRoundTrip: messages of every size class (empty frames, short
// and long headers, frames written from their own memory, messages larger
// than the read buffer) come back intact, whether the bytes arrive at once
// or one at a time; a command between them comes back as a command.
func TestFrameRoundTrip(t *testing.T) {
	msgs := [][][]byte{
		{{}},
		{[]byte("topic"), []byte("sender"), []byte("broker-bin-v1"), []byte("payload")},
		{bytes.Repeat([]byte{1}, 255), bytes.Repeat([]byte{2}, 256)},
		{bytes.Repeat([]byte{3}, directFrameSize), {}, []byte("x")},
		{bytes.Repeat([]byte{4}, readBufferSize+100)},
		{[]byte("many"), {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, []byte("frames")},
		{bytes.Repeat([]byte{5}, 3<<20+7), []byte("after a large frame")},
	}
	wire := encode(t, msgs...)
	for name, rd := range map[string]io.Reader{
		"whole":     bytes.NewReader(wire),
		"bytewise":  oneByteReader{bytes.NewReader(wire)},
		"in chunks": io.MultiReader(bytes.NewReader(wire[:70000]), bytes.NewReader(wire[70000:])),
	} {
		fr := newFrameReader(rd, 0, 0)
		for i, want := range msgs {
			got, cmd, err := fr.next()
			if err != nil || cmd != nil {
				t.Fatalf("%s: message %d: %v, command %v", name, i, err, cmd)
			}
			if !slices.EqualFunc(got, want, bytes.Equal) || fr.size != msgSize(want) {
				t.Fatalf("%s: message %d: %d frames of %d bytes, want %d of %d", name, i, len(got), fr.size, len(want), msgSize(want))
			}
		}
		got, cmd, err := fr.next()
		if err != nil || got != nil || cmd == nil || cmd.name != cmdPing || !bytes.Equal(cmd.body, []byte{0, 10, 'c', 't', 'x'}) {
			t.Fatalf("%s: command: %v, %+v, %v", name, got, cmd, err)
		}
		if _, _, err := fr.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("%s: after the last frame: %v", name, err)
		}
	}
	// A message cut off in its body is an unexpected EOF.
	fr := newFrameReader(bytes.NewReader(wire[:len(wire)/2]), 0, 0)
	for {
		if _, _, err := fr.next(); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("truncated stream: %v", err)
			}
			break
		}
	}
}

// FuzzFrameReader feeds arbitrary bytes to the frame reader, with message
// limits: it returns messages, commands or errors, never panics, and never
// decodes more than arrived.
func FuzzFrameReader(f *testing.F) {
	f.Add(encode(f, [][]byte{[]byte("a"), []byte("b")}))
	f.Add([]byte{0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x02, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 'x'})
	f.Add([]byte{0x04, 0x05, 0x09, 'S', 'U', 'B'})
	f.Add([]byte{0x05, 0x01, 0x00})
	f.Add([]byte{0x01, 0x01, 'a', 0x04, 0x01, 0x00})
	f.Add([]byte{0x08, 0x00})
	f.Add([]byte{0x01, 0x00, 0x01, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := newFrameReader(bytes.NewReader(data), 1<<20, 1024)
		total := 0
		for range 1000 {
			msg, cmd, err := fr.next()
			if err != nil {
				return
			}
			if msg == nil && cmd == nil {
				t.Fatal("neither a message nor a command")
			}
			for _, f := range msg {
				total += len(f)
			}
			if cmd != nil {
				total += len(cmd.body)
			}
			if total > len(data) {
				t.Fatalf("decoded %d bytes of payload from %d bytes of input", total, len(data))
			}
		}
	})
}

// frameFlood is a reader of one endless message of empty frames.
type frameFlood struct{}

func (frameFlood) Read(p []byte) (int, error) {
	for i := 0; i+1 < len(p); i += 2 {
		p[i], p[i+1] = flagMore, 0
	}
	return len(p) &^ 1, nil
}

// hugeFrame is a reader of one frame announcing size bytes, then zeros
// for ever.
type hugeFrame struct {
	size uint64
	sent bool
}

func (h *hugeFrame) Read(p []byte) (int, error) {
	if !h.sent {
		h.sent = true
		p[0] = flagLong
		binary.BigEndian.PutUint64(p[1:9], h.size)
		return 9, nil
	}
	clear(p)
	return len(p), nil
}

// TestFrameLimits: a message over the frame count or the byte limit is
// refused at the header that goes over, before anything is allocated for
// it: an endless message of empty frames and a frame announcing more
// bytes than allowed both end in errOversize; a command counts as one
// frame; messages at the limits pass.
func TestFrameLimits(t *testing.T) {
	const maxBytes, maxFrames = 1 << 20, 16
	for name, rd := range map[string]io.Reader{
		"frame flood":          frameFlood{},
		"huge frame":           &hugeFrame{size: maxBytes + 1},
		"huge frame, buffered": bytes.NewReader(append([]byte{flagLong, 0, 0, 0, 0, 0, 0x10, 0, 1}, make([]byte, 100)...)),
		"frames over the bytes": bytes.NewReader(encode(t, [][]byte{
			bytes.Repeat([]byte{1}, maxBytes/2), bytes.Repeat([]byte{2}, maxBytes/2), {3},
		})),
		"17 frames":   bytes.NewReader(encode(t, slices.Repeat([][]byte{{'x'}}, maxFrames+1))),
		"big command": bytes.NewReader(append([]byte{flagCommand | flagLong, 0, 0, 0, 0, 0, 0x10, 0, 1, 4}, "PING"...)),
	} {
		fr := newFrameReader(rd, maxBytes, maxFrames)
		if msg, cmd, err := fr.next(); !errors.Is(err, errOversize) {
			t.Errorf("%s: %d frames, command %v, error %v; want errOversize", name, len(msg), cmd, err)
		}
	}
	atLimits := [][][]byte{
		slices.Repeat([][]byte{{'x'}}, maxFrames),
		{bytes.Repeat([]byte{1}, maxBytes-1), {2}},
	}
	fr := newFrameReader(bytes.NewReader(encode(t, atLimits...)), maxBytes, maxFrames)
	for i, want := range atLimits {
		got, _, err := fr.next()
		if err != nil || !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("message %d at the limits: %d frames, %v", i, len(got), err)
		}
	}
}

// BenchmarkReadLargeFrame reads one frame of 256 MiB: it costs one
// allocation of its size and one copy of its bytes.
func BenchmarkReadLargeFrame(b *testing.B) {
	const size = 256 << 20
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		fr := newFrameReader(io.LimitReader(&hugeFrame{size: size}, size+9), 0, 0)
		msg, _, err := fr.next()
		if err != nil || len(msg) != 1 || len(msg[0]) != size {
			b.Fatalf("%d frames, %v", len(msg), err)
		}
	}
}
