package puresock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zpipe/zpipe/core/ratelog"
)

// Bounds of the messages an XPUB socket holds for an application that
// does not read them (its peers' subscriptions); beyond them they are
// counted in Counters.SubscriptionLost (the subscriptions still take
// effect).
const (
	maxPending      = 1 << 18
	maxPendingBytes = 64 << 20
)

// subscriptionBacklog bounds, in messages, the subscription messages an
// XSUB queues to one peer. They are not held back by SendHWM (a peer must
// learn every subscription, and a burst of them is normal when a node
// joins), only by this and by SendHWMBytes.
const subscriptionBacklog = 1 << 20

// Writer batch bounds: how much a connection's writer takes from its
// pipe at once.
const (
	writeBatchMessages = 256
	writeBatchBytes    = 256 << 10
	// readBatchMessages and readBatchBytes bound the messages a
	// connection's reader parses before handing them to the socket.
	readBatchMessages = 64
	readBatchBytes    = 256 << 10
)

// drainTimeout bounds how long a quiesced socket waits for its peers to
// close their side after it closed its own.
const drainTimeout = 5 * time.Second

// logInterval is how often a recurring warning (failed connects to one
// endpoint, failed handshakes, oversize messages) is logged at most.
const logInterval = ratelog.DefaultInterval

// Socket is a ZeroMQ socket speaking ZMTP 3 over tcp:// and ipc://. All
// its methods are safe for concurrent use.
//
// Every peer connection has a pipe: a queue towards the peer bounded by
// SendHWM and SendHWMBytes and a queue from the peer bounded by RecvHWM
// and RecvHWMBytes, as in libzmq. A connection has a reader and a writer
// goroutine; a bound endpoint has an accepting goroutine, a connect
// endpoint a dialing one that reconnects until the socket is closed or
// quiesced. Close ends them all (after the linger) and Done reports it.
type Socket struct {
	typ  Type
	opts Options
	log  *slog.Logger
	// verboseSubs and verboseUnsubs are libzmq's XPUB flags, set by
	// XPubVerbose and XPubVerboser.
	verboseSubs, verboseUnsubs bool

	ctx       context.Context // ends at the hard stop, after the linger
	cancel    context.CancelFunc
	dialCtx   context.Context // ends at the hard stop or at Quiesce
	stopDial  context.CancelFunc
	wg        sync.WaitGroup // every goroutine of the socket
	closeOnce sync.Once
	closing   chan struct{} // closed by Close
	done      chan struct{} // closed when every goroutine has ended

	readable chan struct{} // a message may be ready for TryRecv
	writable chan struct{} // a refused message may be taken now
	drained  chan struct{} // while closing: a pipe's queue emptied

	peers    atomic.Int64
	counters counters

	handshakeLog *ratelog.Limiter
	oversizeLog  *ratelog.Limiter

	mu         sync.Mutex
	closed     bool
	quiesced   bool
	drainTimer *time.Timer // hard-closes what a quiesced socket still reads
	serving    int         // connections past their handshake
	pipes      []*pipe     // attached pipes, in attach order
	lbNext     int         // PUSH: the pipe to try first
	active     []*pipe     // pipes with received messages (fair queue)
	fqNext     int
	conns      map[net.Conn]struct{} // open connections, handshaking ones included
	listeners  []net.Listener
	tempDirs   []string
	index      pipeIndex   // XPUB: subscriptions of the peers
	pending    msgQueue    // XPUB: messages for the application
	own        refSet      // XSUB: subscriptions sent by the application
	departed   []PeerStats // XPUB: peers that left with losses, oldest first
	notes      []note      // log lines to write once mu is released
	matchGen   uint64
	matched    []*pipe
}

// counters are a socket's loss and event counts; see Counters.
type counters struct {
	stalledPeer                      atomic.Uint64
	subscriptionLost, lost           atomic.Uint64
	oversize                         atomic.Uint64
	connectFailed, handshakeFailed   atomic.Uint64
	peerStalled, peerStallDisconnect atomic.Uint64
}

