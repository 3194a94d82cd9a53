// Package puresock implements ZeroMQ's XSUB, XPUB, PUSH and PULL sockets
// in pure Go, with libzmq's semantics, on top of the ZMTP connection layer
// of github.com/go-zeromq/zmq4.
//
// go-zeromq's zmq4.Open performs the ZMTP 3.0 greeting, the NULL security
// handshake and the metadata exchange (refusing peers of an incompatible
// socket type). This package takes the connection from there: it reads
// and writes ZMTP frames itself, through buffers, so that a message costs
// one allocation and many messages share one write, and so that commands
// (SUBSCRIBE, CANCEL, PING) are seen for what they are.
//
// # Semantics
//
// Each peer has a pipe with a queue towards it bounded by SendHWM and a
// queue from it bounded by RecvHWM; a full receive queue stops reading the
// connection, which pushes back through TCP.
//
//   - XPUB sends a message to every peer subscribed to a byte prefix of
//     frame 0. It passes subscription messages to the application as
//     libzmq does: a subscribe when the prefix is new, an unsubscribe when
//     no peer holds it any more; XPubVerbose passes every subscribe,
//     XPubVerboser every subscribe and unsubscribe, including those of a
//     departed peer. With XPubNoDrop a message is refused (ErrWouldBlock)
//     when a matching peer's queue is full; without, that peer misses it
//     and Dropped counts it.
//   - XSUB keeps a reference count per subscribed prefix, sends every
//     subscribe to all peers and an unsubscribe when the count drops to
//     zero, and replays its subscriptions to every newly connected peer.
//   - PUSH sends each message to one peer, round-robin over the peers
//     whose queue has room. PULL and XSUB fair-queue: one message from
//     each peer with messages in turn.
//   - Subscriptions are accepted as ZMTP 3.0 data frames (0x01 prefix,
//     0x00 prefix) and as ZMTP 3.1 SUBSCRIBE and CANCEL commands, and
//     presented the same way. The socket speaks ZMTP 3.0, so it sends
//     data frames.
//   - A connect endpoint reconnects forever, with a backoff from
//     ReconnectInterval doubling up to ReconnectIntervalMax. Without
//     Immediate its pipe exists from Connect on and outlives disconnects,
//     so messages queue for a peer that is not there yet (up to the HWM),
//     as with libzmq; with Immediate only live connections have pipes.
//   - Close keeps writing queued messages for up to Linger.
//
// Endpoints are tcp://host:port (IPv4, or IPv6 in brackets with the IPv6
// option) and ipc://path (Unix domain sockets). Security is NULL only.
package puresock
