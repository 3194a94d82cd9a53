#include "zpipe_zmq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// ZP_ADD bumps a counter that only this thread writes but Go reads
// concurrently: a plain read and a relaxed atomic store (a single mov on
// x86-64 and arm64), so readers never see a torn value.
#define ZP_ADD(field, n) __atomic_store_n(&(field), (field) + (uint64_t)(n), __ATOMIC_RELAXED)

// How long one wait for room lasts before the link checks its control
// socket again.
#define ZP_LINK_WAIT_CHUNK_MS 100

enum { ZP_SENT = 0, ZP_REFUSED = 1, ZP_DROPPED_MID = 2 };

static int64_t zp_now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int zp_fail(int *err, const char **where, const char *what) {
	*err = errno;
	*where = what;
	return ZP_ERROR;
}

// ---- frames ---------------------------------------------------------------

static int zp_frames_reserve(zp_frames *fr, int need) {
	if (need <= fr->cap)
		return 0;
	int cap = fr->cap ? fr->cap * 2 : 8;
	while (cap < need)
		cap *= 2;
	zmq_msg_t *m = malloc(sizeof(zmq_msg_t) * (size_t)cap);
	if (!m) {
		errno = ENOMEM;
		return -1;
	}
	for (int i = 0; i < cap; i++)
		zmq_msg_init(&m[i]);
	for (int i = 0; i < fr->cap; i++) {
		zmq_msg_move(&m[i], &fr->m[i]);
		zmq_msg_close(&fr->m[i]);
	}
	free(fr->m);
	fr->m = m;
	fr->cap = cap;
	return 0;
}

// zp_frames_release frees the content of the frames, keeping the array.
static void zp_frames_release(zp_frames *fr) {
	for (int i = 0; i < fr->n; i++) {
		zmq_msg_close(&fr->m[i]);
		zmq_msg_init(&fr->m[i]);
	}
	fr->n = 0;
}

static void zp_frames_free(zp_frames *fr) {
	for (int i = 0; i < fr->cap; i++)
		zmq_msg_close(&fr->m[i]);
	free(fr->m);
	fr->m = NULL;
	fr->n = fr->cap = 0;
}

static size_t zp_frames_bytes(zp_frames *fr) {
	size_t b = 0;
	for (int i = 0; i < fr->n; i++)
		b += zmq_msg_size(&fr->m[i]);
	return b;
}

// zp_read_msg reads one whole message. Returns its frame count, 0 when
// nothing was ready (flags has ZMQ_DONTWAIT) or -1 on error. libzmq delivers
// multipart messages atomically, so once the first frame is in, the others
// are read without waiting.
static int zp_read_msg(void *sock, zp_frames *fr, int flags) {
	fr->n = 0;
	for (;;) {
		if (zp_frames_reserve(fr, fr->n + 1) != 0)
			return -1;
		int rc = zmq_msg_recv(&fr->m[fr->n], sock, fr->n == 0 ? flags : 0);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			if (fr->n == 0 && errno == EAGAIN)
				return 0;
			return -1;
		}
		fr->n++;
		if (!zmq_msg_more(&fr->m[fr->n - 1]))
			return fr->n;
	}
}

static int zp_is_subscription(zp_frames *fr) {
	if (fr->n != 1 || zmq_msg_size(&fr->m[0]) == 0)
		return 0;
	unsigned char first = *(unsigned char *)zmq_msg_data(&fr->m[0]);
	return first <= 1;
}

// ---- sockets --------------------------------------------------------------

zp_sock *zp_sock_new(void *handle, int kind, int framing, int send_timeout_ms, int wake_fd) {
	zp_sock *s = calloc(1, sizeof(zp_sock));
	if (!s)
		return NULL;
	s->handle = handle;
	s->kind = kind;
	s->framing = framing;
	s->send_timeout_ms = send_timeout_ms;
	s->wake_fd = wake_fd;
	s->out_reason = -1;
	return s;
}

void zp_sock_free(zp_sock *s) {
	if (!s)
		return;
	zp_frames_free(&s->pend);
	free(s);
}

static int zp_drop_reason(zp_sock *s) {
	if (s->kind == ZP_KIND_PUSH && __atomic_load_n(&s->peers, __ATOMIC_RELAXED) <= 0)
		return ZP_DROP_NO_PEER;
	return ZP_DROP_HWM;
}

