// Package zmqopts holds what zpipe's two ZeroMQ transports (transport-cgo
// over libzmq, transport-purego in Go) share about their sockets: the socket
// kinds, the schema of their attributes with its defaults, and the decoding
// and checking of a socket block (ranges, endpoint syntax, CURVE keys and
// roles), so that a pipeline validates alike on both. A transport describes
// what it does its own way in a Variant (descriptions of the attributes
// whose effect is its own, bounds of the message limits, CURVE support) and
// applies the decoded Config to its sockets itself.
//
// It is internal rather than part of core/transport: the contract between
// zpipe and a transport is the schema a transport describes, whatever its
// attributes; these attributes are the choice of the two ZeroMQ transports
// of this module, which another transport need not make.
package zmqopts

import (
	"math"

	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/transport"
)

// Socket kinds.
const (
	KindXSub = "xsub"
	KindPull = "pull"
	KindXPub = "xpub"
	KindPush = "push"
)

// Values of the framing attribute.
const (
	FramingZeek = "zeek"
	FramingRaw  = "raw"
)

// Attribute names.
const (
	AttrBind           = "bind"
	AttrConnect        = "connect"
	AttrLinger         = "linger_ms"
	AttrSndHWM         = "sndhwm"
	AttrRcvHWM         = "rcvhwm"
	AttrSndHWMBytes    = "sndhwm_bytes"
	AttrRcvHWMBytes    = "rcvhwm_bytes"
	AttrSndBuf         = "sndbuf"
	AttrRcvBuf         = "rcvbuf"
	AttrIPv6           = "ipv6"
	AttrIOThreads      = "io_threads"
	AttrImmediate      = "immediate"
	AttrFraming        = "framing"
	AttrPollMax        = "poll_max_messages"
	AttrVerbose        = "verbose"
	AttrVerboser       = "verboser"
	AttrNoDrop         = "nodrop"
	AttrSendTimeout    = "send_timeout_ms"
	AttrStallDisc      = "stall_disconnect_ms"
	AttrMaxMsgBytes    = "max_message_bytes"
	AttrMaxMsgFrames   = "max_message_frames"
	AttrCurveServer    = "curve_server"
	AttrCurveSecretKey = "curve_secretkey"
	AttrCurvePublicKey = "curve_publickey"
	AttrCurveServerKey = "curve_serverkey"
	AttrCurveAllowed   = "curve_allowed_clients"
)

// Defaults of the byte bounds.
const (
	// DefaultHWMBytes is the default of sndhwm_bytes and rcvhwm_bytes.
	// Only a transport with transport.CapHWMBytes takes another value.
	DefaultHWMBytes = 64 << 20
	// DefaultMaxMessageBytes and DefaultMaxMessageFrames are the defaults
	// of max_message_bytes and max_message_frames.
	DefaultMaxMessageBytes  = 64 << 20
	DefaultMaxMessageFrames = 1024
)

// Upper bounds of numeric attributes (the message limits' are the
// Variant's).
const (
	maxIOThreads        = 64
	maxPollMessages     = 1 << 20
	maxTimeoutMs        = math.MaxInt32
	maxSocketBufferSize = math.MaxInt32
	maxHWM              = math.MaxInt32
)

// Variant is what one transport does its own way.
type Variant struct {
	// Transport is the transport's name, as problems give it.
	Transport string
	// Curve says whether the transport has CURVE (transport.CapCurve).
	// Without it, each curve_* attribute set is a problem.
	Curve bool
	// MaxMessageBytes and MaxMessageFrames are the largest values
	// max_message_bytes and max_message_frames take.
	MaxMessageBytes, MaxMessageFrames int
	// Descriptions holds the descriptions of the attributes whose effect
	// is the transport's own, by attribute name, or by "kind.attribute"
	// for one socket kind: sndhwm_bytes, rcvhwm_bytes, io_threads,
	// poll_max_messages, nodrop, send_timeout_ms, stall_disconnect_ms,
	// max_message_bytes and max_message_frames. It may replace the
	// shared description of any other attribute too.
	Descriptions map[string]string
}

func commonAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: AttrBind, Type: schema.ListString, Default: []string{},
			Description: "Endpoints to bind (tcp://host:port, tcp://[v6]:port, ipc://path), several allowed; port * picks a free one; a host name is resolved when the socket opens."},
		{Name: AttrConnect, Type: schema.ListString, Default: []string{},
			Description: "Endpoints to connect to. At least one of bind and connect must be given."},
		{Name: AttrLinger, Type: schema.Number, Default: 500,
			Description: "ZMQ_LINGER in ms: how long unsent messages are kept at close (-1 forever, 0 discard)."},
		{Name: AttrSndHWM, Type: schema.Number, Default: 1000,
			Description: "ZMQ_SNDHWM: messages queued per peer for sending (0 = unlimited)."},
		{Name: AttrRcvHWM, Type: schema.Number, Default: 1000,
			Description: "ZMQ_RCVHWM: messages queued per peer for receiving (0 = unlimited)."},
		{Name: AttrSndHWMBytes, Type: schema.Number, Default: DefaultHWMBytes, Capability: transport.CapHWMBytes},
		{Name: AttrRcvHWMBytes, Type: schema.Number, Default: DefaultHWMBytes, Capability: transport.CapHWMBytes},
		{Name: AttrSndBuf, Type: schema.Number, Default: -1,
			Description: "ZMQ_SNDBUF: kernel send buffer in bytes (-1 = OS default)."},
		{Name: AttrRcvBuf, Type: schema.Number, Default: -1,
			Description: "ZMQ_RCVBUF: kernel receive buffer in bytes (-1 = OS default)."},
		{Name: AttrIPv6, Type: schema.Bool, Default: false, Capability: transport.CapIPv6,
			Description: "ZMQ_IPV6: allow IPv6 endpoints (dual stack); needed for IPv6 endpoints."},
		{Name: AttrIOThreads, Type: schema.Number, Default: 1},
		{Name: AttrImmediate, Type: schema.Bool, Default: false,
			Description: "ZMQ_IMMEDIATE: queue messages only to completed connections."},
	}
}

