// Package msgqueue is a FIFO of multipart messages bounded in messages and
// in bytes, with the policies zpipe's queue stages offer when it is full:
// drop the newest, drop the oldest, or block the producer. Messages are
// copied in and stored in chunks (up to chunkMessages messages or
// chunkBytes bytes each; a larger message gets a chunk of its own), so a
// queue costs a few allocations per chunk, not per message, holds at most
// about twice the bytes it counts, and keeps a few emptied chunks for
// reuse.
package msgqueue

import (
	"context"
	"errors"
	"sync"

	"github.com/zpipe/zpipe/core/message"
)

// ErrClosed is returned by Take once the queue is closed and empty, and by
// pushes after Close.
var ErrClosed = errors.New("queue closed")

const (
	chunkMessages = 1024
	chunkBytes    = 1 << 20
	maxFreeChunks = 4
)

// Limits bound a queue. Bytes are the payload bytes of every frame of the
// messages held.
type Limits struct {
	// Messages is the most messages held (0: no limit).
	Messages int
	// Bytes is the most bytes held (0: no limit). A message larger than
	// Bytes is still taken when the queue is empty, and is then held
	// alone.
	Bytes int
}

// chunk is a batch being consumed from the front: msg, frame and data are
// the offsets of its first message not yet taken.
type chunk struct {
	b                message.Batch
	msg, frame, data int
}

func (c *chunk) left() int { return c.b.Len() - c.msg }

// size returns the bytes of the message at the front.
func (c *chunk) size() int {
	n := 0
	for _, s := range c.b.Sizes[c.frame : c.frame+int(c.b.Parts[c.msg])] {
		n += int(s)
	}
	return n
}

// Queue is a bounded FIFO of messages, safe for concurrent use by any
// number of producers and consumers.
type Queue struct {
	lim Limits

	mu     sync.Mutex
	chunks []*chunk
	free   []*chunk
	n      int // messages held
	bytes  int // bytes held
	closed bool
	// readable is signalled (non-blocking send) when messages arrive or
	// the queue closes; writable when messages leave.
	readable, writable chan struct{}
	// done is closed by Close.
	done chan struct{}
}

// New returns a queue bounded by lim; negative limits mean none.
func New(lim Limits) *Queue {
	lim.Messages, lim.Bytes = max(lim.Messages, 0), max(lim.Bytes, 0)
	return &Queue{lim: lim, readable: make(chan struct{}, 1), writable: make(chan struct{}, 1), done: make(chan struct{})}
}

// Limits returns the limits given to New.
func (q *Queue) Limits() Limits { return q.lim }

// Len returns the number of messages held.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Bytes returns the number of bytes held.
func (q *Queue) Bytes() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// overLocked reports whether the queue holds more than its limits.
func (q *Queue) overLocked() bool {
	return (q.lim.Messages > 0 && q.n > q.lim.Messages) || (q.lim.Bytes > 0 && q.bytes > q.lim.Bytes)
}

// roomLocked reports whether a message of size bytes fits; ignoreCount
// leaves the message limit out. An empty queue takes any message.
func (q *Queue) roomLocked(size int, ignoreCount bool) bool {
	switch {
	case q.n == 0:
		return true
	case !ignoreCount && q.lim.Messages > 0 && q.n >= q.lim.Messages:
		return false
	case q.lim.Bytes > 0 && q.bytes+size > q.lim.Bytes:
		return false
	}
	return true
}

// appendLocked copies the message at it into the queue.
func (q *Queue) appendLocked(src *message.Batch, it *message.Iter) {
	size := it.Size()
	var last *chunk
	if k := len(q.chunks); k > 0 {
		last = q.chunks[k-1]
	}
	if last == nil || last.b.Len() >= chunkMessages || (last.b.Len() > 0 && len(last.b.Data)+size > chunkBytes) {
		if k := len(q.free); k > 0 && size <= chunkBytes {
			last, q.free = q.free[k-1], q.free[:k-1]
		} else {
			last = new(chunk)
			last.b.Data = make([]byte, 0, max(size, 4<<10))
		}
		q.chunks = append(q.chunks, last)
	}
	last.b.AppendFrom(src, it)
	q.n++
	q.bytes += size
}

// dropFrontLocked discards the oldest message.
func (q *Queue) dropFrontLocked() {
	c := q.chunks[0]
	frames := int(c.b.Parts[c.msg])
	size := c.size()
	c.data += size
	c.frame += frames
	c.msg++
	q.n--
	q.bytes -= size
	if c.left() == 0 {
		q.releaseFrontLocked()
	}
}

func (q *Queue) releaseFrontLocked() {
	c := q.chunks[0]
	q.chunks[0] = nil
	q.chunks = q.chunks[1:]
	// A chunk that grew for one large message goes back to the GC.
	if len(q.free) < maxFreeChunks && cap(c.b.Data) <= 2*chunkBytes {
		c.b.Reset()
		c.msg, c.frame, c.data = 0, 0, 0
		q.free = append(q.free, c)
	}
}

