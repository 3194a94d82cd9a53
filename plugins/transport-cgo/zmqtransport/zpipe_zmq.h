// The C side of the libzmq transport: batch receive and send helpers and the
// link forwarding loop. Each function is called once per batch (or once per
// link lifetime) from Go, so the per-frame work never crosses cgo.
#ifndef ZPIPE_ZMQ_H
#define ZPIPE_ZMQ_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

// Framing checks applied to received messages.
enum { ZP_FRAMING_RAW = 0, ZP_FRAMING_ZEEK = 1 };

// Drop reasons, indexes into zp_counters.drops.
enum {
	ZP_DROP_HWM = 0,
	ZP_DROP_NO_PEER = 1,
	ZP_DROP_MALFORMED = 2,
	ZP_DROP_OVERSIZE = 3,
	ZP_DROP_STALLED = 4,
	ZP_DROP_REASONS = 5
};

// Connection events, indexes into zp_counters.events.
enum {
	ZP_EV_CONNECT_FAILED = 0,
	ZP_EV_HANDSHAKE_FAILED = 1,
	ZP_EV_AUTH_FAILED = 2,
	ZP_EV_PEER_OVERSIZE = 3,
	ZP_EV_PEER_STALLED = 4,
	ZP_EV_PEER_STALL_DISCONNECT = 5,
	ZP_EVENTS = 6
};

// Socket kinds as far as the C side cares.
enum { ZP_KIND_XSUB = 1, ZP_KIND_PULL = 2, ZP_KIND_XPUB = 3, ZP_KIND_PUSH = 4, ZP_KIND_PAIR = 5 };

// Results of the batch and link functions.
enum {
	ZP_OK = 0,         // done
	ZP_NEED_SPACE = 1, // the next message does not fit in an empty batch
	ZP_BLOCKED = 2,    // a message waits for room; call again to go on
	ZP_STOPPED = 3,    // the link was told to stop
	ZP_ERROR = -1      // a libzmq call failed; see err and err_where
};

// zp_counters are cumulative. One thread writes them at a time (the holder
// of the socket's Go mutex, or the link thread); Go reads them with atomic
// loads at any time, so every store is an atomic (relaxed) store.
typedef struct zp_counters {
	uint64_t msgs_in, frames_in, bytes_in;
	uint64_t msgs_out, frames_out, bytes_out;
	uint64_t subs_in, subs_out;
	uint64_t drops[ZP_DROP_REASONS];
	uint64_t events[ZP_EVENTS];
} zp_counters;

// Limits of the per-peer state.
enum {
	ZP_ADDR_MAX = 128,   // a formatted peer address
	ZP_NODEID_MAX = 128, // a Zeek node id
	ZP_PEER_SUBS_MAX = 4096,      // subscriptions remembered per peer
	ZP_PEER_SUBS_BYTES = 1 << 20, // and their bytes
	ZP_KICK_LATER_MAX = 16        // oversize senders waiting for the monitor
};

// zp_prefix is one subscription prefix of a peer.
typedef struct zp_prefix {
	unsigned char *p;
	size_t n;
} zp_prefix;

// zp_peer is one connection of a socket, known by its file descriptor
// (the value of the monitor's ACCEPTED/CONNECTED events, and ZMQ_SRCFD of
// the messages read from it).
typedef struct zp_peer {
	int fd;
	char addr[ZP_ADDR_MAX];
	char node_id[ZP_NODEID_MAX];
	// subs are the prefixes it subscribed to (XPUB), up to
	// ZP_PEER_SUBS_MAX of them and ZP_PEER_SUBS_BYTES in all.
	zp_prefix *subs;
	int nsubs, subs_cap;
	size_t subs_bytes;
	int stalled;
	int64_t stalled_since, checked_at; // ms, monotonic
	int state; // ZP_FD_* while looking for stalled peers
	uint64_t stalls, dropped;
	int kicked; // disconnected for a stall; the monitor removes it
	int drain;  // its writing side was shut down by a drain, which waits for its end
} zp_peer;

// zp_note is a log line the C side asks Go to write about a peer.
typedef struct zp_note {
	int what; // ZP_NOTE_*
	char addr[ZP_ADDR_MAX];
	char node_id[ZP_NODEID_MAX];
	uint64_t dropped;
	int64_t ms; // how long the stall lasted
	size_t frames, bytes; // of an oversize message
} zp_note;

enum {
	ZP_NOTE_STALLED = 1,
	ZP_NOTE_UNSTALLED = 2,
	ZP_NOTE_STALL_DISCONNECT = 3,
	ZP_NOTE_OVERSIZE = 4,
	ZP_NOTE_STALLED_UNKNOWN = 5,
	ZP_NOTES_MAX = 64
};

// zp_frames holds the frames of one multipart message.
typedef struct zp_frames {
	zmq_msg_t *m;
	int n, cap;
	size_t bytes; // of the message read last (zp_read_msg)
} zp_frames;

