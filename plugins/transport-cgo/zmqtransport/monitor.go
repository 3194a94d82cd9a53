package zmqtransport

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/ratelog"
)

// monitorEvents are the libzmq monitor events a socket's monitor reads.
const monitorEvents = zmq.EVENT_CONNECTED | zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED |
	zmq.EVENT_CONNECT_RETRIED | zmq.EVENT_CLOSED | zmq.EVENT_HANDSHAKE_SUCCEEDED |
	zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL |
	zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_MONITOR_STOPPED

// monitor reads the libzmq monitor events of one socket and keeps what
// they tell: the connected-peer count and the C side's peer table (by
// connection descriptor, the events' value), failed connects, handshakes
// and authentications, and the log lines about them.
//
// Events are handled in the order libzmq emitted them, by the monitor's
// goroutine as they arrive and by sync, which handles every event libzmq
// has emitted before it was called. Whoever acts on the bookkeeping (a
// drain deciding that every connection has ended, Stats listing the
// peers) calls sync first, so that what it sees never depends on the
// goroutine having caught up: libzmq emits a connection's ACCEPTED or
// CONNECTED event before any message from it can be read, and its
// DISCONNECTED event before the connection's end can be observed through
// the socket (an xpub's unsubscriptions for the peer that left, say).
type monitor struct {
	s    *sock
	zs   *zmq.Socket    // the PAIR reading the events
	h    unsafe.Pointer // zs's raw handle, polled in C
	wake *wakePipe
	done chan struct{} // closed when the goroutine has ended
	hold chan struct{} // tests: the goroutine waits until it is closed

	pending atomic.Int32 // callers of sync waiting for mu
	mu      sync.Mutex   // zs and everything below
	stopped bool         // the events ended; zs is closed
	// reconnecting: endpoints whose connection just ended: their next
	// retry is a reconnect, not a failed connect.
	reconnecting map[string]bool
	// handshaking: connections whose handshake has not ended, oldest
	// first. libzmq reports the end of a handshake without the
	// descriptor, so the oldest is taken; a connection that goes while
	// still listed failed its handshake without a reason reported (a peer
	// of an incompatible socket type). The count is right even when a
	// name is not.
	handshaking []int
	connectLog  map[string]*ratelog.Limiter // failed connects, by endpoint
}

// startMonitor starts the socket's monitor on inproc endpoint addr and the
// watcher (see watch). A non-nil hold holds the monitor goroutine back
// until it is closed (tests).
func (s *sock) startMonitor(addr string, hold chan struct{}) error {
	if err := s.zs.Monitor(addr, monitorEvents); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	zs, err := s.zc.ctx.NewSocket(zmq.PAIR)
	if err != nil {
		return fmt.Errorf("monitor socket: %w", err)
	}
	m := &monitor{s: s, zs: zs, done: make(chan struct{}), hold: hold,
		reconnecting: map[string]bool{}, connectLog: map[string]*ratelog.Limiter{}}
	fail := func(err error) error {
		zs.Close()
		if m.wake != nil {
			m.wake.close()
		}
		return fmt.Errorf("monitor socket: %w", err)
	}
	// The events must never be dropped: no receive high-water mark.
	if err := zs.SetRcvhwm(0); err != nil {
		return fail(err)
	}
	if err := zs.Connect(addr); err != nil {
		return fail(fmt.Errorf("connect %s: %w", addr, err))
	}
	if m.h, err = resolveHandle(socketHandle, zs); err != nil {
		return fail(err)
	}
	if m.wake, err = newWakePipe(); err != nil {
		return fail(err)
	}
	s.mon = m
	go m.run()
	s.watchStop, s.watchDone = make(chan struct{}), make(chan struct{})
	go s.watch()
	return nil
}

// run handles events as they arrive until libzmq reports the monitor
// stopped, which it does once the socket is gone (after its linger).
func (m *monitor) run() {
	defer close(m.done)
	defer m.wake.close()
	if m.hold != nil {
		<-m.hold
	}
	for {
		// A caller of sync is waiting: let it have mu first.
		for m.pending.Load() > 0 {
			runtime.Gosched()
		}
		m.mu.Lock()
		m.drainLocked()
		if !m.stopped {
			if err := pollWake(m.h, m.wake, -1); err != nil {
				m.s.log.Error("socket monitor failed", "socket", m.s.id, "err", err)
				m.stopLocked()
			}
		}
		stopped := m.stopped
		m.mu.Unlock()
		if stopped {
			return
		}
	}
}

