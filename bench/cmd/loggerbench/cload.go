package main

// #cgo pkg-config: libzmq
// #include <stdlib.h>
// #include <zmq.h>
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

// sendPoll is the PUSH socket's send timeout: how often a blocked sender
// looks at its context.
const sendPoll = 100 * time.Millisecond

// cMessage is a 4-frame message in C memory, for the send loop.
type cMessage struct {
	frames *[4]unsafe.Pointer
	lens   *[4]C.size_t
}

func newCMessage(frames [][]byte) (*cMessage, error) {
	if len(frames) != 4 {
		return nil, fmt.Errorf("%d frames, want 4", len(frames))
	}
	m := &cMessage{
		frames: (*[4]unsafe.Pointer)(C.calloc(4, C.size_t(unsafe.Sizeof(unsafe.Pointer(nil))))),
		lens:   (*[4]C.size_t)(C.calloc(4, C.size_t(unsafe.Sizeof(C.size_t(0))))),
	}
	for i, f := range frames {
		m.frames[i], m.lens[i] = C.CBytes(f), C.size_t(len(f))
	}
	return m, nil
}

func (m *cMessage) free() {
	for _, f := range m.frames {
		C.free(f)
	}
	C.free(unsafe.Pointer(m.frames))
	C.free(unsafe.Pointer(m.lens))
}

// pusher is the load generator: a libzmq PUSH socket connected to the
// logger's PULL endpoint, with Zeek's log_sndhwm (1000).
type pusher struct {
	ctx  unsafe.Pointer
	sock unsafe.Pointer
}

func newPusher(endpoint string) (*pusher, error) {
	zctx, err := C.zmq_ctx_new()
	if zctx == nil {
		return nil, fmt.Errorf("push: zmq_ctx_new: %w", err)
	}
	p := &pusher{ctx: zctx}
	if p.sock, err = C.zmq_socket(zctx, C.ZMQ_PUSH); p.sock == nil {
		p.close()
		return nil, fmt.Errorf("push: zmq_socket: %w", err)
	}
	for _, o := range []struct {
		name  string
		opt   C.int
		value C.int
	}{
		{"linger", C.ZMQ_LINGER, 0},
		{"sndhwm", C.ZMQ_SNDHWM, 1000},
		{"sndtimeo", C.ZMQ_SNDTIMEO, C.int(sendPoll.Milliseconds())},
	} {
		v := o.value
		if rc, err := C.zmq_setsockopt(p.sock, o.opt, unsafe.Pointer(&v), C.size_t(unsafe.Sizeof(v))); rc != 0 {
			p.close()
			return nil, fmt.Errorf("push: set %s: %w", o.name, err)
		}
	}
	ep := C.CString(endpoint)
	defer C.free(unsafe.Pointer(ep))
	if rc, err := C.zmq_connect(p.sock, ep); rc != 0 {
		p.close()
		return nil, fmt.Errorf("push: connect %s: %w", endpoint, err)
	}
	return p, nil
}

// send sends m count times, blocking while the logger is full, until ctx
// ends.
func (p *pusher) send(ctx context.Context, m *cMessage, count uint64) error {
	for count > 0 {
		var sent C.uint64_t
		rc, err := C.lb_push(p.sock, &m.frames[0], &m.lens[0], C.uint64_t(count), &sent)
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

func (p *pusher) close() {
	if p.sock != nil {
		C.zmq_close(p.sock)
	}
	for {
		if rc, err := C.zmq_ctx_term(p.ctx); rc == 0 || !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}
