// Package zmqtransport is zpipe's libzmq transport: it implements
// transport.Server over github.com/pebbe/zmq4 (libzmq 4.3).
//
// # Sockets
//
// Four kinds: xsub and pull (sources), xpub and push (sinks). Their HCL
// attributes mirror the options of Zeek's ZeroMQ cluster backend, with the
// same meaning and defaults. The schema, its decoding and its checks live
// in package zmqopts, shared with the pure-Go transport; variant holds
// what is this transport's own (descriptions, the bounds of the message
// limits, CURVE as libzmq has it).
// Sockets that ask for the same io_threads share one libzmq context; a
// context is terminated when its last socket closes.
//
// # Data paths
//
// A link (StartLink) forwards data from a source to its sinks, and
// subscription messages from xpub sinks back to an xsub source, the way
// zmq_proxy does. Its loop is written in C (zpipe_zmq.c) and runs on its
// own thread until a message on an inproc control socket stops it, so the
// per-frame work never crosses cgo. The C code uses libzmq's raw socket
// handles, read from pebbe's sockets and checked against pebbe's view of
// each socket before use. While a link runs it owns its sockets: Recv and
// Send on them fail.
//
// Recv and Send move whole batches through one C call each. Sockets are
// not thread-safe, so every use of a socket holds its mutex; a receive
// waiting for data is interrupted (through a pipe polled next to the
// socket) as soon as a send or Close wants the socket.
//
// # Framing and drops
//
// Sources with framing "zeek" drop messages that do not have exactly four
// frames and count them as "malformed" (Zeek's msg_errors). Sockets that
// read from peers bound messages by max_message_frames and
// max_message_bytes (the latter per frame by libzmq, ZMQ_MAXMSGSIZE): an
// oversize message is released frame by frame as it is read, counted as
// "oversize", and its peer disconnected (shutdown(2) of its connection;
// of a connection the monitor has not reported yet, once it does).
//
// Sinks apply send_timeout_ms when the socket refuses a message. A push
// (no peer, or HWM reached): -1 waits until it is taken, 0 drops at once,
// N waits up to N ms, then drops and enters a degraded state in which
// further refusals drop at once, until a send succeeds at least N ms after
// that drop. An xpub with nodrop (a subscriber's queue is full): -1 waits
// until it is taken (zmq_proxy's lossless behaviour), 0 or N waits that
// long, then sends the message once with NODROP off, so that the
// subscribers with room get it while libzmq skips the full queue until its
// reader drains it. The connections the kernel shows full are the stalled
// peers: named, logged, counted per peer (zpipe_zmq.c has the details),
// and disconnected after stall_disconnect_ms if set. Every message is
// either sent or counted in the socket's Drops ("hwm", "no_peer",
// "malformed", "oversize", "stalled_peer").
//
// # Peers
//
// Each socket keeps a table of its connections in C, keyed by descriptor:
// the monitor adds and removes them (the value of its ACCEPTED, CONNECTED
// and DISCONNECTED events), and subscription messages, which carry their
// connection's descriptor (ZMQ_SRCFD), fill in each subscriber's
// subscriptions and Zeek node id. Stats reports an xpub's peers. A
// goroutine handles the monitor events as they come; whatever acts on the
// table (Quiesce, Stats) first handles every event libzmq has emitted
// itself, so it never depends on that goroutine having caught up.
//
// # Validation and draining
//
// Validate makes Open's checks without creating anything. Quiesce shuts
// down the sending side of a source's connections, so that the peers end
// them once they have sent what they were sending; Recv then unbinds and
// disconnects, returns what libzmq had queued, and transport.ErrDrained.
//
// # Counters
//
// Each socket counts the messages, frames and bytes it received and sent,
// subscription messages among them, and drops by reason. A link's source
// and sinks count the link's traffic; the link's own entry in Stats (under
// its id) counts its subscription tap. Counters live in C memory, written
// by the one thread using the socket and read with atomic loads, so Stats
// never waits for a socket.
package zmqtransport