// Counters are a socket's cumulative counts of losses and connection
// events.
type Counters struct {
	// StalledPeer counts messages that at least one stalled subscriber
	// missed while others got them, once per message. (A message that
	// every subscriber it matched missed is reported to the sender
	// instead: see TrySendMany.)
	StalledPeer uint64
	// SubscriptionLost counts subscription messages an XSUB could not
	// queue to a peer, and messages from an XPUB's peers (subscriptions)
	// beyond what it holds for an application that does not read them.
	SubscriptionLost uint64
	// Lost counts other messages an XSUB could not queue to a full peer.
	Lost uint64
	// Oversize counts messages over MaxMessageBytes or MaxMessageFrames;
	// each one's peer was disconnected.
	Oversize uint64
	// ConnectFailed counts connection attempts to connect endpoints that
	// failed; HandshakeFailed counts connections whose ZMTP handshake
	// failed.
	ConnectFailed, HandshakeFailed uint64
	// PeerStalled counts the stall episodes of XPUB subscribers;
	// PeerStallDisconnect the subscribers disconnected after
	// StallDisconnect.
	PeerStalled, PeerStallDisconnect uint64
}

// Counters returns the socket's loss and event counts.
func (s *Socket) Counters() Counters {
	c := &s.counters
	return Counters{
		StalledPeer:         c.stalledPeer.Load(),
		SubscriptionLost:    c.subscriptionLost.Load(),
		Lost:                c.lost.Load(),
		Oversize:            c.oversize.Load(),
		ConnectFailed:       c.connectFailed.Load(),
		HandshakeFailed:     c.handshakeFailed.Load(),
		PeerStalled:         c.peerStalled.Load(),
		PeerStallDisconnect: c.peerStallDisconnect.Load(),
	}
}

// note is a log line decided under the socket's mutex and written after
// it is released.
type note struct {
	level slog.Level
	msg   string
	args  []any
}

// noteLocked queues a log line; the caller writes it with emit once the
// mutex is released.
func (s *Socket) noteLocked(level slog.Level, msg string, args ...any) {
	s.notes = append(s.notes, note{level: level, msg: msg, args: args})
}

// unlock releases the mutex and writes the log lines queued under it.
func (s *Socket) unlock() {
	notes := s.notes
	s.notes = nil
	s.mu.Unlock()
	for _, n := range notes {
		s.log.Log(context.Background(), n.level, n.msg, n.args...)
	}
}

