package puresock

// msgQueue is a FIFO of multipart messages in a ring buffer that counts
// the payload bytes it holds. Each message is stored with its size, which
// the caller computes once however many queues it goes to. It is not safe
// for concurrent use; the socket's mutex guards every queue.
type msgQueue struct {
	buf   []queued
	head  int
	n     int
	bytes int
}

// queued is a message and its payload bytes.
type queued struct {
	msg  [][]byte
	size int
}

// shrinkCap is the capacity above which an emptied queue gives its ring
// back to the garbage collector.
const shrinkCap = 4096

func (q *msgQueue) len() int { return q.n }

// size returns the payload bytes of the queued messages.
func (q *msgQueue) size() int { return q.bytes }

// msgSize returns the payload bytes of m.
func msgSize(m [][]byte) int {
	n := 0
	for _, f := range m {
		n += len(f)
	}
	return n
}

// push queues m, whose payload is size bytes (msgSize).
func (q *msgQueue) push(m [][]byte, size int) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = queued{m, size}
	q.n++
	q.bytes += size
}

func (q *msgQueue) grow() {
	size := max(2*len(q.buf), 16)
	buf := make([]queued, size)
	for i := range q.n {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}

// peek returns the oldest message; the queue must not be empty.
func (q *msgQueue) peek() [][]byte { return q.buf[q.head].msg }

// pop removes and returns the oldest message and its size; the queue must
// not be empty.
func (q *msgQueue) pop() ([][]byte, int) {
	e := q.buf[q.head]
	q.buf[q.head] = queued{}
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	q.bytes -= e.size
	if q.n == 0 {
		q.head = 0
		if len(q.buf) > shrinkCap {
			q.buf = nil
		}
	}
	return e.msg, e.size
}

// popBatch moves messages to dst until it holds maxMsgs messages or at
// least maxBytes bytes, and returns it with the bytes moved.
func (q *msgQueue) popBatch(dst [][][]byte, maxMsgs, maxBytes int) ([][][]byte, int) {
	bytes := 0
	for q.n > 0 && len(dst) < maxMsgs && bytes < maxBytes {
		m, size := q.pop()
		bytes += size
		dst = append(dst, m)
	}
	return dst, bytes
}

// clear drops every message.
func (q *msgQueue) clear() {
	*q = msgQueue{}
}
