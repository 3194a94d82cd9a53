package main

// #cgo pkg-config: libzmq
// #include <stdlib.h>
// #include <zmq.h>
// #include "cload.h"
import "C"

import (
	"errors"
	"fmt"
	"syscall"
	"time"
	"unsafe"
)

// cContext is a libzmq context for the C load generator.
type cContext struct{ p unsafe.Pointer }

func newCContext(ioThreads int) (*cContext, error) {
	p, err := C.zmq_ctx_new()
	if p == nil {
		return nil, fmt.Errorf("zmq_ctx_new: %w", err)
	}
	if rc, err := C.zmq_ctx_set(p, C.ZMQ_IO_THREADS, C.int(ioThreads)); rc != 0 {
		C.zmq_ctx_term(p)
		return nil, fmt.Errorf("io threads %d: %w", ioThreads, err)
	}
	return &cContext{p: p}, nil
}

// term terminates the context; every socket must be closed.
func (c *cContext) term() {
	for {
		if rc, err := C.zmq_ctx_term(c.p); rc == 0 || !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}

// retryEINTR repeats a libzmq call interrupted by a signal (the Go runtime
// sends them) and returns its error, if it failed otherwise.
func retryEINTR(call func() (C.int, error)) error {
	for {
		rc, err := call()
		if rc >= 0 {
			return nil
		}
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// cSocket is a libzmq socket used by one goroutine at a time.
type cSocket struct{ p unsafe.Pointer }

// socket opens a socket of type typ (C.ZMQ_XPUB, …) with linger 0 and the
// given timeouts, applies XPUB_NODROP to XPUB sockets, and connects it.
func (c *cContext) socket(typ int, endpoint string, timeout time.Duration) (*cSocket, error) {
	p, err := C.zmq_socket(c.p, C.int(typ))
	if p == nil {
		return nil, fmt.Errorf("zmq_socket: %w", err)
	}
	s := &cSocket{p: p}
	opts := []struct {
		name  string
		opt   C.int
		value C.int
	}{
		{"linger", C.ZMQ_LINGER, 0},
		{"sndtimeo", C.ZMQ_SNDTIMEO, C.int(timeout.Milliseconds())},
		{"rcvtimeo", C.ZMQ_RCVTIMEO, C.int(timeout.Milliseconds())},
	}
	if typ == cXPUB {
		opts = append(opts, struct {
			name  string
			opt   C.int
			value C.int
		}{"xpub_nodrop", C.ZMQ_XPUB_NODROP, 1})
	}
	for _, o := range opts {
		v := o.value
		if rc, err := C.zmq_setsockopt(p, o.opt, unsafe.Pointer(&v), C.size_t(unsafe.Sizeof(v))); rc != 0 {
			s.close()
			return nil, fmt.Errorf("set %s: %w", o.name, err)
		}
	}
	ep := C.CString(endpoint)
	defer C.free(unsafe.Pointer(ep))
	if rc, err := C.zmq_connect(p, ep); rc != 0 {
		s.close()
		return nil, fmt.Errorf("connect %s: %w", endpoint, err)
	}
	return s, nil
}

func (s *cSocket) close() { C.zmq_close(s.p) }

// send sends one single-frame message.
func (s *cSocket) send(b []byte) error {
	cb := C.CBytes(b)
	defer C.free(cb)
	if err := retryEINTR(func() (C.int, error) {
		rc, err := C.zmq_send(s.p, cb, C.size_t(len(b)), 0)
		return rc, err
	}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// sendMessage sends frames as one multipart message.
func (s *cSocket) sendMessage(frames ...[]byte) error {
	for i, f := range frames {
		flags := C.int(C.ZMQ_SNDMORE)
		if i == len(frames)-1 {
			flags = 0
		}
		cb := C.CBytes(f)
		err := retryEINTR(func() (C.int, error) {
			rc, err := C.zmq_send(s.p, cb, C.size_t(len(f)), flags)
			return rc, err
		})
		C.free(cb)
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	return nil
}

// recv receives one frame (at most 64 KiB are kept); a timeout returns
// syscall.EAGAIN.
func (s *cSocket) recv() ([]byte, error) {
	frame, _, err := s.recvFrame()
	return frame, err
}

func (s *cSocket) recvFrame() (frame []byte, more bool, err error) {
	const max = 65536
	buf := C.malloc(max)
	defer C.free(buf)
	var n C.int
	if err := retryEINTR(func() (C.int, error) {
		var err error
		n, err = C.zmq_recv(s.p, buf, max, 0)
		return n, err
	}); err != nil {
		return nil, false, err
	}
	frame = C.GoBytes(buf, C.int(min(int(n), max)))
	var m C.int
	size := C.size_t(unsafe.Sizeof(m))
	if rc, err := C.zmq_getsockopt(s.p, C.ZMQ_RCVMORE, unsafe.Pointer(&m), &size); rc != 0 {
		return nil, false, fmt.Errorf("rcvmore: %w", err)
	}
	return frame, m != 0, nil
}

// recvMessage receives one multipart message.
func (s *cSocket) recvMessage() ([][]byte, error) {
	var frames [][]byte
	for {
		f, more, err := s.recvFrame()
		if err != nil {
			return nil, err
		}
		frames = append(frames, f)
		if !more {
			return frames, nil
		}
	}
}

// publish runs the C publisher loop; see bb_publish.
func (s *cSocket) publish(topic, id string, payload int, index int, count uint64, d time.Duration) (sent uint64, err error) {
	ct, cid := C.CString(topic), C.CString(id)
	defer C.free(unsafe.Pointer(ct))
	defer C.free(unsafe.Pointer(cid))
	var n C.uint64_t
	rc, err := C.bb_publish(s.p, ct, C.int(len(topic)), cid, C.int(len(id)), C.int(payload),
		C.uint32_t(index), C.uint64_t(count), C.int64_t(d.Nanoseconds()), &n)
	if rc != 0 {
		return uint64(n), fmt.Errorf("publish: %w", err)
	}
	return uint64(n), nil
}

// receive runs the C subscriber loop; see bb_receive.
func (s *cSocket) receive(publishers int) (received, lost uint64, err error) {
	var r, l C.uint64_t
	rc, errno := C.bb_receive(s.p, C.int(publishers), &r, &l)
	switch rc {
	case 0:
		return uint64(r), uint64(l), nil
	case -1:
		if errors.Is(errno, syscall.EAGAIN) {
			return uint64(r), uint64(l), fmt.Errorf("receive: no event within the timeout after %d events: broker stalled", r)
		}
		return uint64(r), uint64(l), fmt.Errorf("receive: %w", errno)
	case -2:
		return uint64(r), uint64(l), errors.New("receive: a message that is not a 4-frame benchmark event")
	default:
		return uint64(r), uint64(l), errors.New("receive: events out of order")
	}
}

const (
	cXPUB = int(C.ZMQ_XPUB)
	cXSUB = int(C.ZMQ_XSUB)
	// cMinPayload is the smallest payload the C loops accept.
	cMinPayload = int(C.BB_MIN_PAYLOAD)
	// cMaxPayload is the largest payload the C publisher sends.
	cMaxPayload = 65536
	// cMaxPublishers is the most publishers the C receiver tracks.
	cMaxPublishers = int(C.BB_MAX_PUBLISHERS)
)
