package puresock

import (
	"context"
	"errors"
	"net"
	"time"
)

// TrySend queues msg without waiting, or returns ErrWouldBlock when the
// socket cannot take it now:
//
//   - XPUB: msg goes to every peer subscribed to a prefix of frame 0 that
//     has room. A stalled subscriber misses it without a wait (see
//     PublishStalling). Of the others, with XPubNoDrop msg is refused as a
//     whole when the queue of one of them is full; without, that one
//     stalls and misses it. A message no peer subscribed to is taken and
//     goes nowhere.
//   - PUSH: msg goes to one peer, round-robin over the peers whose queue
//     has room; refused when there is none.
//   - XSUB: a single frame 0x01 prefix subscribes, 0x00 prefix
//     unsubscribes (passed on when its reference count drops to zero);
//     subscriptions and any other message go to every peer, lossy like an
//     XPUB without XPubNoDrop (counted in Counters.SubscriptionLost and
//     Counters.Lost); subscriptions are not held back by SendHWM, only by
//     SendHWMBytes and a backlog of subscriptionBacklog messages.
//
// The socket keeps msg and its frames until they are written: the caller
// must not change them afterwards.
func (s *Socket) TrySend(msg [][]byte) error {
	if len(msg) == 0 {
		return ErrEmptyMessage
	}
	if !s.typ.sends() {
		return ErrNotSupported
	}
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return ErrClosed
	}
	_, err := s.sendLocked(msg, time.Now())
	return err
}

// TrySendMany queues msgs in order until one is refused. It returns how
// many were queued and, when that is fewer than len(msgs), the error that
// refused the next one. On an XPUB, unreached (if not nil) is called with
// the index of every message taken that no subscriber got because every
// one it matched was stalled; it runs with the socket locked and must not
// call the socket.
func (s *Socket) TrySendMany(msgs [][][]byte, unreached func(i int)) (int, error) {
	if !s.typ.sends() {
		return 0, ErrNotSupported
	}
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return 0, ErrClosed
	}
	now := time.Now()
	for i, m := range msgs {
		if len(m) == 0 {
			return i, ErrEmptyMessage
		}
		reached, err := s.sendLocked(m, now)
		if err != nil {
			return i, err
		}
		if !reached && unreached != nil {
			unreached(i)
		}
	}
	return len(msgs), nil
}

// PublishStalling queues msg on an XPUB for every subscriber with room;
// every matching subscriber whose queue is full stalls instead and misses
// it (as do the ones stalled already). It is what a sender does with a
// message TrySend refused once it gave up waiting: the subscribers with
// room get it, and the full ones cost no further wait until they have
// drained their queue to half its bounds. reached is false when every
// subscriber msg matched missed it.
func (s *Socket) PublishStalling(msg [][]byte) (reached bool, err error) {
	if len(msg) == 0 {
		return false, ErrEmptyMessage
	}
	if s.typ != XPub {
		return false, ErrNotSupported
	}
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return false, ErrClosed
	}
	return s.publishLocked(msg, true, time.Now())
}

// Send queues msg, waiting for room until ctx ends (returning ctx's
// error) or the socket is closed.
func (s *Socket) Send(ctx context.Context, msg [][]byte) error {
	for {
		err := s.TrySend(msg)
		if !errors.Is(err, ErrWouldBlock) {
			return err
		}
		select {
		case <-s.writable:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return ErrClosed
		}
	}
}

// sendLocked queues msg; reached is false for an XPUB message that every
// subscriber it matched missed.
func (s *Socket) sendLocked(msg [][]byte, now time.Time) (reached bool, err error) {
	switch s.typ {
	case XPub:
		return s.publishLocked(msg, false, now)
	case Push:
		return true, s.balanceLocked(msg)
	default:
		return true, s.subscribeLocked(msg)
	}
}

// publishLocked sends msg to the XPUB's matching subscribers. force
// stalls full subscribers instead of refusing msg (XPubNoDrop). reached
// is false when every subscriber msg matched missed it.
func (s *Socket) publishLocked(msg [][]byte, force bool, now time.Time) (reached bool, err error) {
	s.matchGen++
	gen := s.matchGen
	matched := s.matched[:0]
	s.index.match(msg[0], func(p *pipe) {
		if p.gen != gen {
			p.gen = gen
			matched = append(matched, p)
		}
	})
	defer func() {
		clear(matched)
		s.matched = matched[:0]
	}()
	if s.opts.XPubNoDrop && !force {
		for _, p := range matched {
			if !p.stalled && s.fullLocked(p) {
				p.wantRoom = true
				return false, ErrWouldBlock
			}
		}
	}
	got, missed, size := 0, 0, msgSize(msg)
	for _, p := range matched {
		if p.stalled && s.lowWaterLocked(p) {
			s.endStallLocked(p, "subscriber recovered")
		}
		if !p.stalled && s.fullLocked(p) {
			s.stallLocked(p, now)
		}
		if p.stalled {
			p.missLocked()
			missed++
			continue
		}
		s.pushLocked(p, msg, size)
		got++
	}
	if missed > 0 && got > 0 {
		s.counters.stalledPeer.Add(1)
	}
	return missed == 0 || got > 0, nil
}

