#define _GNU_SOURCE
#include "zpipe_zmq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
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

// zp_read_frames reads one whole message, without limits. Returns its
// frame count, 0 when nothing was ready (flags has ZMQ_DONTWAIT) or -1 on
// error. libzmq delivers multipart messages atomically, so once the first
// frame is in, the others are read without waiting.
static int zp_read_frames(void *sock, zp_frames *fr, int flags) {
	fr->n = 0;
	fr->bytes = 0;
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
		fr->bytes += (size_t)rc;
		fr->n++;
		if (!zmq_msg_more(&fr->m[fr->n - 1]))
			return fr->n;
	}
}

static int zp_is_subscription(zp_frames *fr);
static void zp_oversize(zp_sock *s, int fd, size_t frames, size_t bytes);
static void zp_note_subscription(zp_sock *s, zp_frames *fr);

// zp_release_memory hands the heap memory freed by an oversize message
// back to the system: libzmq held all of its frames (millions of small
// allocations in its pipe), and glibc keeps freed small allocations in
// its arenas otherwise.
static void zp_release_memory(void) {
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

// ZP_DISCARD_CHUNK bounds the frames of an oversize message discarded in
// one call, so a link serves its other sockets in between.
#define ZP_DISCARD_CHUNK 65536

// zp_discard goes on discarding the rest of an oversize message. Returns -1
// on error, else ZP_OVERSIZE_READ.
#define ZP_OVERSIZE_READ (-2)
static int zp_discard(zp_sock *s) {
	zmq_msg_t m;
	zmq_msg_init(&m);
	for (int i = 0; i < ZP_DISCARD_CHUNK && s->discarding; i++) {
		int rc = zmq_msg_recv(&m, s->handle, 0);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			zmq_msg_close(&m);
			return -1;
		}
		s->discarding = zmq_msg_more(&m);
		if (!s->discarding)
			zp_release_memory();
	}
	zmq_msg_close(&m);
	return ZP_OVERSIZE_READ;
}

