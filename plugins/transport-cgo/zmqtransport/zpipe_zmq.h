// The C side of the libzmq transport: batch receive and send helpers and the
// link forwarding loop. Each function is called once per batch (or once per
// link lifetime) from Go, so the per-frame work never crosses cgo.
#ifndef ZPIPE_ZMQ_H
#define ZPIPE_ZMQ_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

// Framing checks applied to received messages.
enum { ZP_FRAMING_RAW = 0, ZP_FRAMING_ZEEK = 1 };

// Drop reasons, indexes into zp_counters.drops.
enum { ZP_DROP_HWM = 0, ZP_DROP_NO_PEER = 1, ZP_DROP_MALFORMED = 2, ZP_DROP_REASONS = 3 };

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
} zp_counters;

// zp_frames holds the frames of one multipart message.
typedef struct zp_frames {
	zmq_msg_t *m;
	int n, cap;
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

// zp_z85_key checks that s is the 40-character Z85 form of a 32-byte key
// and writes the key to out. Returns 0 on success.
int zp_z85_key(const char *s, uint8_t *out);

#endif
