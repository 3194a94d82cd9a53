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
// Each peer has a pipe with a queue towards it bounded by SendHWM and
// SendHWMBytes and a queue from it bounded by RecvHWM and RecvHWMBytes; a
// full receive queue stops reading the connection, which pushes back
// through TCP. A received message is checked frame by frame against
// MaxMessageBytes and MaxMessageFrames before anything is allocated for
// it; a peer that goes over is disconnected.
//
//   - XPUB sends a message to every peer subscribed to a byte prefix of
//     frame 0. It passes subscription messages to the application as
//     libzmq does: a subscribe when the prefix is new, an unsubscribe when
//     no peer holds it any more; XPubVerbose passes every subscribe,
//     XPubVerboser every subscribe and unsubscribe, including those of a
//     departed peer. A subscriber whose queue is full stalls: with
//     XPubNoDrop when the sender gives up waiting for it (TrySend refuses
//     the message with ErrWouldBlock until then; PublishStalling gives
//     up), without XPubNoDrop at once. A stalled subscriber misses
//     messages, the others get them, until it has read half its queue.
//     Its losses are counted per peer (PeerStats) and logged per episode.
//   - XSUB keeps a reference count per subscribed prefix, sends every
//     subscribe to all peers and an unsubscribe when the count drops to
//     zero, and replays its subscriptions to every newly connected peer.
//     Subscriptions are not held back by SendHWM, only by SendHWMBytes.
//   - PUSH sends each message to one peer, round-robin over the peers
//     whose queue has room. PULL and XSUB fair-queue: one message from
//     each peer with messages in turn.
//   - Subscriptions are accepted as ZMTP 3.0 data frames (0x01 prefix,
//     0x00 prefix) and as ZMTP 3.1 SUBSCRIBE and CANCEL commands, and
//     presented the same way. The socket speaks ZMTP 3.0, so it sends
//     data frames.
//   - A connect endpoint reconnects forever, with a backoff from
//     ReconnectInterval doubling up to ReconnectIntervalMax; failed
//     attempts are counted and logged. Without Immediate its pipe exists
//     from Connect on and outlives disconnects, so messages queue for a
//     peer that is not there yet (up to the HWM), as with libzmq; with
//     Immediate only live connections have pipes.
//   - Quiesce makes an XSUB or PULL stop taking in data while what its
//     peers sent is read to the end (Drained, ErrDrained).
//   - Close keeps writing queued messages for up to Linger.
//
// Endpoints are tcp://host:port (IPv4, or IPv6 in brackets with the IPv6
// option) and ipc://path (Unix domain sockets). Security is NULL only.
package puresock
