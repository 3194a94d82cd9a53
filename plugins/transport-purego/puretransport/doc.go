// Package puretransport is zpipe's pure-Go transport: it implements
// transport.Server over package puresock, ZeroMQ sockets written in Go on
// top of go-zeromq's ZMTP connection layer. It needs no libzmq and builds
// with CGO_ENABLED=0.
//
// It offers the same socket kinds (xsub, pull, xpub, push), with the same
// HCL attributes, defaults and behaviour, as the libzmq transport, so a
// pipeline runs on either by changing its transport: the schema, its
// decoding and its checks are package zmqopts, which both use; variant
// holds what is this transport's own. The differences:
//
//   - No CURVE: the curve_* attributes need the "curve" capability, which
//     this transport does not declare, so zpipe refuses a pipeline that
//     sets them, naming the option and the transport.
//   - io_threads is accepted and has no effect: goroutines do the I/O.
//   - Losses libzmq cannot see are counted: every message a subscriber
//     misses, exactly, per subscriber.
//   - Pipes are bounded in bytes too (sndhwm_bytes, rcvhwm_bytes), which
//     needs the capability transport.CapHWMBytes that the libzmq transport lacks.
//
// # Data paths
//
// A link (StartLink) forwards data from a source to its sinks, and
// subscription messages from xpub sinks back to an xsub source, the way
// zmq_proxy does, on one goroutine. While a link runs it owns its sockets:
// Recv and Send on them fail.
//
// Recv and Send move whole batches. Send copies the batch once; the
// socket keeps the copy until its messages are written.
//
// # Framing and drops
//
// Sources with framing "zeek" drop messages that do not have exactly four
// frames and count them as "malformed" (Zeek's msg_errors); sources and
// xpubs disconnect a peer that sends a message over max_message_bytes or
// max_message_frames and count it as "oversize" (and the event
// "peer_oversize").
//
// An xpub sink sends a message to every matching subscriber with room.
// When one is full it waits up to send_timeout_ms (-1: for ever, which
// holds every subscriber back, as Zeek's proxy does; 0: not at all); then
// that subscriber is stalled: it misses this message and, without further
// waits, every later one until it has read half its queue. Each miss is
// counted for the subscriber (PeerStats, exact) and each message missed by
// a stalled subscriber while others got it once as "stalled_peer"; a
// message no subscriber got is an "hwm" drop. Episodes are counted
// ("peer_stalled") and logged: a warning naming the subscriber's Zeek node
// id and address at the start, the number lost at the end.
// stall_disconnect_ms disconnects a subscriber stalled that long
// ("peer_stall_disconnect"). Without nodrop a full subscriber stalls at
// once. A push sink applies send_timeout_ms when no peer has room: -1
// waits, 0 drops at once, N waits up to N ms, then drops and enters a
// degraded state in which further refusals drop at once, until a send
// succeeds at least N ms after that drop ("hwm", or "no_peer" without
// peers). An xsub passes subscriptions on beyond sndhwm, up to
// sndhwm_bytes per peer; what does not fit is counted as
// "subscription_lost".
//
// Validate checks a configuration as Open would, without opening
// anything. Quiesce lets an xsub or pull source be drained: it stops
// taking in data, and Recv returns what its peers had sent, then
// transport.ErrDrained.
//
// # Counters
//
// Each socket counts the messages, frames and bytes it received and sent,
// subscription messages among them, drops by reason, connection events
// (failed connects and handshakes, oversize and stalled peers), and, for
// an xpub, each subscriber's losses. A link's source
// and sinks count the link's traffic; the link's own entry in Stats (under
// its id) counts its subscription tap. Counters are atomic, so Stats never
// waits for a socket.
package puretransport