// zp_sock is the C state of one socket.
typedef struct zp_sock {
	void *handle;
	int kind;
	int framing;
	// send_timeout_ms: -1 block until taken, 0 never wait, >0 wait that long.
	int send_timeout_ms;
	int degraded;
	int64_t degraded_since; // ms, monotonic
	int64_t wait_deadline;  // ms, monotonic; 0 when no message is waiting
	// peers is the number of connected peers, kept by the socket monitor.
	int32_t peers;
	// wake_fd is the read end of a pipe that interrupts a waiting receive.
	int wake_fd;
	zp_counters c;
	zp_frames pend; // a message read but not yet delivered

	// Limits of received messages: frames and bytes (0 = none). A message
	// over them is discarded as it is read and its peer disconnected.
	size_t max_frames, max_bytes;
	int discarding; // the rest of an oversize message is being discarded
	// nodrop: an XPUB with ZMQ_XPUB_NODROP, whose refusals are resolved by
	// sending with NODROP off once a subscriber is found stalled.
	int nodrop;
	int verbose; // XPUB_VERBOSE(R): every subscription is seen
	// unnamed_since: a send with NODROP off found no stuck connection;
	// the watcher looks again until ZP_UNNAMED_MS later (under mu).
	int64_t unnamed_since;

	// Peers, guarded by mu (the monitor adds and removes them from Go).
	pthread_mutex_t mu;
	zp_peer *table;
	int ntable, table_cap;
	// kick_later: senders of oversize messages whose connection the
	// monitor had not reported yet; zp_peer_add disconnects them when it
	// does. The oldest is forgotten when more are waiting.
	struct {
		int fd;
		char addr[ZP_ADDR_MAX];
	} kick_later[ZP_KICK_LATER_MAX];
	int nkick_later;
	int32_t nstalled; // peers stalled now; read without mu as a hint
	zp_note notes[ZP_NOTES_MAX];
	int nnotes;
	uint64_t notes_lost;

	// Outputs of zp_recv_batch.
	size_t out_bytes, out_frames;
	int out_msgs;
	size_t need_bytes, need_frames;
	// Outputs of zp_send_batch.
	int out_sent, out_dropped, out_reason;
	int next_msg;
	size_t next_frame, next_off;
	// Error of the last failed call.
	int err;
	const char *err_where;
} zp_sock;

// zp_link forwards messages from src to every sink and subscription
// messages from XPUB sinks back to an XSUB src.
typedef struct zp_link {
	zp_sock *src;
	zp_sock **sinks;
	int nsinks;
	void *ctrl; // PAIR: any message stops the loop
	void *tap;  // PAIR receiving copies of subscription messages, or NULL
	int burst;  // messages read from one socket per poll round
	zp_counters tapc;
	zp_frames data, sub;
	int err;
	const char *err_where;
} zp_link;

zp_sock *zp_sock_new(void *handle, int kind, int framing, int send_timeout_ms, int wake_fd);
void zp_sock_free(zp_sock *s);

// Peer bookkeeping, called from Go.
void zp_peer_add(zp_sock *s, int fd);
// zp_peer_remove forgets fd; the peer's last state is copied to out (when
// not NULL) and 1 returned if it was known.
int zp_peer_remove(zp_sock *s, int fd, zp_peer *out);
// zp_peers_copy copies up to max peers (without subscriptions) to out and
// returns how many there are.
int zp_peers_copy(zp_sock *s, zp_peer *out, int max);
// zp_notes_take moves up to max pending log notes to out.
int zp_notes_take(zp_sock *s, zp_note *out, int max, uint64_t *lost);
// zp_peers_review ends the stall episodes of peers that read again and
// disconnects (shutdown(2)) peers stalled longer than disconnect_ms (> 0).
void zp_peers_review(zp_sock *s, int64_t disconnect_ms);
// zp_peers_end_writing shuts down the sending side of every connection
// (shutdown(2) SHUT_WR): each peer sees its connection end and closes it
// once it has sent what it was sending, while libzmq reads on. The
// connections are marked as ones a drain waits for. Returns their number.
int zp_peers_end_writing(zp_sock *s);
// zp_peer_end_writing does the same for connection fd alone.
void zp_peer_end_writing(zp_sock *s, int fd);
// zp_peers_draining returns the number of connections a drain waits for.
int zp_peers_draining(zp_sock *s);
// zp_add_event bumps an event counter (from the Go monitor).
void zp_add_event(zp_sock *s, int ev);

// zp_poll_wake waits up to timeout_ms (-1 forever) until the socket
// behind handle is readable or wake_fd (the read end of a pipe) is; it
// empties the pipe. Returns 0, or -1 on error (errno set).
int zp_poll_wake(void *handle, int wake_fd, int timeout_ms);

// zp_recv_batch waits up to timeout_ms (-1 forever) for a first message when
// none is ready, then copies whole messages into the caller's buffers until
// nothing more is ready or a limit is reached. A message that does not fit
// is kept for the next call.
int zp_recv_batch(zp_sock *s, int timeout_ms, char *data, size_t data_cap, uint32_t *sizes,
                  size_t sizes_cap, uint32_t *parts, size_t parts_cap, int max_msgs);

// zp_send_batch sends messages start_msg.. of a packed batch, applying the
// socket's send timeout policy. It waits at most chunk_ms in one call and
// returns ZP_BLOCKED (with next_* set) when a message still waits for room;
// the caller calls again with resume = 1 to go on with that message.
int zp_send_batch(zp_sock *s, const char *data, const uint32_t *sizes, const uint32_t *parts,
                  int nmsgs, int start_msg, size_t start_frame, size_t start_off, int resume,
                  int chunk_ms);

zp_link *zp_link_new(int nsinks);
void zp_link_free(zp_link *l);
// zp_link_run forwards until a message arrives on ctrl (ZP_STOPPED) or a
// libzmq call fails (ZP_ERROR).
int zp_link_run(zp_link *l);

// zp_socket_type reads ZMQ_TYPE of a raw socket handle; -1 on error.
int zp_socket_type(void *handle);

#endif
