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
	// ErrDrained is returned by Recv on a quiesced socket once everything
	// received has been read.
	ErrDrained = errors.New("puresock: socket drained")
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
	// SendHWMBytes and RecvHWMBytes bound the same queues in payload
	// bytes, beside SendHWM and RecvHWM (libzmq has no such bound). A
	// queue below its bound takes one more message of any size, so a
	// message larger than the bound still passes alone. 0 means no limit.
	SendHWMBytes int
	RecvHWMBytes int
	// MaxMessageBytes and MaxMessageFrames bound one message received
	// from a peer (ZMQ_MAXMSGSIZE, and a frame count libzmq lacks). Every
	// frame header is checked against what is left of them before
	// anything is allocated; a peer that goes over is disconnected and
	// counted (Counters.Oversize, Counters.PeerOversize). 0 means no
	// limit (frames are still at most MaxFrameSize bytes).
	MaxMessageBytes  int64
	MaxMessageFrames int
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
	// when the queue of a subscriber it matches is full and the
	// subscriber is not stalled (see PublishStalling). Without it, such a
	// subscriber stalls at once: it misses the message and later ones
	// until its queue has drained to half its bounds.
	XPubNoDrop bool
	// StallDisconnect disconnects an XPUB subscriber whose stall episode
	// lasted this long, discarding what its queue holds; 0 never does.
	StallDisconnect time.Duration
	// PeerLabel names an XPUB subscriber from a prefix it subscribed to
	// (for Zeek, the node id of its node-id subscription): it returns the
	// label and true, or false for prefixes that do not name the peer.
	// Labels appear in Peers and in the stall log lines.
	PeerLabel func(prefix []byte) (string, bool)
	// ReconnectInterval (ZMQ_RECONNECT_IVL) is the first wait before a
	// connect endpoint tries again; the wait doubles after every failed
	// attempt up to ReconnectIntervalMax, and starts over after a
	// connection that worked. Reconnecting never stops.
	ReconnectInterval    time.Duration
	ReconnectIntervalMax time.Duration
	// HandshakeTimeout (ZMQ_HANDSHAKE_IVL) bounds the ZMTP handshake of a
	// new connection; 0 waits forever.
	HandshakeTimeout time.Duration
	// Logger receives connects and disconnects at debug level; failed
	// connects and handshakes, oversize messages and stalled subscribers
	// at warning level (rate-limited), recovered subscribers at info
	// level. Nil discards them.
	Logger *slog.Logger
}

// Defaults of the bounds libzmq does not have.
const (
	// DefaultHWMBytes bounds each pipe's queue in bytes.
	DefaultHWMBytes = 64 << 20
	// DefaultMaxMessageBytes and DefaultMaxMessageFrames bound a received
	// message; Zeek's largest (log batches of up to 1000 records) have 4
	// frames and stay far below 64 MiB.
	DefaultMaxMessageBytes  = 64 << 20
	DefaultMaxMessageFrames = 1024
)

// DefaultOptions returns libzmq's defaults, with a reconnect backoff of
// 100 ms doubling up to 2 s, and the byte and message bounds libzmq does
// not have.
func DefaultOptions() Options {
	return Options{
		SendHWM:              1000,
		RecvHWM:              1000,
		SendHWMBytes:         DefaultHWMBytes,
		RecvHWMBytes:         DefaultHWMBytes,
		MaxMessageBytes:      DefaultMaxMessageBytes,
		MaxMessageFrames:     DefaultMaxMessageFrames,
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
	case o.SendHWMBytes < 0:
		return fmt.Errorf("send HWM of %d bytes: negative", o.SendHWMBytes)
	case o.RecvHWMBytes < 0:
		return fmt.Errorf("receive HWM of %d bytes: negative", o.RecvHWMBytes)
	case o.MaxMessageBytes < 0:
		return fmt.Errorf("maximum message size %d: negative", o.MaxMessageBytes)
	case o.MaxMessageFrames < 0:
		return fmt.Errorf("maximum frame count %d: negative", o.MaxMessageFrames)
	case o.StallDisconnect < 0:
		return fmt.Errorf("stall disconnect time %s: negative", o.StallDisconnect)
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
