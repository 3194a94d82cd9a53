package zmqtransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/ratelog"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/zmqopts"
)

const (
	// defaultMaxMessages and defaultMaxBytes bound a received batch when the
	// caller's limits are zero.
	defaultMaxMessages = 1024
	defaultMaxBytes    = 1 << 20
	// maxPreallocBytes caps the buffer grown ahead of a receive; larger
	// batches grow as messages need it.
	maxPreallocBytes = 8 << 20
	// recvPollMs is the longest a receive waits in C before it returns to
	// Go to look at its context; senders and Close interrupt it at once.
	recvPollMs = 1000
	// sendChunkMs is the longest a send waits for room in C before it
	// gives the socket back to a receiver and looks at its context.
	sendChunkMs = 10
)

// sock is one libzmq socket (or the receiving end of a link's subscription
// tap) and everything needed to use it from several goroutines: libzmq
// sockets are not thread-safe, so every use holds mu. A receive waits in C
// with mu held; a sender announces itself in pending and wakes the receive,
// which gives mu up at once.
type sock struct {
	id   string
	kind string
	cfg  *zmqopts.Config
	zs   *zmq.Socket
	zc   *zctx
	c    *cSocket
	log  *slog.Logger

	bound []string

	mu       sync.Mutex
	closed   bool   // under mu
	link     string // under mu: the link using this socket, if any
	quiesced bool   // under mu: takes nothing new in; Recv drains it
	// draining is set by Quiesce: the connections' sending sides are shut
	// down, and Recv stops the socket once they have ended, or at
	// drainUntil (under mu).
	draining   atomic.Bool
	drainUntil time.Time
	pending    atomic.Int32

	mon       *monitor // nil for a tap
	zapDomain string   // the socket's ZAP domain, if it has one
	allowList bool     // a CURVE server admitting only curve_allowed_clients

	// The watcher writes the log lines the C side asks for and reviews
	// stalled peers; it runs from Open until the socket is released.
	watchStop chan struct{}
	watchDone chan struct{}

	limits    sockLimiters
	departedM sync.Mutex
	departed  []transport.PeerStats // peers that left with losses, newest last

	// closedM guards endsSeen: endpoints whose listener or connection libzmq
	// reported closed since quiesce asked (EVENT_CLOSED); nil until quiesce.
	closedM  sync.Mutex
	endsSeen map[string]bool
}

// maxDeparted bounds the departed peers kept for Stats.
const maxDeparted = 32

// watchInterval is how often the watcher looks at the C side's notes and
// at stalled peers.
const watchInterval = 100 * time.Millisecond

// sockLimiters rate-limit the warnings of one socket.
type sockLimiters struct {
	handshake *ratelog.Limiter
	auth      *ratelog.Limiter
	oversize  *ratelog.Limiter
	stall     *ratelog.Limiter
}

// newSock returns the Go side of an open socket; cfg is nil for a tap.
func newSock(id, kind string, cfg *zmqopts.Config, zs *zmq.Socket, zc *zctx, c *cSocket, log *slog.Logger) *sock {
	every := ratelog.DefaultInterval
	return &sock{id: id, kind: kind, cfg: cfg, zs: zs, zc: zc, c: c, log: log,
		limits: sockLimiters{
			handshake: ratelog.New(log, every),
			auth:      ratelog.New(log, every),
			oversize:  ratelog.New(log, every),
			stall:     ratelog.New(log, time.Second),
		},
	}
}

// errLinked reports a socket that a running link owns.
func (s *sock) errLinked() error {
	return fmt.Errorf("%s socket %q is used by link %q; stop the link first", s.kind, s.id, s.link)
}

// acquire takes mu ahead of a waiting receive.
func (s *sock) acquire() {
	s.pending.Add(1)
	s.c.wake()
	s.mu.Lock()
	s.pending.Add(-1)
}

