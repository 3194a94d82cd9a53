// Package puretransport is zpipe's pure-Go transport: it implements
// transport.Server over package puresock, ZeroMQ sockets written in Go on
// top of go-zeromq's ZMTP connection layer. It needs no libzmq and builds
// with CGO_ENABLED=0.
//
// It offers the same socket kinds (xsub, pull, xpub, push), with the same
// HCL attributes, defaults and behaviour, as the libzmq transport, so a
// pipeline runs on either by changing its transport. The differences:
//
//   - No CURVE: the curve_* attributes need the "curve" capability, which
//     this transport does not declare, so zpipe refuses a pipeline that
//     sets them, naming the option and the transport.
//   - io_threads is accepted and has no effect: goroutines do the I/O.
//   - Losses libzmq cannot see are counted: an xpub without nodrop counts
//     each subscriber that misses a message for a full queue as an "hwm"
//     drop, where libzmq drops it silently.
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
// frames and count them as "malformed" (Zeek's msg_errors). Sinks apply
// send_timeout_ms when the socket refuses a message (HWM reached with
// nodrop, or no peer for push): -1 waits until it is taken, 0 drops at
// once, N waits up to N ms, then drops and enters a degraded state in
// which further refusals drop at once, until a send succeeds at least N ms
// after that drop. Every message is either sent or counted in the socket's
// Drops ("hwm", "no_peer", "malformed"). With nodrop, a message is refused
// as a whole when the queue of any subscriber it matches is full, so such
// a message reaches none of its subscribers.
//
// # Counters
//
// Each socket counts the messages, frames and bytes it received and sent,
// subscription messages among them, and drops by reason. A link's source
// and sinks count the link's traffic; the link's own entry in Stats (under
// its id) counts its subscription tap. Counters are atomic, so Stats never
// waits for a socket.
package puretransport
