package cload

// #include <stdlib.h>
// #include "cload.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
	"unsafe"
)

// Message is a 4-frame message in C memory, for Pusher.Send.
type Message struct {
	frames *[4]unsafe.Pointer
	lens   *[4]C.size_t
}

// NewMessage copies frames, which must be 4, into C memory. Free releases
// it.
func NewMessage(frames [][]byte) (*Message, error) {
	if len(frames) != 4 {
		return nil, fmt.Errorf("%d frames, want 4", len(frames))
	}
	m := &Message{
		frames: (*[4]unsafe.Pointer)(C.calloc(4, C.size_t(unsafe.Sizeof(unsafe.Pointer(nil))))),
		lens:   (*[4]C.size_t)(C.calloc(4, C.size_t(unsafe.Sizeof(C.size_t(0))))),
	}
	for i, f := range frames {
		m.frames[i], m.lens[i] = C.CBytes(f), C.size_t(len(f))
	}
	return m, nil
}

// Free releases m's C memory.
func (m *Message) Free() {
	for _, f := range m.frames {
		C.free(f)
	}
	C.free(unsafe.Pointer(m.frames))
	C.free(unsafe.Pointer(m.lens))
}

// sendPoll is the PUSH socket's send timeout: how often a blocked Send
// looks at its context.
const sendPoll = 100 * time.Millisecond

// zeekLogSndHWM is Zeek's log_sndhwm, the high-water mark of its nodes'
// PUSH sockets to the logger.
const zeekLogSndHWM = 1000

// Pusher is a PUSH socket in a context of its own, connected to a PULL
// endpoint like a Zeek node's to its logger (send high-water mark 1000,
// linger 0).
type Pusher struct {
	c    *Context
	sock *Socket
}

// NewPusher connects a Pusher to endpoint.
func NewPusher(endpoint string) (*Pusher, error) {
	c, err := NewContext(1)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	sock, err := c.Socket(PUSH, endpoint, Linger(0), SendHWM(zeekLogSndHWM), SendTimeout(sendPoll))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("push: %w", err)
	}
	return &Pusher{c: c, sock: sock}, nil
}

// Send sends m count times, blocking while the PULL side is full (the
// backpressure that paces the load), until ctx ends.
func (p *Pusher) Send(ctx context.Context, m *Message, count uint64) error {
	for count > 0 {
		var sent C.uint64_t
		rc, err := C.cload_push(p.sock.p, &m.frames[0], &m.lens[0], C.uint64_t(count), &sent)
		count -= uint64(sent)
		if rc == 0 {
			return nil
		}
		if !errors.Is(err, syscall.EAGAIN) {
			return fmt.Errorf("push: send: %w", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// Close closes the socket and its context.
func (p *Pusher) Close() { p.c.Close() }
