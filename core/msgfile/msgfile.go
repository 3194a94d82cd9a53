// Package msgfile is zpipe's file format for raw multipart messages, as a
// raw file sink writes them: replayable, byte for byte, with no knowledge
// of what the frames hold.
//
// A file starts with the 8-byte magic "ZPMSG01\n". Each message follows as
// a uvarint frame count, then for every frame a uvarint length and the
// frame's bytes. Messages are appended whole (one write per batch), so a
// file cut short by a crash ends at a message boundary or inside the last
// message, which Reader reports as io.ErrUnexpectedEOF after returning
// every complete message before it.
package msgfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/zpipe/zpipe/core/message"
)

// Magic starts every message file.
const Magic = "ZPMSG01\n"

// Limits a Reader enforces, so a corrupt length cannot make it allocate
// without bound.
const (
	MaxFrames     = 1 << 16
	MaxFrameBytes = 1 << 30
)

// AppendBatch appends the encoding of every message of b to dst.
func AppendBatch(dst []byte, b *message.Batch) []byte {
	var frames [][]byte
	for it := b.Iter(); it.Next(); {
		frames = it.Frames(frames[:0])
		dst = binary.AppendUvarint(dst, uint64(len(frames)))
		for _, f := range frames {
			dst = binary.AppendUvarint(dst, uint64(len(f)))
			dst = append(dst, f...)
		}
	}
	return dst
}

// Reader reads messages from a message file.
type Reader struct {
	r      *bufio.Reader
	offset int64
}

// NewReader checks the magic and returns a reader positioned at the first
// message.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head := make([]byte, len(Magic))
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, fmt.Errorf("message file: read magic: %w", err)
	}
	if string(head) != Magic {
		return nil, fmt.Errorf("message file: offset 0: want magic %q, have %q", Magic, head)
	}
	return &Reader{r: br, offset: int64(len(Magic))}, nil
}

// Next appends the next message to b. It returns io.EOF at the end of the
// file, io.ErrUnexpectedEOF (wrapped) when the file ends inside a message,
// and an error with the byte offset for anything malformed.
func (r *Reader) Next(b *message.Batch) error {
	start := r.offset
	n, err := r.uvarint()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return r.fail(start, "frame count", err)
	}
	if n == 0 || n > MaxFrames {
		return fmt.Errorf("message file: offset %d: frame count %d, want 1 to %d", start, n, MaxFrames)
	}
	var frames [][]byte
	for i := uint64(0); i < n; i++ {
		at := r.offset
		size, err := r.uvarint()
		if err != nil {
			return r.fail(at, "frame length", err)
		}
		if size > MaxFrameBytes {
			return fmt.Errorf("message file: offset %d: frame length %d exceeds %d", at, size, MaxFrameBytes)
		}
		f := make([]byte, size)
		if _, err := io.ReadFull(r.r, f); err != nil {
			return r.fail(r.offset, "frame bytes", err)
		}
		r.offset += int64(size)
		frames = append(frames, f)
	}
	b.Append(frames...)
	return nil
}

func (r *Reader) uvarint() (uint64, error) {
	var x uint64
	var s uint
	for i := 0; ; i++ {
		c, err := r.r.ReadByte()
		if err != nil {
			if i > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		r.offset++
		if i == binary.MaxVarintLen64 {
			return 0, errors.New("varint overflows 64 bits")
		}
		if c < 0x80 {
			return x | uint64(c)<<s, nil
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
}

func (r *Reader) fail(at int64, what string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("message file: offset %d: %s: %w", at, what, err)
}
