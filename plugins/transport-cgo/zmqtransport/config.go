package zmqtransport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/zmqopts"
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

// xsubMinSndHWM is the least ZMQ_SNDHWM of an xsub. An xsub sends only
// subscription messages, and libzmq's XSUB drops those beyond its send
// high-water mark without telling, so it holds at least a burst of this
// many for each publisher (0, unlimited, stays unlimited).
const xsubMinSndHWM = 100000

// variant is what this transport does its own way in the socket
// attributes zpipe's ZeroMQ transports share.
func variant() *zmqopts.Variant {
	return &zmqopts.Variant{
		Transport: Name,
		Curve:     zmq.HasCurve(),
		// Frames and messages are counted in 32 bits on the way to the
		// core.
		MaxMessageBytes:  math.MaxUint32,
		MaxMessageFrames: math.MaxInt32,
		Descriptions: map[string]string{
			zmqopts.AttrSndHWMBytes: "Payload bytes queued per peer for sending, beside sndhwm; libzmq counts messages only, so this transport accepts the default alone.",
			zmqopts.AttrRcvHWMBytes: "Payload bytes queued per peer for receiving, beside rcvhwm; libzmq counts messages only, so this transport accepts the default alone.",
			zmqopts.AttrIOThreads:   "ZMQ_IO_THREADS of the socket's context; sockets asking for the same number share one context.",
			zmqopts.AttrPollMax:     "In a link, the most messages read from one socket per poll round, so neither direction starves.",
			zmqopts.AttrMaxMsgBytes: "Largest message (all frames) read from a peer, in bytes. A peer sending more is disconnected and the message dropped " +
				"(counted as oversize, the disconnect as a peer_oversize event); a single frame above it is refused by libzmq itself, which reports only a disconnect, uncounted.",
			zmqopts.AttrMaxMsgFrames: "Most frames in a message read from a peer. A peer sending more is disconnected and the message dropped (counted as oversize, the disconnect as a peer_oversize event).",
			KindXSub + "." + zmqopts.AttrSndHWM: fmt.Sprintf("ZMQ_SNDHWM: subscription messages queued per publisher (0 = unlimited), at least %d whatever the value: "+
				"libzmq's XSUB drops subscriptions beyond it without telling, so bursts must fit.", xsubMinSndHWM),
			zmqopts.AttrNoDrop: "ZMQ_XPUB_NODROP: refuse (rather than silently drop) a message when a subscriber's queue is full.",
			zmqopts.AttrSendTimeout: "What to do when the socket refuses a message (HWM reached, or no peer): -1 wait until it is taken, " +
				"0 drop it at once, N wait up to N ms, then drop and drop further refused messages at once until sends succeed again. Drops are counted.",
			zmqopts.AttrStallDisc: "Disconnect a subscriber that stayed stalled (its queue full, not reading) for this many ms; 0 never does.",
		},
	}
}

// parseConfig decodes and validates the JSON body of a socket of the given
// kind. Attributes left out take their defaults. Its error lists every
// problem found.
func (s *Server) parseConfig(kind string, raw []byte) (*zmqopts.Config, error) {
	c, problems := s.variant.Decode(kind, raw)
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = problemText(p)
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	return c, nil
}

// problemText renders a problem the way Open reports it.
func problemText(p transport.Problem) string {
	switch {
	case p.Attribute == "":
		return p.Message
	case p.Index >= 0:
		return fmt.Sprintf("attribute \"%s[%d]\": %s", p.Attribute, p.Index, p.Message)
	default:
		return fmt.Sprintf("attribute %q: %s", p.Attribute, p.Message)
	}
}

// bindEndpoint returns the endpoint to hand libzmq for bind endpoint ep:
// libzmq binds to an address or a network interface but does not resolve
// host names, so a name is resolved here (an IPv4 address first unless
// ipv6 allows IPv6).
func bindEndpoint(ctx context.Context, ep string, ipv6 bool) (string, error) {
	rest, ok := strings.CutPrefix(ep, "tcp://")
	if !ok {
		return ep, nil
	}
	i := strings.LastIndexByte(rest, ':')
	host, port := rest[:i], rest[i+1:]
	if host == "*" || strings.HasPrefix(host, "[") || net.ParseIP(host) != nil {
		return ep, nil
	}
	if _, err := net.InterfaceByName(host); err == nil {
		return ep, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return "", fmt.Errorf("resolve %q: %w", host, err)
	}
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			return "tcp://" + a.String() + ":" + port, nil
		}
	}
	for _, a := range addrs {
		if ipv6 && a.Is6() {
			return "tcp://[" + a.String() + "]:" + port, nil
		}
	}
	return "", fmt.Errorf("resolve %q: no IPv4 address (set %q to use IPv6)", host, zmqopts.AttrIPv6)
}