// sync handles every event libzmq has emitted so far.
func (m *monitor) sync() {
	m.pending.Add(1)
	m.wake.wake()
	m.mu.Lock()
	m.pending.Add(-1)
	defer m.mu.Unlock()
	m.drainLocked()
}

// drainLocked handles the events waiting, without waiting for more.
func (m *monitor) drainLocked() {
	for !m.stopped {
		ev, addr, value, err := m.zs.RecvEvent(zmq.DONTWAIT)
		if err != nil {
			switch zmq.AsErrno(err) {
			case zmq.Errno(syscall.EAGAIN):
				return
			case zmq.Errno(syscall.EINTR):
				continue
			}
			m.s.log.Debug("socket monitor ended", "socket", m.s.id, "err", err)
			m.stopLocked()
			return
		}
		m.handle(ev, addr, value)
	}
}

func (m *monitor) stopLocked() {
	m.stopped = true
	m.zs.Close()
}

// handle handles one event; mu held.
func (m *monitor) handle(ev zmq.Event, addr string, value int) {
	s := m.s
	handshakeEnded := func() {
		if len(m.handshaking) > 0 {
			m.handshaking = m.handshaking[1:]
		}
	}
	// While a source drains, the handshakes it ends (the writing side of
	// each connection is shut down) or refuses (new peers) are not peers'
	// failures.
	draining := s.draining.Load()
	switch ev {
	case zmq.EVENT_CONNECTED, zmq.EVENT_ACCEPTED:
		// The table first: a caller that sees the count sees the peer.
		s.c.addPeer(value)
		s.c.addPeers(1)
		m.handshaking = append(m.handshaking, value)
		if ev == zmq.EVENT_CONNECTED {
			delete(m.reconnecting, addr)
			if draining {
				// A reconnection during the drain: its peer may send
				// before it sees the end, so the drain waits for it. (A
				// peer accepted now is refused by the ZAP handler before
				// it can send anything.)
				s.c.endWritingPeer(value)
			}
		}
		s.log.Debug("peer connected", "socket", s.id, "kind", s.kind, "endpoint", addr, "fd", value)
	case zmq.EVENT_DISCONNECTED:
		s.c.addPeers(-1)
		if i := slices.Index(m.handshaking, value); i >= 0 {
			m.handshaking = slices.Delete(m.handshaking, i, i+1)
			if !draining {
				s.c.addEvent(evHandshakeFailed)
				s.limits.handshake.Warn("peer handshake failed: the peer left during it (an incompatible socket type?)",
					"socket", s.id, "kind", s.kind, "endpoint", addr)
			}
		}
		p, known := s.c.removePeer(value)
		if known && p.Dropped > 0 {
			s.addDeparted(p)
		}
		if slices.Contains(s.cfgConnect(), addr) {
			m.reconnecting[addr] = true
		}
		s.log.Debug("peer disconnected", "socket", s.id, "kind", s.kind, "endpoint", addr, "peer", p.Address, "node_id", p.NodeID)
	case zmq.EVENT_CONNECT_RETRIED:
		if m.reconnecting[addr] {
			delete(m.reconnecting, addr)
			return
		}
		s.c.addEvent(evConnectFailed)
		l, ok := m.connectLog[addr]
		if !ok {
			l = ratelog.New(s.log, ratelog.DefaultInterval)
			m.connectLog[addr] = l
		}
		l.Warn("connect failed; retrying", "socket", s.id, "kind", s.kind, "endpoint", addr,
			"retry_in_ms", value, "hint", "refused, unreachable or an unresolvable host")
	case zmq.EVENT_HANDSHAKE_SUCCEEDED:
		handshakeEnded()
	case zmq.EVENT_HANDSHAKE_FAILED_AUTH:
		handshakeEnded()
		if draining {
			return
		}
		s.c.addEvent(evAuthFailed)
		if !s.allowList { // the ZAP handler logs its refusals itself
			s.limits.auth.Warn("peer refused by authentication", "socket", s.id, "kind", s.kind, "endpoint", addr, "status", value)
		}
	case zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
		handshakeEnded()
		if draining {
			return
		}
		s.c.addEvent(evHandshakeFailed)
		s.limits.handshake.Warn("peer handshake failed", "socket", s.id, "kind", s.kind, "endpoint", addr,
			"event", ev.String(), "value", value)
	case zmq.EVENT_CLOSED:
		s.closedM.Lock()
		if s.endsSeen != nil {
			s.endsSeen[addr] = true
		}
		s.closedM.Unlock()
	case zmq.EVENT_MONITOR_STOPPED:
		m.stopLocked()
	}
}
