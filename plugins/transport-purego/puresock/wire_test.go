package puresock

import (
	"bytes"
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
		{bytes.Repeat([]byte{5}, 3*growStep+7), []byte("after a large frame")},
	}
	wire := encode(t, msgs...)
	for name, rd := range map[string]io.Reader{
		"whole":     bytes.NewReader(wire),
		"bytewise":  oneByteReader{bytes.NewReader(wire)},
		"in chunks": io.MultiReader(bytes.NewReader(wire[:70000]), bytes.NewReader(wire[70000:])),
	} {
		fr := newFrameReader(rd)
		for i, want := range msgs {
			got, cmd, err := fr.next()
			if err != nil || cmd != nil {
				t.Fatalf("%s: message %d: %v, command %v", name, i, err, cmd)
			}
			if !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("%s: message %d: %d frames, want %d", name, i, len(got), len(want))
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
	fr := newFrameReader(bytes.NewReader(wire[:len(wire)/2]))
	for {
		if _, _, err := fr.next(); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("truncated stream: %v", err)
			}
			break
		}
	}
}

// FuzzFrameReader feeds arbitrary bytes to the frame reader: it returns
// messages, commands or errors, never panics, and never allocates ahead of
// the bytes that arrived.
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
		fr := newFrameReader(bytes.NewReader(data))
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