// New returns a socket of type typ with no endpoints.
func New(typ Type, opts Options) (*Socket, error) {
	if typ.zmtp() == "" {
		return nil, fmt.Errorf("new socket: unknown type %d", int(typ))
	}
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("new %s socket: %w", typ, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("socket", typ.String())
	ctx, cancel := context.WithCancel(context.Background())
	dialCtx, stopDial := context.WithCancel(ctx)
	return &Socket{
		typ:           typ,
		opts:          opts,
		log:           log,
		verboseSubs:   opts.XPubVerbose || opts.XPubVerboser,
		verboseUnsubs: opts.XPubVerboser,
		ctx:           ctx,
		cancel:        cancel,
		dialCtx:       dialCtx,
		stopDial:      stopDial,
		closing:       make(chan struct{}),
		done:          make(chan struct{}),
		readable:      make(chan struct{}, 1),
		writable:      make(chan struct{}, 1),
		drained:       make(chan struct{}, 1),
		conns:         map[net.Conn]struct{}{},
		handshakeLog:  ratelog.New(log, logInterval),
		oversizeLog:   ratelog.New(log, logInterval),
	}, nil
}

// Type returns the socket's type.
func (s *Socket) Type() Type { return s.typ }

// signal leaves a wake-up in a one-slot channel without waiting.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Bind listens on endpoint (tcp://host:port, tcp://*:port, tcp://[v6]:port,
// ipc://path, ipc://*; port * or 0 picks a free one) and returns it as
// bound.
func (s *Socket) Bind(endpoint string) (string, error) {
	e, err := parseEndpoint(endpoint, true, s.opts.IPv6)
	if err != nil {
		return "", fmt.Errorf("bind: %w", err)
	}
	if s.isClosed() {
		return "", fmt.Errorf("bind %s: %w", endpoint, ErrClosed)
	}
	ln, bound, tempDir, err := e.listen(s.ctx, &s.opts)
	if err != nil {
		return "", fmt.Errorf("bind %s: %w", endpoint, err)
	}
	s.mu.Lock()
	if s.closed || s.quiesced {
		s.mu.Unlock()
		_ = ln.Close()
		if tempDir != "" {
			_ = os.RemoveAll(tempDir)
		}
		return "", fmt.Errorf("bind %s: %w", endpoint, ErrClosed)
	}
	s.listeners = append(s.listeners, ln)
	if tempDir != "" {
		s.tempDirs = append(s.tempDirs, tempDir)
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.acceptLoop(ln, bound)
	return bound, nil
}

// Connect starts connecting to endpoint, and reconnecting whenever the
// connection ends, until the socket is closed or quiesced. It returns at
// once; failed attempts are counted (Counters.ConnectFailed) and logged.
func (s *Socket) Connect(endpoint string) error {
	e, err := parseEndpoint(endpoint, false, s.opts.IPv6)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.quiesced {
		return fmt.Errorf("connect %s: %w", endpoint, ErrClosed)
	}
	var p *pipe
	if !s.opts.Immediate {
		p = newPipe(true)
		p.addr = endpoint
		s.attachLocked(p)
	}
	s.wg.Add(1)
	go s.dialLoop(e, p)
	return nil
}

func (s *Socket) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Peers returns the number of connected peers (completed handshakes).
func (s *Socket) Peers() int { return int(s.peers.Load()) }

// Queued returns the number of messages waiting in the socket's pipes, in
// both directions (outgoing ones taken by a connection's writer and not
// written yet included).
func (s *Socket) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.pending.len()
	for _, p := range s.pipes {
		n += p.out.len() + p.inFlight + p.in.len()
	}
	for _, p := range s.active {
		if !p.attached {
			n += p.in.len()
		}
	}
	return n
}

// Readable returns a channel that receives a value when a message may
// have become ready for TryRecv. It is meant for the socket's one reader.
func (s *Socket) Readable() <-chan struct{} { return s.readable }

// Writable returns a channel that receives a value when a message
// refused with ErrWouldBlock may be taken now. It is meant for the
// socket's one sender.
func (s *Socket) Writable() <-chan struct{} { return s.writable }

// Closing returns a channel that is closed when Close is called.
func (s *Socket) Closing() <-chan struct{} { return s.closing }

// Done returns a channel that is closed once the socket has let go of
// everything after Close: the linger is over, every connection is closed
// and every goroutine has ended.
func (s *Socket) Done() <-chan struct{} { return s.done }

// Close closes the socket. Calls waiting in Send or Recv return
// ErrClosed. Queued outgoing messages are still written for up to the
// linger; Done tells when that is over. Close itself does not wait.
func (s *Socket) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		listeners := s.listeners
		s.listeners = nil
		s.mu.Unlock()
		close(s.closing)
		for _, ln := range listeners {
			_ = ln.Close()
		}
		s.wg.Add(1)
		go s.linger()
		go func() {
			s.wg.Wait()
			for _, d := range s.tempDirs {
				_ = os.RemoveAll(d)
			}
			close(s.done)
		}()
	})
	return nil
}

// linger waits until every pipe has written its queue, or the linger
// time is over, then stops everything.
func (s *Socket) linger() {
	defer s.wg.Done()
	defer s.hardStop()
	if s.opts.Linger == 0 {
		return
	}
	var timeout <-chan time.Time
	if s.opts.Linger > 0 {
		t := time.NewTimer(s.opts.Linger)
		defer t.Stop()
		timeout = t.C
	}
	for {
		s.mu.Lock()
		done := s.drainedLocked()
		s.mu.Unlock()
		if done {
			return
		}
		select {
		case <-s.drained:
		case <-timeout:
			return
		}
	}
}

func (s *Socket) drainedLocked() bool {
	for _, p := range s.pipes {
		if p.out.len() > 0 || p.busy {
			return false
		}
	}
	return true
}