// limitAttributes bound what a socket reads from its peers.
func limitAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: AttrMaxMsgBytes, Type: schema.Number, Default: DefaultMaxMessageBytes},
		{Name: AttrMaxMsgFrames, Type: schema.Number, Default: DefaultMaxMessageFrames},
	}
}

func sourceAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: AttrFraming, Type: schema.String, Default: FramingZeek, OneOf: []string{FramingZeek, FramingRaw},
			Description: "zeek: drop (and count as malformed, in Zeek's msg_errors) messages that do not have exactly 4 frames; raw: pass every message."},
		{Name: AttrPollMax, Type: schema.Number, Default: 100},
	}
}

func sendTimeoutAttribute() schema.Attribute {
	return schema.Attribute{Name: AttrSendTimeout, Type: schema.Number, Default: -1}
}

func xpubAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: AttrVerbose, Type: schema.Bool, Default: false,
			Description: "ZMQ_XPUB_VERBOSE: pass every subscribe message upstream, repeats included."},
		{Name: AttrVerboser, Type: schema.Bool, Default: false,
			Description: "ZMQ_XPUB_VERBOSER: pass every subscribe and unsubscribe message upstream, including those for departed peers."},
		{Name: AttrNoDrop, Type: schema.Bool, Default: true},
		sendTimeoutAttribute(),
		{Name: AttrStallDisc, Type: schema.Number, Default: 0},
	}
}

func curveAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: AttrCurveServer, Type: schema.Bool, Default: false, Capability: transport.CapCurve,
			Description: "Act as CURVE server (needs curve_secretkey)."},
		{Name: AttrCurveSecretKey, Type: schema.String, Default: "", Capability: transport.CapCurve,
			Description: "Z85 secret key of this socket (server secret key on a server, client secret key on a client)."},
		{Name: AttrCurvePublicKey, Type: schema.String, Default: "", Capability: transport.CapCurve,
			Description: "Z85 public key of this socket (client public key on a client)."},
		{Name: AttrCurveServerKey, Type: schema.String, Default: "", Capability: transport.CapCurve,
			Description: "Z85 public key of the server; setting it makes this socket a CURVE client."},
		{Name: AttrCurveAllowed, Type: schema.ListString, Default: []string{}, Capability: transport.CapCurve,
			Description: "Z85 public keys of the clients a CURVE server accepts (ZAP allow-list); empty accepts any key."},
	}
}

// SocketKinds describes every socket kind, with the Variant's
// descriptions.
func (v *Variant) SocketKinds() []transport.SocketKind {
	build := func(kind string, extra ...[]schema.Attribute) schema.Schema {
		attrs := commonAttributes()
		for _, e := range extra {
			attrs = append(attrs, e...)
		}
		attrs = append(attrs, curveAttributes()...)
		for i, a := range attrs {
			if d, ok := v.Descriptions[kind+"."+a.Name]; ok {
				attrs[i].Description = d
			} else if d, ok := v.Descriptions[a.Name]; ok {
				attrs[i].Description = d
			}
		}
		return schema.Schema{Attributes: attrs}
	}
	return []transport.SocketKind{
		{Kind: KindXSub, Role: transport.RoleSource, Subscriptions: transport.SubsAccepts,
			Description: "XSUB: receives published messages from XPUB/PUB peers and sends subscriptions to them.",
			Schema:      build(KindXSub, sourceAttributes(), limitAttributes())},
		{Kind: KindPull, Role: transport.RoleSource,
			Description: "PULL: receives messages from PUSH peers (fair-queued).",
			Schema:      build(KindPull, sourceAttributes(), limitAttributes())},
		{Kind: KindXPub, Role: transport.RoleSink, Subscriptions: transport.SubsEmits,
			Description: "XPUB: publishes messages to subscribers and reports their subscriptions.",
			Schema:      build(KindXPub, xpubAttributes(), limitAttributes())},
		{Kind: KindPush, Role: transport.RoleSink,
			Description: "PUSH: sends each message to one PULL peer, round-robin.",
			Schema:      build(KindPush, []schema.Attribute{sendTimeoutAttribute()})},
	}
}
