// Package transport is the contract between zpipe and its transport plugins.
//
// A transport owns ZeroMQ sockets. Plugin authors implement Server and hand
// it to plugin.ServeTransport; the core talks to a running plugin through a
// Client. The gRPC plumbing between the two (batching, flow control, restarts)
// lives in core/plugin, so a transport only deals with sockets.
package transport

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/schema"
)

// ProtocolVersion is the version of the plugin protocol this package speaks.
// It is part of the go-plugin handshake: a plugin built for another version
// is refused at start with a clear error.
const ProtocolVersion = 1

// Socket roles.
const (
	RoleSource = "source"
	RoleSink   = "sink"
)

// Capabilities a transport may declare.
const (
	CapTCP  = "tcp"
	CapIPC  = "ipc"
	CapIPv6 = "ipv6"
	// CapLink means the transport runs source→sink links in its own process.
	CapLink  = "link"
	CapCurve = "curve"
	// CapHWMBytes means the transport bounds its per-peer queues in bytes
	// as well as messages (sndhwm_bytes, rcvhwm_bytes). libzmq counts
	// messages only.
	CapHWMBytes = "hwm_bytes"
)

// Description is what a transport reports about itself.
type Description struct {
	Name         string
	Version      string
	Protocol     uint32
	Capabilities []string
	Sockets      []SocketKind
}