static void zp_count_drop(zp_sock *s, int reason) {
	ZP_ADD(s->c.drops[reason], 1);
	s->wait_deadline = 0;
}

// zp_wait_left decides what happens to a message whose first frame the
// socket refused: 0 drops it now, -1 waits forever, n > 0 waits n ms more.
// A message that waited the full timeout is dropped and the socket turns
// degraded: later refusals drop at once until a send succeeds at least one
// timeout after that drop.
static int64_t zp_wait_left(zp_sock *s, int64_t now) {
	if (s->send_timeout_ms == 0)
		return 0;
	if (s->send_timeout_ms < 0)
		return -1;
	if (s->wait_deadline == 0) {
		if (s->degraded)
			return 0;
		s->wait_deadline = now + s->send_timeout_ms;
	}
	int64_t left = s->wait_deadline - now;
	if (left <= 0) {
		s->degraded = 1;
		s->degraded_since = now;
		return 0;
	}
	return left;
}

static void zp_sent_one(zp_sock *s) {
	s->wait_deadline = 0;
	if (s->degraded && zp_now_ms() - s->degraded_since >= s->send_timeout_ms)
		s->degraded = 0;
}

static int zp_set_sndtimeo(void *sock, int ms) {
	return zmq_setsockopt(sock, ZMQ_SNDTIMEO, &ms, sizeof ms);
}

// ---- receive batches ------------------------------------------------------

// zp_wait_readable polls the socket and the wake pipe.
static int zp_wait_readable(zp_sock *s, int timeout_ms) {
	zmq_pollitem_t items[2];
	memset(items, 0, sizeof items);
	items[0].socket = s->handle;
	items[0].events = ZMQ_POLLIN;
	items[1].socket = NULL;
	items[1].fd = s->wake_fd;
	items[1].events = ZMQ_POLLIN;
	int n = s->wake_fd >= 0 ? 2 : 1;
	int rc = zmq_poll(items, n, timeout_ms);
	if (rc < 0)
		return errno == EINTR ? 0 : -1;
	if (n == 2 && (items[1].revents & ZMQ_POLLIN)) {
		char buf[64];
		while (read(s->wake_fd, buf, sizeof buf) > 0) {
		}
	}
	return 0;
}

int zp_recv_batch(zp_sock *s, int timeout_ms, char *data, size_t data_cap, uint32_t *sizes,
                  size_t sizes_cap, uint32_t *parts, size_t parts_cap, int max_msgs) {
	s->out_bytes = s->out_frames = 0;
	s->out_msgs = 0;
	s->need_bytes = s->need_frames = 0;
	int waited = 0;
	while (s->out_msgs < max_msgs) {
		if (s->pend.n == 0) {
			int n = zp_read_msg(s->handle, &s->pend, ZMQ_DONTWAIT);
			if (n < 0)
				return zp_fail(&s->err, &s->err_where, "receive");
			if (n == 0) {
				if (s->out_msgs > 0 || waited || timeout_ms == 0)
					break;
				if (zp_wait_readable(s, timeout_ms) != 0)
					return zp_fail(&s->err, &s->err_where, "poll");
				waited = 1;
				continue;
			}
			size_t bytes = zp_frames_bytes(&s->pend);
			ZP_ADD(s->c.msgs_in, 1);
			ZP_ADD(s->c.frames_in, n);
			ZP_ADD(s->c.bytes_in, bytes);
			if (s->kind == ZP_KIND_XPUB && zp_is_subscription(&s->pend))
				ZP_ADD(s->c.subs_in, 1);
			if (s->framing == ZP_FRAMING_ZEEK && n != 4) {
				ZP_ADD(s->c.drops[ZP_DROP_MALFORMED], 1);
				zp_frames_release(&s->pend);
				continue;
			}
		}
		size_t bytes = zp_frames_bytes(&s->pend);
		size_t nf = (size_t)s->pend.n;
		if (bytes > data_cap - s->out_bytes || nf > sizes_cap - s->out_frames ||
		    (size_t)s->out_msgs >= parts_cap) {
			if (s->out_msgs == 0) {
				s->need_bytes = bytes;
				s->need_frames = nf;
				return ZP_NEED_SPACE;
			}
			break;
		}
		for (int i = 0; i < s->pend.n; i++) {
			size_t sz = zmq_msg_size(&s->pend.m[i]);
			if (sz)
				memcpy(data + s->out_bytes, zmq_msg_data(&s->pend.m[i]), sz);
			s->out_bytes += sz;
			sizes[s->out_frames++] = (uint32_t)sz;
		}
		parts[s->out_msgs++] = (uint32_t)nf;
		zp_frames_release(&s->pend);
	}
	return ZP_OK;
}

