// The load generator's send loop, in C so that the sender, not the logger,
// is never what limits a run: one libzmq call per frame, no copies, no
// allocations.
#ifndef LOGGERBENCH_CLOAD_H
#define LOGGERBENCH_CLOAD_H

#include <stddef.h>
#include <stdint.h>

// lb_push sends the 4-frame message (frames[i], lens[i]) count times on a
// PUSH socket, blocking while the peer is full. It returns 0 once all are
// sent; -1 with errno set otherwise (EAGAIN: the socket's send timeout
// passed, so the caller can look at its context and call again for the
// rest). *sent counts the messages sent by this call.
int lb_push(void *push, const void *const frames[4], const size_t lens[4], uint64_t count, uint64_t *sent);

#endif
