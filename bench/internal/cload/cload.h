// The load generators' hot loops, in C so that the client, not the system
// under test, is never what limits a run: one libzmq call per frame, no
// copies, no allocations.
#ifndef BENCH_CLOAD_H
#define BENCH_CLOAD_H

#include <stddef.h>
#include <stdint.h>

// Payload layout of cload_publish's events: bytes 0-7 sequence number
// (big-endian), 8-11 publisher index, and on the end marker (sequence
// UINT64_MAX) bytes 12-19 the number of events the publisher sent.
#define CLOAD_MIN_PAYLOAD 20
#define CLOAD_MAX_PAYLOAD 65536
#define CLOAD_MAX_PUBLISHERS 256

// cload_publish sends count Zeek-shaped 4-frame events (topic, id,
// "broker-bin-v1", payload) on an XPUB socket (or, if count is 0, as many
// as fit in duration_ns) and then the end marker. Returns 0, or -1 with
// errno set.
int cload_publish(void *xpub, const char *topic, int topic_len, const char *id, int id_len,
                  int payload_len, uint32_t index, uint64_t count, int64_t duration_ns,
                  uint64_t *sent);

// cload_receive reads cload_publish's events from an XSUB socket until
// `publishers` end markers arrived, counting events and gaps in each
// publisher's sequence. Returns 0; -1 with errno set (EAGAIN: the receive
// timeout passed without a frame); -2 for a message that is not one of
// ours (wrong frame count or payload), -3 for an event out of order.
int cload_receive(void *xsub, int publishers, uint64_t *received, uint64_t *lost);

// cload_push sends the 4-frame message (frames[i], lens[i]) count times on
// a PUSH socket, blocking while the peer is full. It returns 0 once all are
// sent; -1 with errno set otherwise (EAGAIN: the socket's send timeout
// passed, so the caller can look at its context and call again for the
// rest). *sent counts the messages sent by this call.
int cload_push(void *push, const void *const frames[4], const size_t lens[4], uint64_t count,
               uint64_t *sent);

#endif
