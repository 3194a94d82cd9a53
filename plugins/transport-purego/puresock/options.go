package puresock

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-zeromq/zmq4"
)

// Type is a socket type.
type Type int

// The socket types this package implements.
const (
	XSub Type = iota + 1
	XPub
	Push
	Pull
)

// String returns the ZeroMQ name of the type ("XSUB", …).
func (t Type) String() string {
	if z := t.zmtp(); z != "" {
		return string(z)
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// zmtp returns the socket type as announced in the ZMTP handshake.
func (t Type) zmtp() zmq4.SocketType {
	switch t {
	case XSub:
		return zmq4.XSub
	case XPub:
		return zmq4.XPub
	case Push:
		return zmq4.Push
	case Pull:
		return zmq4.Pull
	}
	return ""
}

func (t Type) sends() bool    { return t == XPub || t == Push || t == XSub }
func (t Type) receives() bool { return t == XSub || t == Pull || t == XPub }

// Errors returned by sockets.
var (
	// ErrWouldBlock is libzmq's EAGAIN: the socket cannot take the message
	// now (a high-water mark is reached, or a PUSH socket has no pipe).
	ErrWouldBlock = errors.New("puresock: socket would block")
	// ErrClosed is returned by every call on a closed socket.
	ErrClosed = errors.New("puresock: socket closed")
	// ErrEmptyMessage rejects a message without frames.
	ErrEmptyMessage = errors.New("puresock: message has no frames")
	// ErrNotSupported rejects an operation the socket type does not have,
	// such as sending on a PULL socket.
	ErrNotSupported = errors.New("puresock: operation not supported by this socket type")
)

// Options are a socket's settings, named after the libzmq options they
// stand for. DefaultOptions returns libzmq's defaults.
type Options struct {
	// SendHWM (ZMQ_SNDHWM) bounds the messages queued for each peer; 0
	// means no limit.
	SendHWM int
	// RecvHWM (ZMQ_RCVHWM) bounds the messages received from each peer and
	// not read yet; a peer beyond it is not read from until there is room,
	// which pushes back through TCP. 0 means no limit.
	RecvHWM int
	// Linger (ZMQ_LINGER) is how long Close keeps sending what is queued:
	// negative waits until everything is written, 0 discards it.
	Linger time.Duration
	// Immediate (ZMQ_IMMEDIATE) queues messages only to completed
	// connections. Without it, each connect endpoint has a pipe from the
	// start that outlives disconnects: messages queue there (up to the
	// HWM) until the peer is reachable.
	Immediate bool
	// SendBuffer and RecvBuffer (ZMQ_SNDBUF, ZMQ_RCVBUF) set the kernel
	// socket buffers in bytes; negative keeps the OS default.
	SendBuffer int
	RecvBuffer int
	// IPv6 (ZMQ_IPV6) allows IPv6 endpoints; a wildcard bind listens on
	// both families, host names resolve to both.
	IPv6 bool
	// XPubVerbose (ZMQ_XPUB_VERBOSE) passes every subscribe message to
	// the application, repeats included.
	XPubVerbose bool
	// XPubVerboser (ZMQ_XPUB_VERBOSER) passes every subscribe and every
	// unsubscribe message, including the unsubscriptions of departed peers.
	XPubVerboser bool
	// XPubNoDrop (ZMQ_XPUB_NODROP) refuses a message with ErrWouldBlock
	// when the queue of a subscriber it matches is full. Without it the
	// message is not queued for that subscriber, and counted in Dropped.
	XPubNoDrop bool
	// ReconnectInterval (ZMQ_RECONNECT_IVL) is the first wait before a
	// connect endpoint tries again; the wait doubles after every failed
	// attempt up to ReconnectIntervalMax, and starts over after a
	// connection that worked. Reconnecting never stops.
	ReconnectInterval    time.Duration
	ReconnectIntervalMax time.Duration
	// HandshakeTimeout (ZMQ_HANDSHAKE_IVL) bounds the ZMTP handshake of a
	// new connection; 0 waits forever.
	HandshakeTimeout time.Duration
	// Logger receives connects, disconnects and failed handshakes at
	// debug level. Nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns libzmq's defaults, with a reconnect backoff of
// 100 ms doubling up to 2 s.
func DefaultOptions() Options {
	return Options{
		SendHWM:              1000,
		RecvHWM:              1000,
		Linger:               -1,
		SendBuffer:           -1,
		RecvBuffer:           -1,
		ReconnectInterval:    100 * time.Millisecond,
		ReconnectIntervalMax: 2 * time.Second,
		HandshakeTimeout:     30 * time.Second,
	}
}

func (o *Options) check() error {
	switch {
	case o.SendHWM < 0:
		return fmt.Errorf("send HWM %d: negative", o.SendHWM)
	case o.RecvHWM < 0:
		return fmt.Errorf("receive HWM %d: negative", o.RecvHWM)
	case o.ReconnectInterval <= 0:
		return fmt.Errorf("reconnect interval %s: must be positive", o.ReconnectInterval)
	case o.HandshakeTimeout < 0:
		return fmt.Errorf("handshake timeout %s: negative", o.HandshakeTimeout)
	}
	if o.ReconnectIntervalMax < o.ReconnectInterval {
		o.ReconnectIntervalMax = o.ReconnectInterval
	}
	return nil
}