// recv implements Server.Recv for this socket.
func (s *sock) recv(ctx context.Context, b *message.Batch, lim transport.Limits) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, s.c.wake)
	defer stop()
	maxMsgs, maxBytes := lim.MaxMessages, lim.MaxBytes
	if maxMsgs <= 0 {
		maxMsgs = defaultMaxMessages
	}
	if maxBytes <= 0 {
		maxBytes = defaultMaxBytes
	}
	for {
		for s.pending.Load() > 0 {
			runtime.Gosched()
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return transport.ErrClosed
		}
		if s.link != "" {
			err := s.errLinked()
			s.mu.Unlock()
			return err
		}
		wait := recvPollMs
		switch {
		case s.quiesced:
			wait = 0
		case s.draining.Load():
			wait = quiescePollMs
		}
		n, err := s.recvLocked(b, maxMsgs, maxBytes, wait)
		drained := s.quiesced && n == 0
		if err == nil && !s.quiesced && s.draining.Load() && s.connectionsEnded() {
			err = s.stopTakingIn(ctx)
		}
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("receive on %s %q: %w", s.kind, s.id, err)
		}
		if n > 0 {
			return nil
		}
		if drained {
			return transport.ErrDrained
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// recvLocked reads one batch into b; it waits up to wait ms for the first
// message.
func (s *sock) recvLocked(b *message.Batch, maxMsgs, maxBytes, wait int) (int, error) {
	room := min(maxBytes, maxPreallocBytes)
	frameRoom := max(4*maxMsgs, 64)
	for {
		b.Data = slices.Grow(b.Data, room)
		b.Sizes = slices.Grow(b.Sizes, frameRoom)
		b.Parts = slices.Grow(b.Parts, maxMsgs)
		dl, sl, pl := len(b.Data), len(b.Sizes), len(b.Parts)
		data := b.Data[dl : dl+min(room, cap(b.Data)-dl)]
		sizes := b.Sizes[sl:cap(b.Sizes)]
		parts := b.Parts[pl : pl+maxMsgs]
		msgs, frames, bytes, r, err := s.c.recvBatch(wait, data, sizes, parts, maxMsgs)
		if err != nil {
			return 0, err
		}
		b.Data = b.Data[:dl+bytes]
		b.Sizes = b.Sizes[:sl+frames]
		b.Parts = b.Parts[:pl+msgs]
		if !r.needSpace {
			return msgs, nil
		}
		// The next message is larger than the room given: make room for
		// it alone (a message above maxBytes is still delivered, alone).
		room = max(room, r.needBytes)
		frameRoom = max(frameRoom, r.needFrames)
		wait = 0
	}
}

// send implements Server.Send for this socket.
func (s *sock) send(ctx context.Context, b *message.Batch) (transport.SendResult, error) {
	var res transport.SendResult
	if err := b.Validate(); err != nil {
		return res, fmt.Errorf("send on %s %q: %w", s.kind, s.id, err)
	}
	for it := b.Iter(); it.Next(); {
		if it.NumFrames() == 0 {
			return res, fmt.Errorf("send on %s %q: message %d has no frames", s.kind, s.id, it.Index())
		}
		if s.kind == KindXSub {
			if it.NumFrames() != 1 {
				return res, fmt.Errorf("send on xsub %q: message %d has %d frames; an xsub sends single-frame subscription messages", s.id, it.Index(), it.NumFrames())
			}
			if _, _, ok := message.ParseSubscription(it.Frame(0)); !ok {
				return res, fmt.Errorf("send on xsub %q: message %d is not a subscription (first byte 0x00 or 0x01)", s.id, it.Index())
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if b.Len() == 0 {
		return res, nil
	}
	s.acquire()
	from, resume := sendProgress{}, false
	for {
		if s.closed {
			s.mu.Unlock()
			return res, transport.ErrClosed
		}
		if s.link != "" {
			err := s.errLinked()
			s.mu.Unlock()
			return res, err
		}
		sent, dropped, reason, next, blocked, err := s.c.sendBatch(b.Data, b.Sizes, b.Parts, from, resume, sendChunkMs)
		res.Sent += sent
		res.Dropped += dropped
		if res.DropReason == "" {
			res.DropReason = reason
		}
		if err != nil {
			s.mu.Unlock()
			return res, fmt.Errorf("send on %s %q: %w", s.kind, s.id, err)
		}
		if !blocked {
			s.mu.Unlock()
			return res, nil
		}
		// A message waits for room: let a receiver in, then go on.
		s.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return res, err
		}
		from, resume = next, true
		s.acquire()
	}
}

// syncMonitor brings the socket's bookkeeping of its connections up to
// date with every event libzmq has reported (see monitor).
func (s *sock) syncMonitor() {
	if s.mon != nil {
		s.mon.sync()
	}
}

func (s *sock) cfgConnect() []string {
	if s.cfg == nil {
		return nil
	}
	return s.cfg.Connect
}

func (s *sock) addDeparted(p transport.PeerStats) {
	s.departedM.Lock()
	defer s.departedM.Unlock()
	p.Stalled = false
	s.departed = append(s.departed, p)
	if len(s.departed) > maxDeparted {
		s.departed = slices.Delete(s.departed, 0, len(s.departed)-maxDeparted)
	}
}

// peerStats returns the per-peer counters of an xpub: its connected peers
// and those that left with losses.
func (s *sock) peerStats() []transport.PeerStats {
	if s.kind != KindXPub {
		return nil
	}
	out := s.c.peers()
	s.departedM.Lock()
	out = append(out, s.departed...)
	s.departedM.Unlock()
	return out
}

// watch writes the log lines the C side asked for and, on an xpub, ends
// stall episodes and disconnects peers stalled too long.
func (s *sock) watch() {
	defer close(s.watchDone)
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		select {
		case <-s.watchStop:
			s.writeNotes()
			return
		case <-t.C:
		}
		if s.kind == KindXPub {
			s.c.review(s.cfg.StallDisconnectMs)
		}
		s.writeNotes()
	}
}

func (s *sock) writeNotes() {
	notes, lost := s.c.takeNotes()
	for _, n := range notes {
		switch n.what {
		case noteStalled:
			s.limits.stall.Warn("subscriber stalled: its queue is full and it does not read; it misses messages until it reads again",
				"socket", s.id, "node_id", n.nodeID, "peer", n.addr)
		case noteStalledUnknown:
			s.limits.stall.Warn("subscriber stalled: its queue is full; it misses messages until it reads again (libzmq does not tell which one)",
				"socket", s.id)
		case noteUnstalled:
			s.log.Info("stalled subscriber reads again", "socket", s.id, "node_id", n.nodeID, "peer", n.addr,
				"stalled_ms", n.ms, "missed", n.dropped)
		case noteStallDisconnect:
			s.log.Warn("stalled subscriber disconnected", "socket", s.id, "node_id", n.nodeID, "peer", n.addr,
				"stalled_ms", n.ms, "missed", n.dropped, "stall_disconnect_ms", s.cfg.StallDisconnectMs)
		case noteOversize:
			s.limits.oversize.Warn("message over the limits dropped; peer disconnected", "socket", s.id, "kind", s.kind,
				"peer", n.addr, "node_id", n.nodeID, "frames_read", n.frames, "bytes_read", n.bytes,
				"max_message_frames", strconv.Itoa(s.cfg.MaxMessageFrames), "max_message_bytes", strconv.Itoa(s.cfg.MaxMessageBytes))
		}
	}
	if lost > 0 {
		s.log.Warn("peer log lines left out (too many at once)", "socket", s.id, "count", lost)
	}
}

// Timing of a drain: quiesceDrainTimeout bounds how long the peers have
// to end their connections, and quiescePollMs is how long a receive waits
// for data meanwhile.
const (
	quiesceDrainTimeout = 2 * time.Second
	quiescePollMs       = 10
)

// quiesce starts draining the socket: it shuts down the sending side of
// every connection (shutdown(2) SHUT_WR), so that each peer sees its
// connection end and closes it once it has sent what it was sending, while
// libzmq reads everything that was on its way. A peer keeps what it had
// not sent. The receives that follow stop the socket (stopTakingIn) once
// every connection has ended, or after quiesceDrainTimeout.
func (s *sock) quiesce(ctx context.Context) error {
	s.acquire()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return transport.ErrClosed
	case s.link != "":
		return s.errLinked()
	case s.quiesced || s.draining.Load():
		return nil
	}
	s.drainUntil = time.Now().Add(quiesceDrainTimeout)
	// From here on the ZAP handler refuses every new peer's handshake, so
	// nothing arrives on a connection accepted later. Every connection
	// that can still carry data was accepted (or connected) before: the
	// sync puts it in the table, and endWriting marks it as one the drain
	// waits for. A reconnection of a connect endpoint is marked when the
	// monitor reports it.
	s.draining.Store(true)
	s.syncMonitor()
	if s.c.endWriting() == 0 {
		return s.stopTakingIn(ctx)
	}
	return nil
}

// connectionsEnded tells a draining socket whether it may stop: every
// connection the drain waits for has ended, or the drain has lasted
// quiesceDrainTimeout. Called with mu held.
func (s *sock) connectionsEnded() bool {
	if time.Now().After(s.drainUntil) {
		return true
	}
	s.syncMonitor()
	return s.c.draining() == 0
}

// stopTakingIn unbinds every bound endpoint (which ends the connections
// accepted there) and disconnects every connected one, then waits until
// libzmq has closed the listeners. What libzmq already holds for the
// socket stays readable (whatever the linger: the socket's end of each
// queue is kept until it is read); Recv returns it, then ErrDrained once
// a read without waiting finds nothing. Called with mu held.
func (s *sock) stopTakingIn(ctx context.Context) error {
	s.closedM.Lock()
	s.endsSeen = map[string]bool{}
	s.closedM.Unlock()
	var errs []error
	var unbound []string
	for _, ep := range s.bound {
		if err := s.zs.Unbind(ep); err != nil {
			errs = append(errs, fmt.Errorf("unbind %s: %w", ep, err))
			continue
		}
		if strings.HasPrefix(ep, "tcp://") || strings.HasPrefix(ep, "ipc://") {
			unbound = append(unbound, ep)
		}
	}
	for _, ep := range s.cfg.Connect {
		if err := s.zs.Disconnect(ep); err != nil {
			errs = append(errs, fmt.Errorf("disconnect %s: %w", ep, err))
		}
	}
	s.quiesced = true
	// libzmq closes the listeners in its I/O thread: wait for that, so
	// that the endpoints are free once the socket is drained.
	if err := s.waitClosed(ctx, unbound); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("quiesce: %w", err)
	}
	return nil
}