// zp_read_msg reads one whole message from a socket, enforcing its frame
// and byte limits: a message over them is released frame by frame as it is
// read (its remaining frames are discarded without being kept), counted as
// oversize and its peer disconnected. Returns the frame count, 0 when
// nothing was ready, -1 on error, ZP_OVERSIZE_READ when an oversize message
// was (or is being) discarded; call again.
static int zp_read_msg(zp_sock *s, zp_frames *fr, int flags) {
	if (s->discarding)
		return zp_discard(s);
	if (s->max_frames == 0 && s->max_bytes == 0)
		return zp_read_frames(s->handle, fr, flags);
	fr->n = 0;
	size_t bytes = 0;
	for (;;) {
		if (zp_frames_reserve(fr, fr->n + 1) != 0)
			return -1;
		zmq_msg_t *m = &fr->m[fr->n];
		fr->bytes = bytes;
		int rc = zmq_msg_recv(m, s->handle, fr->n == 0 ? flags : 0);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			if (fr->n == 0 && errno == EAGAIN)
				return 0;
			return -1;
		}
		fr->n++;
		bytes += (size_t)rc;
		int more = zmq_msg_more(m);
		if ((s->max_frames && (size_t)fr->n > s->max_frames) || (s->max_bytes && bytes > s->max_bytes)) {
			int fd = zmq_msg_get(&fr->m[0], ZMQ_SRCFD);
			size_t n = (size_t)fr->n;
			zp_frames_release(fr);
			ZP_ADD(s->c.msgs_in, 1);
			ZP_ADD(s->c.frames_in, n);
			ZP_ADD(s->c.bytes_in, bytes);
			zp_oversize(s, fd, n, bytes);
			s->discarding = more;
			return ZP_OVERSIZE_READ;
		}
		if (!more) {
			fr->bytes = bytes;
			return fr->n;
		}
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
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void zp_peer_clear(zp_peer *p) {
	for (int i = 0; i < p->nsubs; i++)
		free(p->subs[i].p);
	free(p->subs);
	memset(p, 0, sizeof *p);
	p->fd = -1;
}

void zp_sock_free(zp_sock *s) {
	if (!s)
		return;
	zp_frames_free(&s->pend);
	for (int i = 0; i < s->ntable; i++)
		zp_peer_clear(&s->table[i]);
	free(s->table);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

// ---- peers ----------------------------------------------------------------

#define ZP_ATOMIC_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

void zp_add_event(zp_sock *s, int ev) {
	if (ev >= 0 && ev < ZP_EVENTS)
		__atomic_fetch_add(&s->c.events[ev], 1, __ATOMIC_RELAXED);
}

// zp_format_addr writes the remote address of connection fd: "ip:port",
// "[ipv6]:port", or for ipc the socket path and the peer's pid. Returns -1
// when fd is not a connected socket.
static int zp_format_addr(int fd, char *out, size_t cap) {
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	memset(&ss, 0, sizeof ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	char ip[INET6_ADDRSTRLEN];
	switch (ss.ss_family) {
	case AF_INET: {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
		snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
		return 0;
	}
	case AF_INET6: {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
		snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
		return 0;
	}
	case AF_UNIX: {
		// The accepting side's peer name is unnamed: use the bound path.
		struct sockaddr_un un;
		socklen_t ul = sizeof un;
		memset(&un, 0, sizeof un);
		const char *path = ((struct sockaddr_un *)&ss)->sun_path;
		if (path[0] == 0 && getsockname(fd, (struct sockaddr *)&un, &ul) == 0)
			path = un.sun_path;
		struct ucred cred;
		socklen_t cl = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 && cred.pid > 0)
			snprintf(out, cap, "%s pid %d", path, (int)cred.pid);
		else
			snprintf(out, cap, "%s", path);
		return 0;
	}
	}
	snprintf(out, cap, "fd %d", fd);
	return 0;
}

static zp_peer *zp_peer_find(zp_sock *s, int fd) {
	for (int i = 0; i < s->ntable; i++)
		if (s->table[i].fd == fd)
			return &s->table[i];
	return NULL;
}

// zp_peer_insert adds a peer for fd with the given address; mu held.
static zp_peer *zp_peer_insert(zp_sock *s, int fd, const char *addr) {
	if (s->ntable == s->table_cap) {
		int cap = s->table_cap ? s->table_cap * 2 : 8;
		zp_peer *p = realloc(s->table, sizeof(zp_peer) * (size_t)cap);
		if (!p)
			return NULL;
		s->table = p;
		s->table_cap = cap;
	}
	zp_peer *p = &s->table[s->ntable++];
	memset(p, 0, sizeof *p);
	p->fd = fd;
	snprintf(p->addr, sizeof p->addr, "%s", addr);
	return p;
}

static void zp_peer_unstall(zp_sock *s, zp_peer *p) {
	if (!p->stalled)
		return;
	p->stalled = 0;
	__atomic_fetch_sub(&s->nstalled, 1, __ATOMIC_RELAXED);
}

// zp_kick_later_take removes the waiting kick of fd and returns whether
// there was one; addr (if not NULL) receives the address it was seen
// with. mu held.
static int zp_kick_later_take(zp_sock *s, int fd, char *addr) {
	for (int i = 0; i < s->nkick_later; i++) {
		if (s->kick_later[i].fd != fd)
			continue;
		if (addr)
			snprintf(addr, ZP_ADDR_MAX, "%s", s->kick_later[i].addr);
		memmove(&s->kick_later[i], &s->kick_later[i + 1], sizeof s->kick_later[0] * (size_t)(s->nkick_later - i - 1));
		s->nkick_later--;
		return 1;
	}
	return 0;
}

// zp_kick_later remembers the sender of an oversize message that the
// monitor has not reported yet. mu held.
static void zp_kick_later(zp_sock *s, int fd, const char *addr) {
	zp_kick_later_take(s, fd, NULL);
	if (s->nkick_later == ZP_KICK_LATER_MAX) {
		memmove(&s->kick_later[0], &s->kick_later[1], sizeof s->kick_later[0] * (ZP_KICK_LATER_MAX - 1));
		s->nkick_later--;
	}
	s->kick_later[s->nkick_later].fd = fd;
	snprintf(s->kick_later[s->nkick_later].addr, ZP_ADDR_MAX, "%s", addr);
	s->nkick_later++;
}

static int zp_kick(zp_peer *p);

void zp_peer_add(zp_sock *s, int fd) {
	char addr[ZP_ADDR_MAX];
	if (zp_format_addr(fd, addr, sizeof addr) != 0)
		snprintf(addr, sizeof addr, "fd %d", fd);
	pthread_mutex_lock(&s->mu);
	zp_peer *p = zp_peer_find(s, fd);
	if (p && strcmp(p->addr, addr) != 0) {
		// The descriptor was reused by a new connection.
		zp_peer_unstall(s, p);
		zp_peer_clear(p);
		p->fd = fd;
		snprintf(p->addr, sizeof p->addr, "%s", addr);
	} else if (!p) {
		p = zp_peer_insert(s, fd, addr);
	}
	// An oversize message from this connection was read before the
	// monitor reported it: disconnect it now, if the descriptor is still
	// the connection it came from.
	char seen[ZP_ADDR_MAX];
	if (zp_kick_later_take(s, fd, seen) && p && strcmp(seen, p->addr) == 0)
		zp_kick(p);
	pthread_mutex_unlock(&s->mu);
}

int zp_peer_remove(zp_sock *s, int fd, zp_peer *out) {
	pthread_mutex_lock(&s->mu);
	zp_kick_later_take(s, fd, NULL);
	zp_peer *p = zp_peer_find(s, fd);
	int found = p != NULL;
	if (p) {
		zp_peer_unstall(s, p);
		if (out) {
			*out = *p;
			out->subs = NULL;
			out->nsubs = out->subs_cap = 0;
		}
		zp_peer_clear(p);
		*p = s->table[--s->ntable];
	}
	pthread_mutex_unlock(&s->mu);
	return found;
}

int zp_peers_copy(zp_sock *s, zp_peer *out, int max) {
	pthread_mutex_lock(&s->mu);
	int n = s->ntable;
	for (int i = 0; i < n && i < max; i++) {
		out[i] = s->table[i];
		out[i].subs = NULL;
		out[i].nsubs = out[i].subs_cap = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

// zp_note_add queues a log line for Go; mu held.
static zp_note *zp_note_add(zp_sock *s, int what, zp_peer *p) {
	if (s->nnotes >= ZP_NOTES_MAX) {
		s->notes_lost++;
		return NULL;
	}
	zp_note *n = &s->notes[s->nnotes++];
	memset(n, 0, sizeof *n);
	n->what = what;
	if (p) {
		snprintf(n->addr, sizeof n->addr, "%s", p->addr);
		snprintf(n->node_id, sizeof n->node_id, "%s", p->node_id);
		n->dropped = p->dropped;
	}
	return n;
}

int zp_notes_take(zp_sock *s, zp_note *out, int max, uint64_t *lost) {
	pthread_mutex_lock(&s->mu);
	int n = s->nnotes < max ? s->nnotes : max;
	memcpy(out, s->notes, sizeof(zp_note) * (size_t)n);
	memmove(s->notes, s->notes + n, sizeof(zp_note) * (size_t)(s->nnotes - n));
	s->nnotes -= n;
	*lost = s->notes_lost;
	s->notes_lost = 0;
	pthread_mutex_unlock(&s->mu);
	return n;
}

// zp_fd_state tells what the kernel shows of connection fd: ZP_FD_FLOWING
// (nothing waits to be sent), ZP_FD_BACKLOG (bytes wait to be sent; for
// ipc, the socket cannot be written), or ZP_FD_CLOSED_WINDOW (bytes wait
// behind a receive window the peer has closed: it does not read).
enum { ZP_FD_FLOWING = 0, ZP_FD_BACKLOG = 1, ZP_FD_CLOSED_WINDOW = 2 };
static int zp_fd_state(int fd) {
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	memset(&ti, 0, sizeof ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
		int unsent = 0;
		if (len >= offsetof(struct tcp_info, tcpi_notsent_bytes) + sizeof ti.tcpi_notsent_bytes)
			unsent = ti.tcpi_notsent_bytes > 0;
		else if (ioctl(fd, SIOCOUTQNSD, &unsent) != 0)
			unsent = 0;
		if (!unsent)
			return ZP_FD_FLOWING;
		if (len >= offsetof(struct tcp_info, tcpi_snd_wnd) + sizeof ti.tcpi_snd_wnd && ti.tcpi_snd_wnd < ti.tcpi_snd_mss)
			return ZP_FD_CLOSED_WINDOW;
		return ZP_FD_BACKLOG;
	}
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	return poll(&pfd, 1, 0) == 0 ? ZP_FD_CLOSED_WINDOW : ZP_FD_FLOWING;
}

// zp_same_peer checks that fd still is the connection recorded as p before
// anything is done to it.
static int zp_same_peer(zp_peer *p) {
	char addr[ZP_ADDR_MAX];
	return zp_format_addr(p->fd, addr, sizeof addr) == 0 && strcmp(addr, p->addr) == 0;
}

// zp_kick disconnects a peer by shutting its connection down; libzmq then
// closes it. The descriptor is never closed here. mu held.
static int zp_kick(zp_peer *p) {
	if (!zp_same_peer(p))
		return -1;
	return shutdown(p->fd, SHUT_RDWR);
}

// zp_end_writing shuts down the sending side of p's connection and marks
// it as one a drain waits for. mu held.
static void zp_end_writing(zp_peer *p) {
	p->drain = 1;
	if (zp_same_peer(p))
		shutdown(p->fd, SHUT_WR);
}

int zp_peers_end_writing(zp_sock *s) {
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->ntable; i++)
		zp_end_writing(&s->table[i]);
	int n = s->ntable;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void zp_peer_end_writing(zp_sock *s, int fd) {
	pthread_mutex_lock(&s->mu);
	zp_peer *p = zp_peer_find(s, fd);
	if (p)
		zp_end_writing(p);
	pthread_mutex_unlock(&s->mu);
}

int zp_peers_draining(zp_sock *s) {
	pthread_mutex_lock(&s->mu);
	int n = 0;
	for (int i = 0; i < s->ntable; i++)
		n += s->table[i].drain;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static void zp_oversize(zp_sock *s, int fd, size_t frames, size_t bytes) {
	ZP_ADD(s->c.drops[ZP_DROP_OVERSIZE], 1);
	zp_add_event(s, ZP_EV_PEER_OVERSIZE);
	pthread_mutex_lock(&s->mu);
	zp_peer *p = fd >= 0 ? zp_peer_find(s, fd) : NULL;
	zp_peer unknown;
	if (!p) {
		// Not reported by the monitor yet (or gone): its descriptor is
		// not known to be this socket's, so nothing is done to it here;
		// zp_peer_add disconnects it once the monitor reports it.
		memset(&unknown, 0, sizeof unknown);
		if (fd >= 0 && zp_format_addr(fd, unknown.addr, sizeof unknown.addr) == 0)
			zp_kick_later(s, fd, unknown.addr);
		else
			snprintf(unknown.addr, sizeof unknown.addr, "unknown");
	} else {
		zp_kick(p);
	}
	zp_note *n = zp_note_add(s, ZP_NOTE_OVERSIZE, p ? p : &unknown);
	if (n) {
		n->frames = frames;
		n->bytes = bytes;
	}
	pthread_mutex_unlock(&s->mu);
}

#define ZP_NODEID_PREFIX "zeek.cluster.nodeid."

static int zp_prefix_matches(zp_peer *p, const unsigned char *topic, size_t n) {
	for (int i = 0; i < p->nsubs; i++)
		if (p->subs[i].n <= n && memcmp(p->subs[i].p, topic, p->subs[i].n) == 0)
			return 1;
	return 0;
}

static void zp_subs_change(zp_peer *p, int subscribe, const unsigned char *d, size_t n) {
	for (int i = 0; i < p->nsubs; i++) {
		if (p->subs[i].n == n && memcmp(p->subs[i].p, d, n) == 0) {
			if (!subscribe) {
				free(p->subs[i].p);
				p->subs_bytes -= n;
				p->subs[i] = p->subs[--p->nsubs];
			}
			return;
		}
	}
	if (!subscribe || p->nsubs >= ZP_PEER_SUBS_MAX || p->subs_bytes + n > ZP_PEER_SUBS_BYTES)
		return; // beyond the bounds: not remembered (its losses undercounted)
	if (p->nsubs == p->subs_cap) {
		int cap = p->subs_cap ? p->subs_cap * 2 : 8;
		zp_prefix *a = realloc(p->subs, sizeof(zp_prefix) * (size_t)cap);
		if (!a)
			return;
		p->subs = a;
		p->subs_cap = cap;
	}
	unsigned char *c = malloc(n ? n : 1);
	if (!c)
		return;
	memcpy(c, d, n);
	p->subs[p->nsubs].p = c;
	p->subs[p->nsubs].n = n;
	p->nsubs++;
	p->subs_bytes += n;
}

// zp_note_subscription records a subscription message an XPUB read: the
// peer's subscriptions, and its Zeek node id from a node-id subscription.
static void zp_note_subscription(zp_sock *s, zp_frames *fr) {
	if (s->kind != ZP_KIND_XPUB || !zp_is_subscription(fr))
		return;
	int fd = zmq_msg_get(&fr->m[0], ZMQ_SRCFD);
	if (fd < 0)
		return;
	const unsigned char *d = zmq_msg_data(&fr->m[0]);
	size_t n = zmq_msg_size(&fr->m[0]);
	int subscribe = d[0] == 1;
	d++;
	n--;
	pthread_mutex_lock(&s->mu);
	zp_peer *p = zp_peer_find(s, fd);
	if (!p) {
		// Read before the monitor reported the connection.
		char addr[ZP_ADDR_MAX];
		if (zp_format_addr(fd, addr, sizeof addr) == 0)
			p = zp_peer_insert(s, fd, addr);
	}
	if (p) {
		zp_subs_change(p, subscribe, d, n);
		size_t pl = sizeof ZP_NODEID_PREFIX - 1;
		if (subscribe && n > pl + 1 && memcmp(d, ZP_NODEID_PREFIX, pl) == 0 && d[n - 1] == '.') {
			size_t idl = n - pl - 1;
			if (idl < ZP_NODEID_MAX && memchr(d + pl, 0, idl) == NULL) {
				memcpy(p->node_id, d + pl, idl);
				p->node_id[idl] = 0;
			}
		}
	}
	pthread_mutex_unlock(&s->mu);
}

// ZP_RECHECK_MS is how often a stalled peer's connection is looked at
// while messages flow, and ZP_STALL_MIN_MS how long a peer stays stalled
// at least (its connection may show its backlog only a little after
// libzmq refused a message for it).
#define ZP_RECHECK_MS 1
#define ZP_STALL_MIN_MS 50

static void zp_stall_mark(zp_sock *s, zp_peer *p, int64_t now) {
	p->stalled = 1;
	p->stalled_since = p->checked_at = now;
	ZP_ATOMIC_SET(p->stalls, p->stalls + 1);
	__atomic_fetch_add(&s->nstalled, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->unnamed_since, 0, __ATOMIC_RELAXED);
	zp_add_event(s, ZP_EV_PEER_STALLED);
	zp_note_add(s, ZP_NOTE_STALLED, p);
}

// zp_stall_recheck ends the episode of a stalled peer whose connection
// flows again (it reads); returns whether it is still stalled. mu held.
static int zp_stall_recheck(zp_sock *s, zp_peer *p, int64_t now) {
	if (p->kicked || now - p->checked_at < ZP_RECHECK_MS || now - p->stalled_since < ZP_STALL_MIN_MS)
		return 1;
	p->checked_at = now;
	if (zp_fd_state(p->fd) != ZP_FD_FLOWING)
		return 1;
	zp_peer_unstall(s, p);
	zp_note *n = zp_note_add(s, ZP_NOTE_UNSTALLED, p);
	if (n)
		n->ms = now - p->stalled_since;
	return 0;
}

// zp_mark_stuck finds the peers whose queue libzmq found full and marks
// them stalled: the connections whose peer closed its receive window, else
// those with a backlog; else, when infer is set (libzmq just refused a
// message on topic) and a single peer has room for it as far as anyone
// knows, that one. Returns how many peers are stalled. mu held.
static int zp_mark_stuck(zp_sock *s, int64_t now, int infer, const unsigned char *topic, size_t n) {
	int best = ZP_FD_FLOWING, stalled = 0, candidates = 0;
	zp_peer *only = NULL;
	for (int i = 0; i < s->ntable; i++) {
		zp_peer *p = &s->table[i];
		if (p->stalled) {
			stalled++;
			p->state = ZP_FD_FLOWING;
			continue;
		}
		p->state = zp_fd_state(p->fd);
		if (p->state > best)
			best = p->state;
		if (infer && (zp_prefix_matches(p, topic, n) || !s->verbose)) {
			candidates++;
			only = p;
		}
	}
	if (best != ZP_FD_FLOWING) {
		for (int i = 0; i < s->ntable; i++)
			if (!s->table[i].stalled && s->table[i].state == best) {
				zp_stall_mark(s, &s->table[i], now);
				stalled++;
			}
	} else if (infer && candidates == 1) {
		zp_stall_mark(s, only, now);
		stalled++;
	}
	return stalled;
}

// zp_account_locked charges a message an XPUB sent to the stalled peers
// subscribed to its topic (libzmq skips their queues) and tells what it
// was for the socket: -1 delivered as usual, ZP_DROP_STALLED delivered to
// the peers with room while a stalled one missed it, ZP_DROP_HWM no peer
// with room wanted it, so nobody got it. A peer's topics are those of the
// subscriptions seen from it: all of them with verbose subscriptions,
// otherwise those no other peer had subscribed to before, so a stalled
// peer is charged at most what it missed; without verbose subscriptions a
// peer with room counts whatever its topics. Without charge it only
// tells. mu held.
static int zp_account_locked(zp_sock *s, const unsigned char *topic, size_t n, int64_t now, int charge) {
	int missed = 0, healthy = 0;
	for (int i = 0; i < s->ntable; i++) {
		zp_peer *p = &s->table[i];
		int matches = zp_prefix_matches(p, topic, n);
		if (p->stalled && matches && zp_stall_recheck(s, p, now)) {
			if (charge)
				ZP_ATOMIC_SET(p->dropped, p->dropped + 1);
			missed++;
		} else if (!p->stalled && (matches || !s->verbose)) {
			healthy++;
		}
	}
	if (!missed)
		return -1;
	return healthy ? ZP_DROP_STALLED : ZP_DROP_HWM;
}

// zp_stall_known: a peer is stalled, or one is looked for.
static int zp_stall_known(zp_sock *s) {
	return __atomic_load_n(&s->nstalled, __ATOMIC_RELAXED) != 0 ||
	       __atomic_load_n(&s->unnamed_since, __ATOMIC_RELAXED) != 0;
}

// zp_account is zp_account_locked for a message sent as usual. While a
// stall is known, or suspected without a name yet, it takes mu. With skip,
// a message no subscriber with room wants is charged and reported
// (ZP_DROP_HWM) before it is sent, while others are not charged: the
// caller then does not hand it to libzmq at all, which may have resumed
// the stalled peer's queue meanwhile.
static int zp_account(zp_sock *s, const unsigned char *topic, size_t n, int skip) {
	if (!zp_stall_known(s))
		return -1;
	int64_t now = zp_now_ms();
	pthread_mutex_lock(&s->mu);
	if (s->unnamed_since)
		zp_mark_stuck(s, now, 0, NULL, 0);
	int r = zp_account_locked(s, topic, n, now, !skip);
	if (skip && r == ZP_DROP_HWM)
		zp_account_locked(s, topic, n, now, 1);
	pthread_mutex_unlock(&s->mu);
	return r;
}

// zp_stall_begin marks the stalled peers before a message is sent with
// NODROP off and accounts for the message (zp_account_locked; -1 counts
// as ZP_DROP_STALLED: libzmq refused it because of a full queue, which
// then misses it). When no peer can be named yet, the next sends and the
// watcher look again for a while.
static int zp_stall_begin(zp_sock *s, const unsigned char *topic, size_t n, int64_t now) {
	pthread_mutex_lock(&s->mu);
	if (zp_mark_stuck(s, now, 1, topic, n) == 0 && s->unnamed_since == 0)
		__atomic_store_n(&s->unnamed_since, now, __ATOMIC_RELAXED);
	int r = zp_account_locked(s, topic, n, now, 1);
	pthread_mutex_unlock(&s->mu);
	return r < 0 ? ZP_DROP_STALLED : r;
}

// ZP_UNNAMED_MS is how long the watcher looks for the stalled peer after a
// send with NODROP off before it reports an unnamed stall.
#define ZP_UNNAMED_MS 1000

void zp_peers_review(zp_sock *s, int64_t disconnect_ms) {
	int64_t now = zp_now_ms();
	pthread_mutex_lock(&s->mu);
	if (s->unnamed_since) {
		if (zp_mark_stuck(s, now, 0, NULL, 0) == 0 && now - s->unnamed_since >= ZP_UNNAMED_MS) {
			zp_add_event(s, ZP_EV_PEER_STALLED);
			zp_note_add(s, ZP_NOTE_STALLED_UNKNOWN, NULL);
		}
		if (s->nstalled > 0 || now - s->unnamed_since >= ZP_UNNAMED_MS)
			__atomic_store_n(&s->unnamed_since, 0, __ATOMIC_RELAXED);
	}
	for (int i = 0; i < s->ntable; i++) {
		zp_peer *p = &s->table[i];
		if (!p->stalled || !zp_stall_recheck(s, p, now) || p->kicked)
			continue;
		if (disconnect_ms > 0 && now - p->stalled_since >= disconnect_ms && zp_kick(p) == 0) {
			p->kicked = 1;
			zp_add_event(s, ZP_EV_PEER_STALL_DISCONNECT);
			zp_note *n = zp_note_add(s, ZP_NOTE_STALL_DISCONNECT, p);
			if (n)
				n->ms = now - p->stalled_since;
		}
	}
	pthread_mutex_unlock(&s->mu);
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

// ---- stalled subscribers ----------------------------------------------------
//
// An XPUB with NODROP refuses a message as a whole when the queue of any
// subscriber it matches is full. After waiting send_timeout_ms for room
// (backpressure for a subscriber that is only busy), the message is sent
// once with NODROP off: the subscribers with room get it, and libzmq
// deactivates the full queue and skips it until its reader has drained it
// to the low-water mark. The connections that cannot take data then (the
// kernel's view: unsent bytes behind a closed receive window) are the
// stalled subscribers, named in the log and charged with the messages of
// their topics until they read again.

// ZP_TOPIC_MAX bounds the topic bytes a link keeps for the accounting.
#define ZP_TOPIC_MAX 256

// zp_msgref is one message to send: received frames (link) or packed
// buffers (batch).
typedef struct zp_msgref {
	zp_frames *fr;
	int copy;
	const char *data;
	const uint32_t *sizes;
	int n;
} zp_msgref;

static int zp_send_frames(void *sock, zp_frames *fr, int copy, int dontwait);
static int zp_send_buffers(void *sock, const char *data, const uint32_t *sizes, int n, int dontwait);

static int zp_msgref_send(void *sock, zp_msgref *m, int dontwait) {
	if (m->fr)
		return zp_send_frames(sock, m->fr, m->copy, dontwait);
	return zp_send_buffers(sock, m->data, m->sizes, m->n, dontwait);
}

static const unsigned char *zp_msgref_topic(zp_msgref *m, size_t *n) {
	if (m->fr) {
		*n = zmq_msg_size(&m->fr->m[0]);
		return zmq_msg_data(&m->fr->m[0]);
	}
	*n = m->sizes[0];
	return (const unsigned char *)m->data;
}

// zp_stall_mode: refusals are resolved by sending with NODROP off.
static int zp_stall_mode(zp_sock *s) {
	return s->kind == ZP_KIND_XPUB && s->nodrop && s->send_timeout_ms >= 0;
}

// zp_stall_wait_left is zp_wait_left for an XPUB in stall mode: 0 sends the
// refused message with NODROP off now, n > 0 waits n ms more. Every refusal
// waits: once a stalled subscriber's queue is skipped, a refusal means a
// queue that is full now, which may be that of a subscriber that is only
// busy (or of a stalled one that read a little and is full again).
static int64_t zp_stall_wait_left(zp_sock *s, int64_t now) {
	if (s->send_timeout_ms == 0)
		return 0;
	if (s->wait_deadline == 0)
		s->wait_deadline = now + s->send_timeout_ms;
	int64_t left = s->wait_deadline - now;
	return left > 0 ? left : 0;
}

// ZP_NOT_SENT: a message an XPUB in stall mode did not hand to libzmq,
// as no subscriber with room wants it; counted as an hwm drop.
enum { ZP_NOT_SENT = 10 };

// zp_force sends a refused message with NODROP off and returns ZP_SENT,
// ZP_NOT_SENT (no subscriber with room wants it) or ZP_ERROR; *reason
// tells what it was (zp_stall_begin).
static int zp_force(zp_sock *s, zp_msgref *m, int64_t now, int *reason) {
	size_t tn;
	const unsigned char *t = zp_msgref_topic(m, &tn);
	*reason = zp_stall_begin(s, t, tn, now);
	s->wait_deadline = 0;
	if (*reason == ZP_DROP_HWM)
		return ZP_NOT_SENT;
	int off = 0, on = 1;
	if (zmq_setsockopt(s->handle, ZMQ_XPUB_NODROP, &off, sizeof off) != 0)
		return ZP_ERROR;
	int rc = zp_msgref_send(s->handle, m, 1);
	int e = errno;
	if (zmq_setsockopt(s->handle, ZMQ_XPUB_NODROP, &on, sizeof on) != 0)
		return ZP_ERROR;
	errno = e;
	return rc == ZP_SENT ? ZP_SENT : ZP_ERROR;
}

// zp_sent_stall finishes the accounting of a message an XPUB in stall mode
// sent: reason is what zp_force said, or -1 for a usual send. Returns 1
// when the message reached a subscriber (count it as sent).
static int zp_sent_stall(zp_sock *s, int reason, const unsigned char *topic, size_t n) {
	if (reason < 0 && topic)
		reason = zp_account(s, topic, n, 0);
	if (reason < 0)
		return 1;
	ZP_ADD(s->c.drops[reason], 1);
	return reason == ZP_DROP_STALLED;
}

// ---- receive batches ------------------------------------------------------

int zp_poll_wake(void *handle, int wake_fd, int timeout_ms) {
	zmq_pollitem_t items[2];
	memset(items, 0, sizeof items);
	items[0].socket = handle;
	items[0].events = ZMQ_POLLIN;
	items[1].socket = NULL;
	items[1].fd = wake_fd;
	items[1].events = ZMQ_POLLIN;
	int n = wake_fd >= 0 ? 2 : 1;
	int rc = zmq_poll(items, n, timeout_ms);
	if (rc < 0)
		return errno == EINTR ? 0 : -1;
	if (n == 2 && (items[1].revents & ZMQ_POLLIN)) {
		char buf[64];
		while (read(wake_fd, buf, sizeof buf) > 0) {
		}
	}
	return 0;
}

// zp_wait_readable polls the socket and its wake pipe.
static int zp_wait_readable(zp_sock *s, int timeout_ms) {
	return zp_poll_wake(s->handle, s->wake_fd, timeout_ms);
}

int zp_recv_batch(zp_sock *s, int timeout_ms, char *data, size_t data_cap, uint32_t *sizes,
                  size_t sizes_cap, uint32_t *parts, size_t parts_cap, int max_msgs) {
	s->out_bytes = s->out_frames = 0;
	s->out_msgs = 0;
	s->need_bytes = s->need_frames = 0;
	int waited = 0;
	while (s->out_msgs < max_msgs) {
		if (s->pend.n == 0) {
			int n = zp_read_msg(s, &s->pend, ZMQ_DONTWAIT);
			if (n == ZP_OVERSIZE_READ)
				continue;
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
			size_t bytes = s->pend.bytes;
			ZP_ADD(s->c.msgs_in, 1);
			ZP_ADD(s->c.frames_in, n);
			ZP_ADD(s->c.bytes_in, bytes);
			if (s->kind == ZP_KIND_XPUB && zp_is_subscription(&s->pend)) {
				ZP_ADD(s->c.subs_in, 1);
				zp_note_subscription(s, &s->pend);
			}
			if (s->framing == ZP_FRAMING_ZEEK && n != 4) {
				ZP_ADD(s->c.drops[ZP_DROP_MALFORMED], 1);
				zp_frames_release(&s->pend);
				continue;
			}
		}
		size_t bytes = s->pend.bytes;
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
	int stall = zp_stall_mode(s);
	for (int i = start_msg; i < nmsgs; i++) {
		int n = (int)parts[i];
		size_t bytes = 0;
		for (int k = 0; k < n; k++)
			bytes += sizes[f + k];
		zp_msgref ref = {.data = data + off, .sizes = sizes + f, .n = n};
		int reason = -1, rc;
		if (stall && zp_account(s, (const unsigned char *)data + off, sizes[f], 1) == ZP_DROP_HWM) {
			rc = ZP_NOT_SENT;
			reason = ZP_DROP_HWM;
		} else {
			rc = zp_send_buffers(s->handle, data + off, sizes + f, n, 1);
		}
		while (rc == ZP_REFUSED) {
			int64_t now = zp_now_ms();
			int64_t left = stall ? zp_stall_wait_left(s, now) : zp_wait_left(s, now);
			if (left == 0) {
				if (stall)
					rc = zp_force(s, &ref, now, &reason);
				break;
			}
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
		if (rc == ZP_SENT && stall && !zp_sent_stall(s, reason, (const unsigned char *)data + off, sizes[f])) {
			// Nobody with room wanted it: dropped, counted above.
			s->wait_deadline = 0;
			s->out_dropped++;
			if (s->out_reason < 0)
				s->out_reason = ZP_DROP_HWM;
		} else if (rc == ZP_SENT) {
			ZP_ADD(s->c.msgs_out, 1);
			ZP_ADD(s->c.frames_out, n);
			ZP_ADD(s->c.bytes_out, bytes);
			if (s->kind == ZP_KIND_XSUB && n == 1 && sizes[f] > 0 && (unsigned char)data[off] <= 1)
				ZP_ADD(s->c.subs_out, 1);
			zp_sent_one(s);
			s->out_sent++;
		} else {
			if (reason < 0)
				reason = zp_drop_reason(s);
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
	int stall = zp_stall_mode(s);
	// While a stall is known the topic is needed after the send, when the
	// frames may have been moved out: remember it (a longer topic is
	// matched by its first ZP_TOPIC_MAX bytes). Otherwise a usual send
	// is not accounted for.
	unsigned char topic[ZP_TOPIC_MAX];
	size_t topic_n = 0;
	const unsigned char *tp = NULL;
	if (stall && zp_stall_known(s)) {
		topic_n = zmq_msg_size(&fr->m[0]);
		if (topic_n > sizeof topic)
			topic_n = sizeof topic;
		memcpy(topic, zmq_msg_data(&fr->m[0]), topic_n);
		tp = topic;
	}
	zp_msgref ref = {.fr = fr, .copy = copy};
	int reason = -1, rc;
	if (tp && zp_account(s, tp, topic_n, 1) == ZP_DROP_HWM) {
		rc = ZP_NOT_SENT;
		reason = ZP_DROP_HWM;
	} else {
		rc = zp_send_frames(s->handle, fr, copy, 1);
	}
	while (rc == ZP_REFUSED) {
		int64_t now = zp_now_ms();
		int64_t left = stall ? zp_stall_wait_left(s, now) : zp_wait_left(s, now);
		if (left == 0) {
			if (stall)
				rc = zp_force(s, &ref, now, &reason);
			break;
		}
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
	if (rc == ZP_SENT && stall && !zp_sent_stall(s, reason, tp, topic_n)) {
		s->wait_deadline = 0; // nobody with room wanted it: counted as dropped
	} else if (rc == ZP_SENT) {
		ZP_ADD(s->c.msgs_out, 1);
		ZP_ADD(s->c.frames_out, n);
		ZP_ADD(s->c.bytes_out, bytes);
		zp_sent_one(s);
	} else {
		zp_count_drop(s, reason >= 0 ? reason : zp_drop_reason(s));
	}
	return ZP_OK;
}

static int zp_forward_data(zp_link *l) {
	zp_sock *src = l->src;
	for (int i = 0; i < l->burst; i++) {
		int n = zp_read_msg(src, &l->data, ZMQ_DONTWAIT);
		if (n == ZP_OVERSIZE_READ)
			continue;
		if (n < 0)
			return zp_fail(&l->err, &l->err_where, "receive from source");
		if (n == 0)
			return ZP_OK;
		size_t bytes = l->data.bytes;
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
		int n = zp_read_msg(s, &l->sub, ZMQ_DONTWAIT);
		if (n == ZP_OVERSIZE_READ)
			continue;
		if (n < 0)
			return zp_fail(&l->err, &l->err_where, "receive subscriptions");
		if (n == 0)
			return ZP_OK;
		size_t bytes = l->sub.bytes;
		int is_sub = zp_is_subscription(&l->sub);
		ZP_ADD(s->c.msgs_in, 1);
		ZP_ADD(s->c.frames_in, n);
		ZP_ADD(s->c.bytes_in, bytes);
		if (is_sub) {
			ZP_ADD(s->c.subs_in, 1);
			zp_note_subscription(s, &l->sub);
		}
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