// ---- send batches ---------------------------------------------------------

// zp_send_buffers sends one message given as packed buffers. ZP_REFUSED
// means the first frame was refused (EAGAIN) and nothing was sent.
static int zp_send_buffers(void *sock, const char *data, const uint32_t *sizes, int n, int dontwait) {
	static const char empty[1] = {0};
	size_t off = 0;
	for (int f = 0; f < n; f++) {
		int flags = (dontwait ? ZMQ_DONTWAIT : 0) | (f < n - 1 ? ZMQ_SNDMORE : 0);
		const char *p = sizes[f] ? data + off : empty;
		for (;;) {
			int rc = zmq_send(sock, p, sizes[f], flags);
			if (rc >= 0)
				break;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return f == 0 ? ZP_REFUSED : ZP_DROPPED_MID;
			return ZP_ERROR;
		}
		off += sizes[f];
	}
	return ZP_SENT;
}

int zp_send_batch(zp_sock *s, const char *data, const uint32_t *sizes, const uint32_t *parts,
                  int nmsgs, int start_msg, size_t start_frame, size_t start_off, int resume,
                  int chunk_ms) {
	s->out_sent = s->out_dropped = 0;
	s->out_reason = -1;
	if (!resume)
		s->wait_deadline = 0;
	size_t f = start_frame, off = start_off;
	int waited = 0;
	for (int i = start_msg; i < nmsgs; i++) {
		int n = (int)parts[i];
		size_t bytes = 0;
		for (int k = 0; k < n; k++)
			bytes += sizes[f + k];
		int rc = zp_send_buffers(s->handle, data + off, sizes + f, n, 1);
		while (rc == ZP_REFUSED) {
			int64_t left = zp_wait_left(s, zp_now_ms());
			if (left == 0)
				break;
			if (waited) {
				// One wait per call: give the socket back to other users.
				s->next_msg = i;
				s->next_frame = f;
				s->next_off = off;
				return ZP_BLOCKED;
			}
			int ms = (left < 0 || left > chunk_ms) ? chunk_ms : (int)left;
			if (zp_set_sndtimeo(s->handle, ms) != 0)
				return zp_fail(&s->err, &s->err_where, "set send timeout");
			waited = 1;
			rc = zp_send_buffers(s->handle, data + off, sizes + f, n, 0);
		}
		if (rc == ZP_ERROR)
			return zp_fail(&s->err, &s->err_where, "send");
		if (rc == ZP_SENT) {
			ZP_ADD(s->c.msgs_out, 1);
			ZP_ADD(s->c.frames_out, n);
			ZP_ADD(s->c.bytes_out, bytes);
			if (s->kind == ZP_KIND_XSUB && n == 1 && sizes[f] > 0 && (unsigned char)data[off] <= 1)
				ZP_ADD(s->c.subs_out, 1);
			zp_sent_one(s);
			s->out_sent++;
		} else {
			int reason = zp_drop_reason(s);
			zp_count_drop(s, reason);
			s->out_dropped++;
			if (s->out_reason < 0)
				s->out_reason = reason;
		}
		f += (size_t)n;
		off += bytes;
	}
	return ZP_OK;
}

// ---- links ----------------------------------------------------------------

zp_link *zp_link_new(int nsinks) {
	zp_link *l = calloc(1, sizeof(zp_link));
	if (!l)
		return NULL;
	l->sinks = calloc((size_t)nsinks, sizeof(zp_sock *));
	if (!l->sinks) {
		free(l);
		return NULL;
	}
	l->nsinks = nsinks;
	return l;
}

void zp_link_free(zp_link *l) {
	if (!l)
		return;
	zp_frames_free(&l->data);
	zp_frames_free(&l->sub);
	free(l->sinks);
	free(l);
}