func (s *Socket) hardStop() {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for nc := range s.conns {
		_ = nc.Close()
	}
	for _, p := range s.pipes {
		p.stopStallTimer()
	}
	if s.drainTimer != nil {
		s.drainTimer.Stop()
	}
}

// track registers a connection so that the hard stop closes it; false
// means the socket is stopped or quiesced and takes no new connection.
func (s *Socket) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil || s.quiesced {
		return false
	}
	s.conns[nc] = struct{}{}
	return true
}

func (s *Socket) untrack(nc net.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	if s.quiesced && len(s.conns) == 0 {
		signal(s.readable) // a waiting reader may find the socket drained
	}
	s.mu.Unlock()
	_ = nc.Close()
}

// acceptLoop accepts connections on a bound endpoint until it is closed.
func (s *Socket) acceptLoop(ln net.Listener, local string) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: try again shortly.
			s.log.Debug("accept failed", "endpoint", local, "err", err)
			t := time.NewTimer(s.opts.ReconnectInterval)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		if !s.track(nc) {
			_ = nc.Close()
			continue
		}
		s.wg.Add(1)
		go s.serveAccepted(nc, local)
	}
}

// serveAccepted runs one accepted connection: handshake, a pipe for its
// lifetime, the reader and the writer.
func (s *Socket) serveAccepted(nc net.Conn, local string) {
	defer s.wg.Done()
	defer s.untrack(nc)
	peer := peerAddress(nc, local)
	fr, err := s.handshake(nc)
	if err != nil {
		s.handshakeFailed(local, peer, err)
		return
	}
	p := newPipe(false)
	s.mu.Lock()
	if s.closed || s.quiesced {
		s.mu.Unlock()
		return
	}
	s.attachLocked(p)
	s.mu.Unlock()
	s.runConn(p, nc, fr, local, peer)
	s.terminate(p)
}

// handshakeFailed counts and logs a failed handshake, unless the socket
// itself ended it by stopping.
func (s *Socket) handshakeFailed(endpoint, peer string, err error) {
	s.mu.Lock()
	stopping := s.ctx.Err() != nil || s.quiesced
	s.mu.Unlock()
	if stopping {
		return
	}
	s.counters.handshakeFailed.Add(1)
	s.handshakeLog.Warn("ZMTP handshake failed", "endpoint", endpoint, "peer", peer, "err", err)
}

