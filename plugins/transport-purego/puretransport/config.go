package puretransport

import (
	"errors"
	"fmt"
	"time"

	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/zmqopts"
	"github.com/zpipe/zpipe/plugins/transport-purego/puresock"
)

// Socket kinds offered by the transport.
const (
	KindXSub = zmqopts.KindXSub
	KindPull = zmqopts.KindPull
	KindXPub = zmqopts.KindXPub
	KindPush = zmqopts.KindPush
)

// Values of the framing attribute.
const (
	FramingZeek = zmqopts.FramingZeek
	FramingRaw  = zmqopts.FramingRaw
)

// variant is what this transport does its own way in the socket
// attributes zpipe's ZeroMQ transports share. It has no CURVE: the
// curve_* attributes are refused by name.
func variant() *zmqopts.Variant {
	return &zmqopts.Variant{
		Transport: Name,
		// A message stays within one batch of the plugin protocol.
		MaxMessageBytes:  1 << 30,
		MaxMessageFrames: 1 << 20,
		Descriptions: map[string]string{
			zmqopts.AttrSndHWMBytes:  "Payload bytes queued per peer for sending, beside sndhwm (0 = unlimited); a queue below it takes one more message of any size.",
			zmqopts.AttrRcvHWMBytes:  "Payload bytes queued per peer for receiving, beside rcvhwm (0 = unlimited); a peer beyond it is not read from until there is room.",
			zmqopts.AttrIOThreads:    "ZMQ_IO_THREADS in the cgo transport; accepted for the same pipelines, without effect here (goroutines do the I/O).",
			zmqopts.AttrPollMax:      "In a link, the most messages read from one socket per poll round (and at most 4 MiB), so neither direction starves.",
			zmqopts.AttrMaxMsgBytes:  "Largest message read from a peer, in payload bytes; a peer that sends a larger one is disconnected and the message counted (oversize).",
			zmqopts.AttrMaxMsgFrames: "Most frames of a message read from a peer; a peer that sends more is disconnected and the message counted (oversize).",
			zmqopts.AttrNoDrop:       "ZMQ_XPUB_NODROP: wait (send_timeout_ms) for a subscriber whose queue is full; false stalls it at once.",
			KindXPub + "." + zmqopts.AttrSendTimeout: "How long to wait for a subscriber whose queue is full: -1 until it has room (lossless; every subscriber waits), " +
				"0 not at all, N up to N ms. Then it is stalled: it misses messages, without further waits, until it has read half its queue; " +
				"the others get them. Misses are counted per subscriber.",
			KindPush + "." + zmqopts.AttrSendTimeout: "What to do when no peer has room (HWM reached, or no peer): -1 wait until one has, " +
				"0 drop the message at once, N wait up to N ms, then drop it and drop further refused messages at once until sends succeed again. Drops are counted.",
			zmqopts.AttrStallDisc: "Disconnect a subscriber stalled this many ms, discarding its queue (0 = never).",
		},
	}
}

// problemError turns the first of problems into the error Open returns.
func problemError(problems []transport.Problem) error {
	p := problems[0]
	if p.Attribute == "" {
		return errors.New(p.Message)
	}
	return fmt.Errorf("attribute %q: %s", p.Attribute, p.Message)
}

// options translates the config of a socket of the given kind into socket
// options. A push reads nothing but commands from its peers and has no
// message limits to set: the socket's defaults bound them.
func options(c *zmqopts.Config, kind string) puresock.Options {
	o := puresock.DefaultOptions()
	o.SendHWM, o.RecvHWM = c.SndHWM, c.RcvHWM
	o.SendHWMBytes, o.RecvHWMBytes = c.SndHWMBytes, c.RcvHWMBytes
	if c.MaxMessageBytes > 0 {
		o.MaxMessageBytes, o.MaxMessageFrames = int64(c.MaxMessageBytes), c.MaxMessageFrames
	}
	o.Linger = time.Duration(c.LingerMs) * time.Millisecond
	if c.LingerMs < 0 {
		o.Linger = -1
	}
	o.Immediate = c.Immediate
	o.SendBuffer, o.RecvBuffer = c.SndBuf, c.RcvBuf
	o.IPv6 = c.IPv6
	if kind == KindXPub {
		o.XPubVerbose, o.XPubVerboser, o.XPubNoDrop = c.Verbose, c.Verboser, c.NoDrop
		o.StallDisconnect = time.Duration(c.StallDisconnectMs) * time.Millisecond
		o.PeerLabel = zeekNodeID
	}
	return o
}