static int zp_link_stop_requested(zp_link *l) {
	zmq_pollitem_t item;
	memset(&item, 0, sizeof item);
	item.socket = l->ctrl;
	item.events = ZMQ_POLLIN;
	int rc = zmq_poll(&item, 1, 0);
	return rc > 0 && (item.revents & ZMQ_POLLIN);
}

// zp_send_frames sends a received message to one socket, moving its frames
// (copy == 0) or sending copies (copy == 1, the frames stay intact).
static int zp_send_frames(void *sock, zp_frames *fr, int copy, int dontwait) {
	for (int f = 0; f < fr->n; f++) {
		int flags = (dontwait ? ZMQ_DONTWAIT : 0) | (f < fr->n - 1 ? ZMQ_SNDMORE : 0);
		zmq_msg_t tmp, *m = &fr->m[f];
		if (copy) {
			zmq_msg_init(&tmp);
			if (zmq_msg_copy(&tmp, m) != 0) {
				zmq_msg_close(&tmp);
				return ZP_ERROR;
			}
			m = &tmp;
		}
		int rc;
		while ((rc = zmq_msg_send(m, sock, flags)) < 0 && errno == EINTR) {
		}
		if (rc < 0) {
			int e = errno;
			if (copy)
				zmq_msg_close(&tmp);
			errno = e;
			if (e == EAGAIN)
				return f == 0 ? ZP_REFUSED : ZP_DROPPED_MID;
			return ZP_ERROR;
		}
	}
	return ZP_SENT;
}

// zp_link_send delivers one data message to a sink under its policy.
static int zp_link_send(zp_link *l, zp_sock *s, zp_frames *fr, size_t bytes, int copy) {
	int n = fr->n;
	int rc = zp_send_frames(s->handle, fr, copy, 1);
	while (rc == ZP_REFUSED) {
		int64_t left = zp_wait_left(s, zp_now_ms());
		if (left == 0)
			break;
		if (zp_link_stop_requested(l)) {
			zp_count_drop(s, zp_drop_reason(s));
			return ZP_STOPPED;
		}
		int ms = (left < 0 || left > ZP_LINK_WAIT_CHUNK_MS) ? ZP_LINK_WAIT_CHUNK_MS : (int)left;
		if (zp_set_sndtimeo(s->handle, ms) != 0)
			return zp_fail(&l->err, &l->err_where, "set send timeout");
		rc = zp_send_frames(s->handle, fr, copy, 0);
	}
	if (rc == ZP_ERROR)
		return zp_fail(&l->err, &l->err_where, "send to sink");
	if (rc == ZP_SENT) {
		ZP_ADD(s->c.msgs_out, 1);
		ZP_ADD(s->c.frames_out, n);
		ZP_ADD(s->c.bytes_out, bytes);
		zp_sent_one(s);
	} else {
		zp_count_drop(s, zp_drop_reason(s));
	}
	return ZP_OK;
}

static int zp_forward_data(zp_link *l) {
	zp_sock *src = l->src;
	for (int i = 0; i < l->burst; i++) {
		int n = zp_read_msg(src->handle, &l->data, ZMQ_DONTWAIT);
		if (n < 0)
			return zp_fail(&l->err, &l->err_where, "receive from source");
		if (n == 0)
			return ZP_OK;
		size_t bytes = zp_frames_bytes(&l->data);
		ZP_ADD(src->c.msgs_in, 1);
		ZP_ADD(src->c.frames_in, n);
		ZP_ADD(src->c.bytes_in, bytes);
		if (src->framing == ZP_FRAMING_ZEEK && n != 4) {
			ZP_ADD(src->c.drops[ZP_DROP_MALFORMED], 1);
			continue;
		}
		for (int k = 0; k < l->nsinks; k++) {
			int rc = zp_link_send(l, l->sinks[k], &l->data, bytes, k < l->nsinks - 1);
			if (rc != ZP_OK) {
				// A stop while waiting: the sinks after k never got it.
				for (int j = k + 1; j < l->nsinks; j++)
					zp_count_drop(l->sinks[j], zp_drop_reason(l->sinks[j]));
				return rc;
			}
		}
	}
	return ZP_OK;
}