// dialLoop connects to a connect endpoint and reconnects, with backoff,
// until the hard stop or Quiesce. p is the endpoint's pipe that outlives
// its connections, or nil with Immediate (each connection gets its own).
// Failed attempts are counted and logged, at most once per logInterval.
func (s *Socket) dialLoop(e endpoint, p *pipe) {
	defer s.wg.Done()
	failures := ratelog.New(s.log, logInterval)
	wait := s.opts.ReconnectInterval
	for {
		connected, err := s.dialOnce(e, p)
		if s.dialCtx.Err() != nil {
			return
		}
		if !connected {
			s.counters.connectFailed.Add(1)
			failures.Warn("connect failed; retrying", "endpoint", e.raw, "retry_in", wait.String(), "err", err)
		} else {
			wait = s.opts.ReconnectInterval
		}
		t := time.NewTimer(wait)
		select {
		case <-s.dialCtx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if !connected {
			wait = min(2*wait, s.opts.ReconnectIntervalMax)
		}
	}
}

// dialOnce makes one connection and serves it until it ends. connected
// reports whether a connection came about (a handshake that failed on it
// is counted and logged here); err says why not.
func (s *Socket) dialOnce(e endpoint, p *pipe) (connected bool, err error) {
	nc, err := e.dial(s.dialCtx, &s.opts)
	if err != nil {
		return false, err
	}
	if !s.track(nc) {
		_ = nc.Close()
		return true, nil
	}
	defer s.untrack(nc)
	peer := peerAddress(nc, e.raw)
	fr, err := s.handshake(nc)
	if err != nil {
		s.handshakeFailed(e.raw, peer, err)
		return true, nil
	}
	own := p == nil
	if own {
		p = newPipe(false)
		s.mu.Lock()
		if s.closed || s.quiesced {
			s.mu.Unlock()
			return true, nil
		}
		s.attachLocked(p)
		s.mu.Unlock()
	}
	s.runConn(p, nc, fr, e.raw, peer)
	if own {
		s.terminate(p)
	}
	return true, nil
}

// peerAddress names the remote end of nc: host:port for tcp; for ipc,
// which has no remote address, the socket path and the peer's process id
// when the system tells it.
func peerAddress(nc net.Conn, endpoint string) string {
	if _, ok := nc.(*net.UnixConn); !ok {
		return nc.RemoteAddr().String()
	}
	path := endpoint
	if e, err := parseEndpoint(endpoint, true, false); err == nil && e.addr != "" {
		path = e.addr
	}
	if pid, ok := peerPID(nc); ok {
		return fmt.Sprintf("%s (pid %d)", path, pid)
	}
	return path
}

func (s *Socket) handshake(nc net.Conn) (*frameReader, error) {
	if _, err := handshake(nc, s.typ, s.opts.HandshakeTimeout); err != nil {
		return nil, err
	}
	return newFrameReader(nc, s.opts.MaxMessageBytes, s.opts.MaxMessageFrames), nil
}

// attachLocked makes p a destination of the socket's messages. An XSUB
// sends the new pipe every subscription it holds.
func (s *Socket) attachLocked(p *pipe) {
	p.attached = true
	s.pipes = append(s.pipes, p)
	if s.typ == XSub {
		s.replayLocked(p)
	}
	signal(s.writable)
}

// replayLocked queues one subscribe message per held prefix to p. The
// replay is not bounded by SendHWM: a peer must learn every subscription.
func (s *Socket) replayLocked(p *pipe) {
	for _, prefix := range s.own.prefixes() {
		s.pushLocked(p, [][]byte{append([]byte{1}, prefix...)}, 1+len(prefix))
	}
}

// terminate detaches p after its connection ended: its queued messages
// are dropped, and an XPUB forgets its subscriptions (reporting
// unsubscriptions as libzmq does) and keeps its counters among the
// departed peers if it lost messages. Messages received from it stay
// readable.
func (s *Socket) terminate(p *pipe) {
	s.mu.Lock()
	defer s.unlock()
	if !p.attached {
		return
	}
	p.attached = false
	i := slices.Index(s.pipes, p)
	s.pipes = slices.Delete(s.pipes, i, i+1)
	if s.lbNext > i {
		s.lbNext--
	}
	if s.lbNext >= len(s.pipes) {
		s.lbNext = 0
	}
	p.out.clear()
	if s.typ == XPub {
		if p.stalled {
			s.endStallLocked(p, "subscriber left while stalled")
		}
		if p.missed > 0 {
			s.departLocked(p)
		}
		s.index.rmPipe(p, func(prefix string, last bool) {
			if last || s.verboseUnsubs {
				s.queuePendingLocked([][]byte{append([]byte{0}, prefix...)})
			}
		})
	}
	signal(s.writable)
	if s.closed {
		signal(s.drained)
	}
}

// pushLocked queues m, of size payload bytes, to p and wakes its writer
// when the queue was empty.
func (s *Socket) pushLocked(p *pipe, m [][]byte, size int) {
	p.out.push(m, size)
	if p.out.len() == 1 {
		signal(p.hasOut)
	}
}

// fullLocked reports whether p holds SendHWM messages or SendHWMBytes
// bytes for its peer: queued, or taken by its writer and not written yet.
func (s *Socket) fullLocked(p *pipe) bool {
	o := &s.opts
	return o.SendHWM > 0 && p.out.len()+p.inFlight >= o.SendHWM ||
		o.SendHWMBytes > 0 && p.out.size()+p.inFlightBytes >= o.SendHWMBytes
}

// queuePendingLocked queues a message for an XPUB's application.
func (s *Socket) queuePendingLocked(m [][]byte) {
	if s.pending.len() >= maxPending || s.pending.size() >= maxPendingBytes {
		s.counters.subscriptionLost.Add(1)
		return
	}
	s.pending.push(m, msgSize(m))
	signal(s.readable)
}