// quiesceCloseWait bounds the wait for libzmq to close unbound listeners.
const quiesceCloseWait = 5 * time.Second

// waitClosed waits until libzmq has reported every endpoint in eps
// closed, looking at its monitor events every quiescePollMs.
func (s *sock) waitClosed(ctx context.Context, eps []string) error {
	timeout := time.NewTimer(quiesceCloseWait)
	defer timeout.Stop()
	tick := time.NewTicker(quiescePollMs * time.Millisecond)
	defer tick.Stop()
	for {
		s.syncMonitor()
		s.closedM.Lock()
		left := 0
		for _, ep := range eps {
			if !s.endsSeen[ep] {
				left++
			}
		}
		s.closedM.Unlock()
		if left == 0 {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("wait for the listeners to close: %w", ctx.Err())
		case <-timeout.C:
			return fmt.Errorf("libzmq did not report %d unbound endpoints closed within %s", left, quiesceCloseWait)
		}
	}
}

// closeSocket closes the libzmq socket; libzmq keeps sending what is queued
// for linger_ms in the background. Waiting receives and sends return
// ErrClosed.
func (s *sock) closeSocket() error {
	s.acquire()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.zs.Close(); err != nil {
		return fmt.Errorf("close %s %q: %w", s.kind, s.id, err)
	}
	return nil
}

// release waits until libzmq has let go of the closed socket (the monitor
// reports that once the linger is over), then frees the C state.
func (s *sock) release() {
	if s.mon != nil {
		<-s.mon.done
	}
	if s.watchStop != nil {
		close(s.watchStop)
		<-s.watchDone
	}
	s.c.free()
}

// close is closeSocket and release.
func (s *sock) close() error {
	err := s.closeSocket()
	s.release()
	return err
}