// Rule says how Push queues one message.
type Rule struct {
	// IgnoreCount lets the message in when the queue holds its limit in
	// messages (it still counts towards it). The byte limit applies to
	// every message.
	IgnoreCount bool
	// Block makes Push wait for room for the message (and, to keep the
	// order, for the messages after it). Otherwise a message that finds
	// no room is dropped.
	Block bool
}

// Result tells what Push did with the messages of a batch. Messages
// neither taken nor dropped were not looked at: the queue closed or the
// context ended first.
type Result struct {
	Taken, Dropped int
	// DroppedIgnoringCount counts the dropped messages whose Rule had
	// IgnoreCount (dropped for the byte limit); they are part of Dropped.
	DroppedIgnoringCount int
}

// Push copies the messages of b in, in order, each as rule says (nil: the
// zero Rule, drop what does not fit). It returns ErrClosed if the queue
// is closed, or ctx's error if ctx ends while a message waits for room.
func (q *Queue) Push(ctx context.Context, b *message.Batch, rule func(it *message.Iter) Rule) (Result, error) {
	var r Result
	it := b.Iter()
	more := it.Next()
	for more {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return r, ErrClosed
		}
		added, blocked := 0, false
		for ; more; more = it.Next() {
			var ru Rule
			if rule != nil {
				ru = rule(&it)
			}
			switch {
			case q.roomLocked(it.Size(), ru.IgnoreCount):
				q.appendLocked(b, &it)
				added++
				continue
			case ru.Block:
				blocked = true
			default:
				r.Dropped++
				if ru.IgnoreCount {
					r.DroppedIgnoringCount++
				}
				continue
			}
			break
		}
		if added > 0 {
			signal(q.readable)
		}
		q.mu.Unlock()
		r.Taken += added
		if !blocked {
			break
		}
		select {
		case <-q.writable:
		case <-q.done:
		case <-ctx.Done():
			return r, ctx.Err()
		}
	}
	return r, nil
}

// PushDropOldest copies every message of b in, then drops the oldest
// messages until the queue is within its limits (a message larger than
// the byte limit stays, alone). It returns how many messages were dropped
// (old ones, or new ones pushed out by later ones of the same batch).
func (q *Queue) PushDropOldest(b *message.Batch) (dropped int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, ErrClosed
	}
	for it := b.Iter(); it.Next(); {
		q.appendLocked(b, &it)
		for q.n > 1 && q.overLocked() {
			q.dropFrontLocked()
			dropped++
		}
	}
	if b.Len() > 0 {
		signal(q.readable)
	}
	return dropped, nil
}

// Take moves messages from the front of the queue into dst, which it
// resets first: at least one, then as many as fit in maxMessages and
// maxBytes (0: no limit). It waits while the queue is empty. Once the
// queue is closed and empty it returns ErrClosed.
func (q *Queue) Take(ctx context.Context, dst *message.Batch, maxMessages, maxBytes int) error {
	if maxMessages <= 0 {
		maxMessages = chunkMessages
	}
	dst.Reset()
	for {
		q.mu.Lock()
		if q.n > 0 {
			q.takeLocked(dst, maxMessages, maxBytes)
			if q.n > 0 {
				signal(q.readable) // for other consumers
			}
			q.mu.Unlock()
			signal(q.writable)
			return nil
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return ErrClosed
		}
		select {
		case <-q.readable:
		case <-q.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// takeLocked moves runs of messages, a chunk at a time, into dst.
func (q *Queue) takeLocked(dst *message.Batch, maxMessages, maxBytes int) {
	for q.n > 0 && dst.Len() < maxMessages {
		c := q.chunks[0]
		k, frames, data := 0, 0, 0
		for k < c.left() && dst.Len()+k < maxMessages {
			parts := int(c.b.Parts[c.msg+k])
			size := 0
			for _, s := range c.b.Sizes[c.frame+frames : c.frame+frames+parts] {
				size += int(s)
			}
			if maxBytes > 0 && dst.Len()+k > 0 && len(dst.Data)+data+size > maxBytes {
				break
			}
			k, frames, data = k+1, frames+parts, data+size
		}
		if k == 0 {
			return
		}
		dst.Data = append(dst.Data, c.b.Data[c.data:c.data+data]...)
		dst.Sizes = append(dst.Sizes, c.b.Sizes[c.frame:c.frame+frames]...)
		dst.Parts = append(dst.Parts, c.b.Parts[c.msg:c.msg+k]...)
		c.msg, c.frame, c.data = c.msg+k, c.frame+frames, c.data+data
		q.n -= k
		q.bytes -= data
		if c.left() == 0 {
			q.releaseFrontLocked()
		}
	}
}

// Clear empties the queue and returns how many messages and bytes it
// held.
func (q *Queue) Clear() (messages, bytes int) {
	q.mu.Lock()
	messages, bytes = q.n, q.bytes
	for len(q.chunks) > 0 {
		q.releaseFrontLocked()
	}
	q.n, q.bytes = 0, 0
	q.mu.Unlock()
	if messages > 0 {
		signal(q.writable)
	}
	return messages, bytes
}

// Close stops pushes; Take returns what is left, then ErrClosed. Blocked
// pushes return ErrClosed. Closing twice is harmless.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
}
