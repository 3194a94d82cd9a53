// Package message defines the unit zpipe moves: multipart ZeroMQ messages,
// packed into batches that cross process boundaries in one piece.
package message

import "fmt"

// Batch is a run of multipart messages stored back to back. Data holds every
// frame of every message; Sizes holds each frame's length; Parts holds each
// message's number of frames. A Batch is reused by calling Reset, which keeps
// its buffers, so a steady stream of batches allocates nothing.
type Batch struct {
	Data  []byte
	Sizes []uint32
	Parts []uint32
}

// Len returns the number of messages in the batch.
func (b *Batch) Len() int { return len(b.Parts) }

// Bytes returns the total payload size of all frames.
func (b *Batch) Bytes() int { return len(b.Data) }

// Frames returns the total number of frames.
func (b *Batch) Frames() int { return len(b.Sizes) }

// Reset empties the batch, keeping its capacity.
func (b *Batch) Reset() {
	b.Data = b.Data[:0]
	b.Sizes = b.Sizes[:0]
	b.Parts = b.Parts[:0]
}

// Append adds one message made of the given frames.
func (b *Batch) Append(frames ...[]byte) {
	for _, f := range frames {
		b.Data = append(b.Data, f...)
		b.Sizes = append(b.Sizes, uint32(len(f)))
	}
	b.Parts = append(b.Parts, uint32(len(frames)))
}

// AppendFrom copies the message at it (an iterator over src) into b.
func (b *Batch) AppendFrom(src *Batch, it *Iter) {
	b.Data = append(b.Data, src.Data[it.dataStart:it.dataEnd]...)
	b.Sizes = append(b.Sizes, src.Sizes[it.frameStart:it.frameEnd]...)
	b.Parts = append(b.Parts, uint32(it.frameEnd-it.frameStart))
}

// Validate checks that Sizes and Parts agree with each other and with Data.
// Batches that arrive from another process are validated before use.
func (b *Batch) Validate() error {
	var frames uint64
	for _, p := range b.Parts {
		frames += uint64(p)
	}
	if frames != uint64(len(b.Sizes)) {
		return fmt.Errorf("batch: parts add up to %d frames, sizes list %d", frames, len(b.Sizes))
	}
	var total uint64
	for _, s := range b.Sizes {
		total += uint64(s)
	}
	if total != uint64(len(b.Data)) {
		return fmt.Errorf("batch: frame sizes add up to %d bytes, data holds %d", total, len(b.Data))
	}
	return nil
}

// Iter walks the messages of a batch without copying:
//
//	for it := b.Iter(); it.Next(); {
//		topic := it.Frame(0)
//	}
type Iter struct {
	b                    *Batch
	msg                  int
	frameStart, frameEnd int
	dataStart, dataEnd   int
}

// Iter returns an iterator positioned before the first message.
func (b *Batch) Iter() Iter { return Iter{b: b, msg: -1} }

// Next advances to the next message and reports whether there is one.
func (it *Iter) Next() bool {
	if it.msg+1 >= len(it.b.Parts) {
		return false
	}
	it.msg++
	it.frameStart = it.frameEnd
	it.frameEnd = it.frameStart + int(it.b.Parts[it.msg])
	it.dataStart = it.dataEnd
	for _, s := range it.b.Sizes[it.frameStart:it.frameEnd] {
		it.dataEnd += int(s)
	}
	return true
}

// Index returns the position of the current message in the batch.
func (it *Iter) Index() int { return it.msg }

// NumFrames returns the number of frames of the current message.
func (it *Iter) NumFrames() int { return it.frameEnd - it.frameStart }

// Size returns the payload size of the current message.
func (it *Iter) Size() int { return it.dataEnd - it.dataStart }

// Frame returns frame n of the current message. The slice aliases the batch.
func (it *Iter) Frame(n int) []byte {
	off := it.dataStart
	for _, s := range it.b.Sizes[it.frameStart : it.frameStart+n] {
		off += int(s)
	}
	return it.b.Data[off : off+int(it.b.Sizes[it.frameStart+n])]
}

// Frames appends the frames of the current message to dst and returns it.
// The frames alias the batch.
func (it *Iter) Frames(dst [][]byte) [][]byte {
	off := it.dataStart
	for _, s := range it.b.Sizes[it.frameStart:it.frameEnd] {
		dst = append(dst, it.b.Data[off:off+int(s)])
		off += int(s)
	}
	return dst
}