static int zp_forward_subs(zp_link *l, zp_sock *s) {
	zp_sock *src = l->src;
	for (int i = 0; i < l->burst; i++) {
		int n = zp_read_msg(s->handle, &l->sub, ZMQ_DONTWAIT);
		if (n < 0)
			return zp_fail(&l->err, &l->err_where, "receive subscriptions");
		if (n == 0)
			return ZP_OK;
		size_t bytes = zp_frames_bytes(&l->sub);
		int is_sub = zp_is_subscription(&l->sub);
		ZP_ADD(s->c.msgs_in, 1);
		ZP_ADD(s->c.frames_in, n);
		ZP_ADD(s->c.bytes_in, bytes);
		if (is_sub)
			ZP_ADD(s->c.subs_in, 1);
		if (l->tap) {
			int rc = zp_send_frames(l->tap, &l->sub, 1, 1);
			if (rc == ZP_ERROR)
				return zp_fail(&l->err, &l->err_where, "send to subscription tap");
			if (rc == ZP_SENT) {
				ZP_ADD(l->tapc.msgs_out, 1);
				ZP_ADD(l->tapc.frames_out, n);
				ZP_ADD(l->tapc.bytes_out, bytes);
				if (is_sub)
					ZP_ADD(l->tapc.subs_out, 1);
			} else {
				ZP_ADD(l->tapc.drops[ZP_DROP_HWM], 1);
			}
		}
		if (src->kind != ZP_KIND_XSUB)
			continue; // a PULL source has no upstream for subscriptions
		int rc = zp_send_frames(src->handle, &l->sub, 0, 1);
		if (rc == ZP_ERROR)
			return zp_fail(&l->err, &l->err_where, "send subscription to source");
		if (rc == ZP_SENT) {
			ZP_ADD(src->c.msgs_out, 1);
			ZP_ADD(src->c.frames_out, n);
			ZP_ADD(src->c.bytes_out, bytes);
			if (is_sub)
				ZP_ADD(src->c.subs_out, 1);
		} else {
			ZP_ADD(src->c.drops[ZP_DROP_HWM], 1);
		}
	}
	return ZP_OK;
}

int zp_link_run(zp_link *l) {
	int nitems = 2;
	zmq_pollitem_t *items = calloc((size_t)(2 + l->nsinks), sizeof(zmq_pollitem_t));
	zp_sock **owners = calloc((size_t)(2 + l->nsinks), sizeof(zp_sock *));
	if (!items || !owners) {
		free(items);
		free(owners);
		errno = ENOMEM;
		return zp_fail(&l->err, &l->err_where, "start link");
	}
	items[0].socket = l->ctrl;
	items[0].events = ZMQ_POLLIN;
	items[1].socket = l->src->handle;
	items[1].events = ZMQ_POLLIN;
	for (int k = 0; k < l->nsinks; k++) {
		if (l->sinks[k]->kind != ZP_KIND_XPUB)
			continue;
		items[nitems].socket = l->sinks[k]->handle;
		items[nitems].events = ZMQ_POLLIN;
		owners[nitems] = l->sinks[k];
		nitems++;
	}
	int result = ZP_OK;
	for (;;) {
		int rc = zmq_poll(items, nitems, -1);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			result = zp_fail(&l->err, &l->err_where, "poll");
			break;
		}
		if (items[0].revents & ZMQ_POLLIN) {
			result = ZP_STOPPED;
			break;
		}
		if (items[1].revents & ZMQ_POLLIN) {
			result = zp_forward_data(l);
			if (result != ZP_OK)
				break;
		}
		for (int i = 2; i < nitems; i++) {
			if (!(items[i].revents & ZMQ_POLLIN))
				continue;
			result = zp_forward_subs(l, owners[i]);
			if (result != ZP_OK)
				break;
		}
		if (result != ZP_OK)
			break;
	}
	free(items);
	free(owners);
	return result;
}

// ---- helpers --------------------------------------------------------------

int zp_socket_type(void *handle) {
	int type = -1;
	size_t len = sizeof type;
	if (!handle || zmq_getsockopt(handle, ZMQ_TYPE, &type, &len) != 0)
		return -1;
	return type;
}

int zp_z85_key(const char *s, uint8_t *out) {
	if (strlen(s) != 40)
		return -1;
	return zmq_z85_decode(out, s) == NULL ? -1 : 0;
}