func (s *Socket) balanceLocked(msg [][]byte) error {
	n := len(s.pipes)
	for i := range n {
		k := (s.lbNext + i) % n
		if p := s.pipes[k]; !s.fullLocked(p) {
			s.pushLocked(p, msg, msgSize(msg))
			s.lbNext = (k + 1) % n
			return nil
		}
	}
	for _, p := range s.pipes {
		p.wantRoom = true
	}
	return ErrWouldBlock
}

func (s *Socket) subscribeLocked(msg [][]byte) error {
	isSub := false
	if f := msg[0]; len(msg) == 1 && len(f) > 0 && f[0] <= 1 {
		isSub = true
		if f[0] == 1 {
			s.own.add(f[1:])
		} else if !s.own.rm(f[1:]) {
			return nil
		}
	}
	size := msgSize(msg)
	for _, p := range s.pipes {
		full := s.fullLocked(p)
		if isSub {
			full = p.out.len()+p.inFlight >= subscriptionBacklog ||
				s.opts.SendHWMBytes > 0 && p.out.size()+p.inFlightBytes >= s.opts.SendHWMBytes
		}
		switch {
		case !full:
			s.pushLocked(p, msg, size)
		case isSub:
			s.counters.subscriptionLost.Add(1)
		default:
			s.counters.lost.Add(1)
		}
	}
	return nil
}

// TryRecv passes ready messages to fn, oldest first, without waiting, and
// returns how many fn took. fn returns false to leave a message in the
// socket; it is then the first one passed next time. fn runs with the
// socket locked and must not call the socket.
//
// XSUB and PULL sockets fair-queue: one message per peer in turn. An XPUB
// passes its peers' subscription messages (and any other message they
// send) as single-frame messages.
func (s *Socket) TryRecv(max int, fn func(msg [][]byte) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0
	}
	n := 0
	if s.typ == XPub {
		for n < max && s.pending.len() > 0 && fn(s.pending.peek()) {
			s.pending.pop()
			n++
		}
		return n
	}
	hwm, hwmBytes := s.opts.RecvHWM, s.opts.RecvHWMBytes
	for n < max && len(s.active) > 0 {
		if s.fqNext >= len(s.active) {
			s.fqNext = 0
		}
		p := s.active[s.fqNext]
		if !fn(p.in.peek()) {
			break
		}
		p.in.pop()
		n++
		// Wake a waiting reader once the queue is down to half its bounds,
		// so it hands over messages in batches.
		if p.readerWaits && (hwm == 0 || p.in.len() <= hwm/2) && (hwmBytes == 0 || p.in.size() <= hwmBytes/2) {
			p.readerWaits = false
			signal(p.inRoom)
		}
		if p.in.len() > 0 {
			s.fqNext++
			continue
		}
		p.inActive = false
		last := len(s.active) - 1
		s.active[s.fqNext] = s.active[last]
		s.active[last] = nil
		s.active = s.active[:last]
	}
	return n
}

// Recv waits for one message until ctx ends or the socket is closed. On
// a quiesced socket it returns ErrDrained once everything received has
// been read.
func (s *Socket) Recv(ctx context.Context) ([][]byte, error) {
	if !s.typ.receives() {
		return nil, ErrNotSupported
	}
	for {
		var msg [][]byte
		if s.TryRecv(1, func(m [][]byte) bool { msg = m; return true }) == 1 {
			return msg, nil
		}
		if s.isClosed() {
			return nil, ErrClosed
		}
		if s.Drained() {
			return nil, ErrDrained
		}
		select {
		case <-s.readable:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closing:
			return nil, ErrClosed
		}
	}
}

// Quiesce stops an XSUB or PULL socket taking in data, so that it can be
// drained: it stops listening and reconnecting, and closes the sending
// side of every connection, so that each peer sees the connection end and
// closes it once it has sent what it was sending (a peer keeps what it
// had not sent). What arrives until then is read as usual; connections
// still open after drainTimeout are closed. Recv and TryRecv go on
// returning what was received; Drained reports when nothing is left.
func (s *Socket) Quiesce() error {
	if s.typ != XSub && s.typ != Pull {
		return ErrNotSupported
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.quiesced {
		s.mu.Unlock()
		return nil
	}
	s.quiesced = true
	listeners := s.listeners
	s.listeners = nil
	serving := map[net.Conn]bool{}
	for _, p := range s.pipes {
		if p.conn != nil {
			serving[p.conn] = true
			signal(p.hasOut) // the writer closes its side
		}
	}
	var handshaking []net.Conn
	for nc := range s.conns {
		if !serving[nc] {
			handshaking = append(handshaking, nc)
		}
	}
	s.drainTimer = time.AfterFunc(drainTimeout, s.endDrain)
	s.mu.Unlock()
	s.stopDial()
	for _, ln := range listeners {
		_ = ln.Close()
	}
	for _, nc := range handshaking {
		_ = nc.Close()
	}
	signal(s.readable)
	return nil
}

// endDrain closes the connections of a quiesced socket whose peers did
// not close them within drainTimeout.
func (s *Socket) endDrain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for nc := range s.conns {
		_ = nc.Close()
	}
}

// Drained reports whether a quiesced socket has nothing more to give:
// every connection has ended and every received message has been read.
func (s *Socket) Drained() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quiesced && s.serving == 0 && len(s.conns) == 0 && len(s.active) == 0
}
