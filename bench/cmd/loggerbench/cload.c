#include "cload.h"

#include <errno.h>
#include <zmq.h>

// The Go runtime's signals interrupt blocking calls: retry them.
static int send_frame(void *s, const void *data, size_t len, int flags) {
	int rc;
	do {
		rc = zmq_send(s, data, len, flags);
	} while (rc < 0 && errno == EINTR);
	return rc;
}

int lb_push(void *push, const void *const frames[4], const size_t lens[4], uint64_t count, uint64_t *sent) {
	*sent = 0;
	for (uint64_t i = 0; i < count; i++) {
		// A multipart message is queued whole or not at all: only the
		// first frame can time out.
		if (send_frame(push, frames[0], lens[0], ZMQ_SNDMORE) < 0) return -1;
		for (int f = 1; f < 4; f++) {
			if (send_frame(push, frames[f], lens[f], f < 3 ? ZMQ_SNDMORE : 0) < 0) return -1;
		}
		(*sent)++;
	}
	return 0;
}
