// Package cload is the libzmq load generator of the benchmark commands,
// its hot loops in C (cload.c) so that the client, not the system under
// test, is never what limits a run: Zeek-shaped events from XPUB sockets
// to an XSUB that checks their order (brokerbench), and a prepared 4-frame
// message sent over and over from a PUSH socket (loggerbench, otlpbench).
package cload

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

// Type is a libzmq socket type.
type Type int

// The socket types the load generator uses.
const (
	XPUB = Type(C.ZMQ_XPUB)
	XSUB = Type(C.ZMQ_XSUB)
	PUSH = Type(C.ZMQ_PUSH)
)

// Context is a libzmq context and the sockets opened in it.
type Context struct {
	p     unsafe.Pointer
	socks []*Socket
}

// NewContext returns a context with ioThreads I/O threads.
func NewContext(ioThreads int) (*Context, error) {
	p, err := C.zmq_ctx_new()
	if p == nil {
		return nil, fmt.Errorf("zmq_ctx_new: %w", err)
	}
	if rc, err := C.zmq_ctx_set(p, C.ZMQ_IO_THREADS, C.int(ioThreads)); rc != 0 {
		C.zmq_ctx_term(p)
		return nil, fmt.Errorf("io threads %d: %w", ioThreads, err)
	}
	return &Context{p: p}, nil
}

// Close closes every socket opened in c and terminates c. No socket may be
// in use.
func (c *Context) Close() {
	for _, s := range c.socks {
		s.Close()
	}
	for {
		if rc, err := C.zmq_ctx_term(c.p); rc == 0 || !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}

// Option is a socket option.
type Option struct {
	name  string
	opt   C.int
	value C.int
}

// Linger sets ZMQ_LINGER.
func Linger(d time.Duration) Option {
	return Option{"linger", C.ZMQ_LINGER, C.int(d.Milliseconds())}
}

// SendTimeout sets ZMQ_SNDTIMEO: how long a send blocks before it fails
// with EAGAIN.
func SendTimeout(d time.Duration) Option {
	return Option{"sndtimeo", C.ZMQ_SNDTIMEO, C.int(d.Milliseconds())}
}

// ReceiveTimeout sets ZMQ_RCVTIMEO: how long a receive blocks before it
// fails with EAGAIN.
func ReceiveTimeout(d time.Duration) Option {
	return Option{"rcvtimeo", C.ZMQ_RCVTIMEO, C.int(d.Milliseconds())}
}

// SendHWM sets ZMQ_SNDHWM, the send high-water mark in messages.
func SendHWM(n int) Option { return Option{"sndhwm", C.ZMQ_SNDHWM, C.int(n)} }

// XPubNoDrop sets ZMQ_XPUB_NODROP on an XPUB socket: sends block (or time
// out) instead of dropping when a subscriber is full.
func XPubNoDrop() Option { return Option{"xpub_nodrop", C.ZMQ_XPUB_NODROP, 1} }

// Socket is a libzmq socket used by one goroutine at a time.
type Socket struct{ p unsafe.Pointer }

// Socket opens a socket of type typ with opts and connects it to endpoint.
// Context.Close closes it.
func (c *Context) Socket(typ Type, endpoint string, opts ...Option) (*Socket, error) {
	p, err := C.zmq_socket(c.p, C.int(typ))
	if p == nil {
		return nil, fmt.Errorf("zmq_socket: %w", err)
	}
	s := &Socket{p: p}
	for _, o := range opts {
		v := o.value
		if rc, err := C.zmq_setsockopt(p, o.opt, unsafe.Pointer(&v), C.size_t(unsafe.Sizeof(v))); rc != 0 {
			s.Close()
			return nil, fmt.Errorf("set %s: %w", o.name, err)
		}
	}
	ep := C.CString(endpoint)
	defer C.free(unsafe.Pointer(ep))
	if rc, err := C.zmq_connect(p, ep); rc != 0 {
		s.Close()
		return nil, fmt.Errorf("connect %s: %w", endpoint, err)
	}
	c.socks = append(c.socks, s)
	return s, nil
}

// Close closes s; closing it again does nothing.
func (s *Socket) Close() {
	if s.p != nil {
		C.zmq_close(s.p)
		s.p = nil
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

// Send sends one single-frame message.
func (s *Socket) Send(b []byte) error { return s.SendMessage(b) }

// SendMessage sends frames as one multipart message.
func (s *Socket) SendMessage(frames ...[]byte) error {
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

// maxFrame is the most of a received frame that is kept.
const maxFrame = 65536

// Recv receives one frame (at most 64 KiB are kept); a timeout returns
// syscall.EAGAIN.
func (s *Socket) Recv() ([]byte, error) {
	frame, _, err := s.recvFrame()
	return frame, err
}

func (s *Socket) recvFrame() (frame []byte, more bool, err error) {
	buf := C.malloc(maxFrame)
	defer C.free(buf)
	var n C.int
	if err := retryEINTR(func() (C.int, error) {
		var err error
		n, err = C.zmq_recv(s.p, buf, maxFrame, 0)
		return n, err
	}); err != nil {
		return nil, false, err
	}
	frame = C.GoBytes(buf, C.int(min(int(n), maxFrame)))
	var m C.int
	size := C.size_t(unsafe.Sizeof(m))
	if rc, err := C.zmq_getsockopt(s.p, C.ZMQ_RCVMORE, unsafe.Pointer(&m), &size); rc != 0 {
		return nil, false, fmt.Errorf("rcvmore: %w", err)
	}
	return frame, m != 0, nil
}

// RecvMessage receives one multipart message.
func (s *Socket) RecvMessage() ([][]byte, error) {
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