// HasCapability reports whether the transport declared capability c.
func (d *Description) HasCapability(c string) bool {
	for _, x := range d.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// Socket returns the socket kind called kind.
func (d *Description) Socket(kind string) (SocketKind, bool) {
	for _, s := range d.Sockets {
		if s.Kind == kind {
			return s, true
		}
	}
	return SocketKind{}, false
}

// SocketKind is one socket type a transport offers ("xsub", "xpub", …).
type SocketKind struct {
	Kind        string
	Role        string
	Description string
	Schema      schema.Schema
	// Subscriptions is SubsEmits for sockets whose peers send subscription
	// messages that flow upstream (XPUB), SubsAccepts for sockets that send
	// subscription messages to their peers (XSUB), else empty.
	Subscriptions string
}

// Values of SocketKind.Subscriptions.
const (
	SubsEmits   = "emits"
	SubsAccepts = "accepts"
)

// SocketSpec asks for one socket.
type SocketSpec struct {
	// ID names the socket in later calls; chosen by the core.
	ID   string
	Kind string
	// Config is the block body, validated against the kind's schema with
	// defaults filled in, as a JSON object.
	Config []byte
}

// LinkSpec asks the transport to forward data from Source to every socket in
// Sinks inside its own process, and subscription messages from the sinks
// back to Source, the way zmq_proxy does.
type LinkSpec struct {
	ID     string
	Source string
	Sinks  []string
	// TapSubscriptions copies every subscription message the link forwards
	// to the link's receive handle (its ID), for stages that observe them.
	TapSubscriptions bool
}

// Limits bound one received batch.
type Limits struct {
	MaxMessages int
	MaxBytes    int
}

// SendResult tells what happened to the messages of one sent batch.
type SendResult struct {
	Sent    int
	Dropped int
	// DropReason is the error.type of the drops: "hwm", "no_peer", ….
	DropReason string
}

// Drop reasons of SocketStats.Drops and SendResult.DropReason (the
// error.type attribute of zpipe_messages_dropped_total).
const (
	// DropHWM: a message no peer could take (send high-water marks).
	DropHWM = "hwm"
	// DropNoPeer: nobody to send to.
	DropNoPeer = "no_peer"
	// DropPluginRestart: a message on its way to a transport plugin that
	// exited before it acknowledged the batch (counted by the core).
	DropPluginRestart = "plugin_restart"
	// DropStreamError: a message on its way to a transport plugin whose
	// send stream ended with an error or was cancelled (counted by the
	// core).
	DropStreamError = "stream_error"
	// DropMalformed: a received message without the shape the socket's
	// framing requires.
	DropMalformed = "malformed"
	// DropOversize: a received message over the socket's
	// max_message_bytes or max_message_frames; its peer is disconnected.
	DropOversize = "oversize"
	// DropStalledPeer: a message that a stalled subscriber did not get
	// while the subscribers with room did, counted once per message
	// however many subscribers missed it. Per-peer counts are in
	// PeerStats.Dropped.
	DropStalledPeer = "stalled_peer"
	// DropSubscription: a subscription message that could not be passed
	// on to a peer (its queue was full).
	DropSubscription = "subscription_lost"
)

// Connection events of SocketStats.Events.
const (
	// EventConnectFailed: an outgoing connection attempt failed (refused,
	// unreachable, name not resolved).
	EventConnectFailed = "connect_failed"
	// EventHandshakeFailed: a peer failed the ZMTP handshake (protocol
	// error, wrong socket type, truncated greeting).
	EventHandshakeFailed = "handshake_failed"
	// EventAuthFailed: a peer was refused by authentication (a CURVE key
	// that is not allowed, or no CURVE at all).
	EventAuthFailed = "auth_failed"
	// EventPeerOversize: a peer was disconnected for sending a message
	// over max_message_bytes or max_message_frames.
	EventPeerOversize = "peer_oversize"
	// EventPeerStalled: a subscriber's stall episode began (its queue
	// stayed full for the send timeout).
	EventPeerStalled = "peer_stalled"
	// EventPeerStallDisconnect: a subscriber stalled longer than its
	// socket's stall_disconnect time was disconnected.
	EventPeerStallDisconnect = "peer_stall_disconnect"
)

// PeerStats are the counters of one peer of a socket.
type PeerStats struct {
	// Address is the peer's remote address ("10.0.0.5:41234",
	// "[::1]:5555"), or for ipc the socket path and, when known, the
	// peer's pid.
	Address string
	// NodeID is the Zeek node id the peer announced through its node-id
	// subscription, if any.
	NodeID string
	// Dropped counts messages the peer did not get because its queue was
	// full. DroppedExact is false when it is a lower bound.
	Dropped      uint64
	DroppedExact bool
	// Stalled says the peer is in a stall episode now; Stalls counts the
	// episodes.
	Stalled bool
	Stalls  uint64
}

// SocketStats are the cumulative counters of one socket. For a source fed
// into a link, the link's traffic is counted here too.
type SocketStats struct {
	ID                    string
	MessagesReceived      uint64
	FramesReceived        uint64
	BytesReceived         uint64
	MessagesSent          uint64
	FramesSent            uint64
	BytesSent             uint64
	SubscriptionsReceived uint64
	SubscriptionsSent     uint64
	// Drops counts lost messages by reason ("hwm", "malformed", "no_peer").
	Drops map[string]uint64
	// Peers holds per-peer counters of the connected peers and of peers
	// that left recently with losses counted, for sockets that keep them
	// (XPUB sinks).
	Peers []PeerStats
	// Events counts connection events by kind (Event* constants).
	Events map[string]uint64
}

// Stats holds the counters of every open socket.
type Stats struct {
	Sockets []SocketStats
}

// ErrClosed is returned by Recv and Send on a socket or link that was closed.
var ErrClosed = errors.New("transport: socket closed")

// ErrDrained is returned by Recv on a quiesced socket once everything its
// peers had sent before Quiesce has been received.
var ErrDrained = errors.New("transport: socket drained")

// Validation is the outcome of checking one socket's configuration.
type Validation struct {
	// Problems lists what is wrong; empty when the configuration is
	// valid.
	Problems []Problem
	// Binds lists the endpoints the socket would bind, normalized
	// (scheme://host:port, ipc://absolute-or-given-path), so that the
	// caller can find two sockets binding the same endpoint.
	Binds []string
}

// Problem is one configuration error of a socket.
type Problem struct {
	// Attribute names the attribute at fault ("bind", "curve_secretkey");
	// empty for the block as a whole. For a list, Index is the position
	// of the element at fault, else -1.
	Attribute string
	Index     int
	Message   string
}

// Problems collects the problems found in one socket's configuration.
type Problems []Problem

// Addf records a problem of attribute (at element index of a list, or -1).
func (ps *Problems) Addf(attribute string, index int, format string, args ...any) {
	*ps = append(*ps, Problem{Attribute: attribute, Index: index, Message: fmt.Sprintf(format, args...)})
}

// Has reports whether attribute has a problem.
func (ps Problems) Has(attribute string) bool {
	return slices.ContainsFunc(ps, func(p Problem) bool { return p.Attribute == attribute })
}

// Validator is implemented by transports that check a socket's
// configuration without opening it: the checks Open would make (option
// ranges, endpoint syntax, key formats), so that zpipe validate reports
// them before anything runs.
type Validator interface {
	Validate(ctx context.Context, kind string, config []byte) (*Validation, error)
}

// Quiescer is implemented by transports that can drain a source: Quiesce
// stops socket id from taking in new data (it stops listening and
// disconnects from its peers; a peer keeps what it had not sent yet), while
// what its peers had already sent stays readable. Recv then returns those
// messages, and ErrDrained once none are left. The plugin server calls
// Quiesce when the core drains a receive stream, so that a stopping
// pipeline writes everything received.
type Quiescer interface {
	Quiesce(ctx context.Context, id string) error
}

// Server is what a transport plugin implements. All methods may be called
// concurrently for different sockets; Recv and Send are never called
// concurrently for the same socket.
type Server interface {
	Describe(ctx context.Context) (*Description, error)
	Open(ctx context.Context, spec SocketSpec) error
	Close(ctx context.Context, id string) error
	StartLink(ctx context.Context, spec LinkSpec) error
	StopLink(ctx context.Context, id string) error
	// Recv waits until at least one message is available on handle (a
	// socket, or a link's subscription tap) or ctx ends, then appends up to
	// lim of what is ready to b without waiting further.
	Recv(ctx context.Context, handle string, b *message.Batch, lim Limits) error
	// Send writes every message of b to socket handle. Messages the socket
	// refuses are counted in the result, never silently lost.
	Send(ctx context.Context, handle string, b *message.Batch) (SendResult, error)
	Stats(ctx context.Context) (*Stats, error)
}

// ReceiveOptions tune a receive stream.
type ReceiveOptions struct {
	Limits Limits
	// Window is the number of batches the plugin may send ahead of the
	// consumer (credit). Zero means a small default.
	Window int
	// Drain, when closed, ends the receive gracefully: a transport that
	// implements Quiescer stops the socket taking in new data and
	// delivers to fn everything its peers had already sent; one that does
	// not stops reading the socket. Batches already read are delivered in
	// both cases, then Receive returns nil. Nil never drains; ending ctx
	// instead stops at once and loses what is in flight.
	Drain <-chan struct{}
}

// SendOptions tune a send stream.
type SendOptions struct {
	// Window is the number of unacknowledged batches allowed in flight;
	// Send blocks beyond it. Zero means a small default.
	Window int
	// OnAck, if set, is called with the outcome of every batch.
	OnAck func(SendResult)
}

// Client is the core's handle on a running transport plugin. It survives
// plugin restarts: sockets and links are re-created and streams resumed.
type Client interface {
	Describe(ctx context.Context) (*Description, error)
	Open(ctx context.Context, spec SocketSpec) error
	Close(ctx context.Context, id string) error
	StartLink(ctx context.Context, spec LinkSpec) error
	StopLink(ctx context.Context, id string) error
	// Receive calls fn with every batch read from handle until ctx ends or
	// fn returns an error. The batch is valid only during the call; while fn
	// runs no new credit is granted, so a slow fn pushes back to the socket.
	Receive(ctx context.Context, handle string, opts ReceiveOptions, fn func(*message.Batch) error) error
	// Sender opens a send stream to socket handle.
	Sender(ctx context.Context, handle string, opts SendOptions) (Sender, error)
	Stats(ctx context.Context) (*Stats, error)
	// Validate checks a socket's configuration without opening it. Its
	// error wraps errors.ErrUnsupported if the plugin cannot.
	Validate(ctx context.Context, kind string, config []byte) (*Validation, error)
}

// Sender writes batches to one socket.
type Sender interface {
	// Send queues b for the plugin and returns once it is on its way; it
	// blocks while the window of unacknowledged batches is full. b may be
	// reused after Send returns.
	Send(ctx context.Context, b *message.Batch) error
	// Close waits for outstanding acknowledgements and ends the stream.
	Close() error
}
