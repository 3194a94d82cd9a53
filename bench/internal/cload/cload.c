#include "cload.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static void put_u64(unsigned char *p, uint64_t v) {
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static uint64_t get_u64(const unsigned char *p) {
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_u32(unsigned char *p, uint32_t v) {
	for (int i = 3; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static uint32_t get_u32(const unsigned char *p) {
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// The Go runtime's signals interrupt blocking calls: retry them.
static int send_frame(void *s, const void *data, size_t len, int flags) {
	int rc;
	do {
		rc = zmq_send(s, data, len, flags);
	} while (rc < 0 && errno == EINTR);
	return rc;
}

static int recv_frame(zmq_msg_t *frame, void *s) {
	int rc;
	do {
		rc = zmq_msg_recv(frame, s, 0);
	} while (rc < 0 && errno == EINTR);
	return rc;
}

static int send_event(void *s, const char *topic, int topic_len, const char *id, int id_len,
                      const unsigned char *payload, int payload_len) {
	static const char format[] = "broker-bin-v1";
	if (send_frame(s, topic, topic_len, ZMQ_SNDMORE) < 0) return -1;
	if (send_frame(s, id, id_len, ZMQ_SNDMORE) < 0) return -1;
	if (send_frame(s, format, sizeof format - 1, ZMQ_SNDMORE) < 0) return -1;
	if (send_frame(s, payload, payload_len, 0) < 0) return -1;
	return 0;
}

int cload_publish(void *xpub, const char *topic, int topic_len, const char *id, int id_len,
                  int payload_len, uint32_t index, uint64_t count, int64_t duration_ns,
                  uint64_t *sent) {
	unsigned char payload[CLOAD_MAX_PAYLOAD];
	if (payload_len < CLOAD_MIN_PAYLOAD || payload_len > (int)sizeof payload) {
		errno = EINVAL;
		return -1;
	}
	memset(payload, 'x', payload_len);
	put_u32(payload + 8, index);
	int64_t deadline = now_ns() + duration_ns;
	uint64_t seq = 0;
	*sent = 0;
	for (;; seq++) {
		if (count > 0 && seq == count) break;
		// Read the clock every 256 events only.
		if (count == 0 && (seq & 255) == 0 && now_ns() >= deadline) break;
		put_u64(payload, seq);
		if (send_event(xpub, topic, topic_len, id, id_len, payload, payload_len) < 0) return -1;
		*sent = seq + 1;
	}
	put_u64(payload, UINT64_MAX);
	put_u64(payload + 12, seq);
	return send_event(xpub, topic, topic_len, id, id_len, payload, payload_len);
}

int cload_receive(void *xsub, int publishers, uint64_t *received, uint64_t *lost) {
	uint64_t next[CLOAD_MAX_PUBLISHERS] = {0};
	int ended = 0, rc = 0;
	zmq_msg_t frame;
	zmq_msg_init(&frame);
	*received = 0;
	*lost = 0;
	if (publishers < 1 || publishers > CLOAD_MAX_PUBLISHERS) {
		errno = EINVAL;
		rc = -1;
	}
	while (rc == 0 && ended < publishers) {
		// Frames 0-2 are not looked at; frame 3 is the payload.
		int frames = 0, more = 1;
		while (more) {
			if (recv_frame(&frame, xsub) < 0) {
				rc = -1;
				goto out;
			}
			frames++;
			more = zmq_msg_more(&frame);
		}
		if (frames != 4 || zmq_msg_size(&frame) < CLOAD_MIN_PAYLOAD) {
			rc = -2;
			break;
		}
		const unsigned char *p = zmq_msg_data(&frame);
		uint64_t seq = get_u64(p);
		uint32_t index = get_u32(p + 8);
		if (index >= (uint32_t)publishers) {
			rc = -2;
			break;
		}
		if (seq == UINT64_MAX) {
			uint64_t sent = get_u64(p + 12);
			if (sent > next[index]) *lost += sent - next[index];
			ended++;
			continue;
		}
		if (seq < next[index]) {
			rc = -3;
			break;
		}
		*lost += seq - next[index];
		next[index] = seq + 1;
		(*received)++;
	}
out:
	zmq_msg_close(&frame);
	return rc;
}

int cload_push(void *push, const void *const frames[4], const size_t lens[4], uint64_t count,
               uint64_t *sent) {
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
