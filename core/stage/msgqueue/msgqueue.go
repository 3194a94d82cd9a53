// Package msgqueue is a bounded FIFO of multipart messages with the
// policies zpipe's queue stages offer when it is full: drop the newest,
// drop the oldest, or block the producer. Messages are copied in and stored
// in chunks (batches of up to chunkMessages), so a queue costs a few
// allocations per chunk, not per message, and returns chunks it has emptied
// to a small free list.
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
	maxFreeChunks = 4
)

// chunk is a batch being consumed from the front: msg, frame and data are
// the offsets of its first message not yet taken.
type chunk struct {
	b                message.Batch
	msg, frame, data int
}

func (c *chunk) left() int { return c.b.Len() - c.msg }

// Queue is a bounded FIFO of messages, safe for concurrent use by any
// number of producers and consumers.
type Queue struct {
	capacity int

	mu     sync.Mutex
	chunks []*chunk
	free   []*chunk
	n      int
	closed bool
	// readable is signalled (non-blocking send) when messages arrive or
	// the queue closes; writable when messages leave.
	readable, writable chan struct{}
	// done is closed by Close.
	done chan struct{}
}

// New returns a queue that holds at most capacity messages; 0 means no
// limit.
func New(capacity int) *Queue {
	if capacity < 0 {
		capacity = 0
	}
	return &Queue{capacity: capacity, readable: make(chan struct{}, 1), writable: make(chan struct{}, 1), done: make(chan struct{})}
}

// Capacity returns the limit given to New (0: none).
func (q *Queue) Capacity() int { return q.capacity }

// Len returns the number of messages held.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// appendLocked copies the message at it into the queue.
func (q *Queue) appendLocked(src *message.Batch, it *message.Iter) {
	var last *chunk
	if k := len(q.chunks); k > 0 {
		last = q.chunks[k-1]
	}
	if last == nil || last.b.Len() >= chunkMessages {
		if k := len(q.free); k > 0 {
			last, q.free = q.free[k-1], q.free[:k-1]
		} else {
			last = new(chunk)
		}
		q.chunks = append(q.chunks, last)
	}
	last.b.AppendFrom(src, it)
	q.n++
}

// dropFrontLocked discards the oldest message.
func (q *Queue) dropFrontLocked() {
	c := q.chunks[0]
	frames := int(c.b.Parts[c.msg])
	for _, s := range c.b.Sizes[c.frame : c.frame+frames] {
		c.data += int(s)
	}
	c.frame += frames
	c.msg++
	q.n--
	if c.left() == 0 {
		q.releaseFrontLocked()
	}
}

func (q *Queue) releaseFrontLocked() {
	c := q.chunks[0]
	q.chunks[0] = nil
	q.chunks = q.chunks[1:]
	if len(q.free) < maxFreeChunks {
		c.b.Reset()
		c.msg, c.frame, c.data = 0, 0, 0
		q.free = append(q.free, c)
	}
}

// PushDropNewest copies the messages of b in order, as far as there is
// room; a message for which force returns true is always taken, room or
// not (it still counts towards the limit). It returns how many messages
// were taken and how many dropped.
func (q *Queue) PushDropNewest(b *message.Batch, force func(it *message.Iter) bool) (taken, dropped int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, 0, ErrClosed
	}
	for it := b.Iter(); it.Next(); {
		if q.capacity > 0 && q.n >= q.capacity && (force == nil || !force(&it)) {
			dropped++
			continue
		}
		q.appendLocked(b, &it)
		taken++
	}
	if taken > 0 {
		signal(q.readable)
	}
	return taken, dropped, nil
}

// PushDropOldest copies every message of b in, then drops the oldest
// messages until the queue is within its limit. It returns how many
// messages were dropped (old ones, or new ones pushed out by later ones of
// the same batch).
func (q *Queue) PushDropOldest(b *message.Batch) (dropped int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, ErrClosed
	}
	for it := b.Iter(); it.Next(); {
		q.appendLocked(b, &it)
		if q.capacity > 0 && q.n > q.capacity {
			q.dropFrontLocked()
			dropped++
		}
	}
	if b.Len() > 0 {
		signal(q.readable)
	}
	return dropped, nil
}

// PushBlock copies every message of b in, waiting for room as needed. It
// returns how many were taken when ctx ends or the queue closes first.
func (q *Queue) PushBlock(ctx context.Context, b *message.Batch) (taken int, err error) {
	it := b.Iter()
	more := it.Next()
	for more {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return taken, ErrClosed
		}
		added := 0
		for more && (q.capacity == 0 || q.n < q.capacity) {
			q.appendLocked(b, &it)
			added++
			more = it.Next()
		}
		if added > 0 {
			signal(q.readable)
		}
		q.mu.Unlock()
		taken += added
		if !more {
			break
		}
		select {
		case <-q.writable:
		case <-q.done:
		case <-ctx.Done():
			return taken, ctx.Err()
		}
	}
	return taken, nil
}

// Take moves up to max messages (at least one) from the front of the queue
// into dst, which it resets first, waiting while the queue is empty. Once
// the queue is closed and empty it returns ErrClosed.
func (q *Queue) Take(ctx context.Context, dst *message.Batch, max int) error {
	if max <= 0 {
		max = chunkMessages
	}
	dst.Reset()
	for {
		q.mu.Lock()
		if q.n > 0 {
			for q.n > 0 && dst.Len() < max {
				c := q.chunks[0]
				k := min(c.left(), max-dst.Len())
				frames, data := 0, 0
				for _, p := range c.b.Parts[c.msg : c.msg+k] {
					frames += int(p)
				}
				for _, s := range c.b.Sizes[c.frame : c.frame+frames] {
					data += int(s)
				}
				dst.Data = append(dst.Data, c.b.Data[c.data:c.data+data]...)
				dst.Sizes = append(dst.Sizes, c.b.Sizes[c.frame:c.frame+frames]...)
				dst.Parts = append(dst.Parts, c.b.Parts[c.msg:c.msg+k]...)
				c.msg, c.frame, c.data = c.msg+k, c.frame+frames, c.data+data
				q.n -= k
				if c.left() == 0 {
					q.releaseFrontLocked()
				}
			}
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
