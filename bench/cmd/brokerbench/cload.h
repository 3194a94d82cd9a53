// The load generator's hot loops, in C so that the client, not the broker,
// is never what limits a throughput run: one libzmq call per frame, no
// copies, no allocations.
#ifndef BROKERBENCH_CLOAD_H
#define BROKERBENCH_CLOAD_H

#include <stdint.h>

// Payload layout: bytes 0-7 sequence number (big-endian), 8-11 publisher
// index, and on the end marker (sequence UINT64_MAX) bytes 12-19 the number
// of events the publisher sent.
#define BB_MIN_PAYLOAD 20
#define BB_MAX_PUBLISHERS 256

// bb_publish sends count 4-frame events (or, if count is 0, as many as fit
// in duration_ns) and then the end marker. Returns 0, or -1 with errno set.
int bb_publish(void *xpub, const char *topic, int topic_len, const char *id, int id_len,
               int payload_len, uint32_t index, uint64_t count, int64_t duration_ns,
               uint64_t *sent);

// bb_receive reads 4-frame events until `publishers` end markers arrived,
// counting events and gaps in each publisher's sequence. Returns 0; -1 with
// errno set (EAGAIN: the receive timeout passed without a frame); -2 for a
// message that is not one of ours (wrong frame count or payload), -3 for an
// event out of order.
int bb_receive(void *xsub, int publishers, uint64_t *received, uint64_t *lost);

#endif
