package puresock

import (
	"context"
	"errors"
)

// TrySend queues msg without waiting, or returns ErrWouldBlock when the
// socket cannot take it now:
//
//   - XPUB: msg goes to every peer subscribed to a prefix of frame 0. With
//     XPubNoDrop it is refused as a whole when the queue of any of them
//     is full; without, peers with a full queue miss it (counted in
//     Dropped). A message no peer subscribed to is taken and goes nowhere.
//   - PUSH: msg goes to one peer, round-robin over the peers whose queue
//     has room; refused when there is none.
//   - XSUB: a single frame 0x01 prefix subscribes, 0x00 prefix
//     unsubscribes (passed on when its reference count drops to zero);
//     subscriptions and any other message go to every peer, lossy like an
//     XPUB without XPubNoDrop.
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
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.sendLocked(msg)
}

// TrySendMany queues msgs in order until one is refused. It returns how
// many were queued and, when that is fewer than len(msgs), the error that
// refused the next one.
func (s *Socket) TrySendMany(msgs [][][]byte) (int, error) {
	if !s.typ.sends() {
		return 0, ErrNotSupported
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	for i, m := range msgs {
		if len(m) == 0 {
			return i, ErrEmptyMessage
		}
		if err := s.sendLocked(m); err != nil {
			return i, err
		}
	}
	return len(msgs), nil
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

func (s *Socket) sendLocked(msg [][]byte) error {
	switch s.typ {
	case XPub:
		return s.publishLocked(msg)
	case Push:
		return s.balanceLocked(msg)
	default:
		return s.subscribeLocked(msg)
	}
}

func (s *Socket) publishLocked(msg [][]byte) error {
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
	if s.opts.XPubNoDrop {
		for _, p := range matched {
			if s.fullLocked(p) {
				p.wantRoom = true
				return ErrWouldBlock
			}
		}
	}
	for _, p := range matched {
		if s.fullLocked(p) {
			s.dropped.Add(1)
			continue
		}
		s.pushLocked(p, msg)
	}
	return nil
}

func (s *Socket) balanceLocked(msg [][]byte) error {
	n := len(s.pipes)
	for i := range n {
		k := (s.lbNext + i) % n
		if p := s.pipes[k]; !s.fullLocked(p) {
			s.pushLocked(p, msg)
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
	if f := msg[0]; len(msg) == 1 && len(f) > 0 && f[0] <= 1 {
		if f[0] == 1 {
			s.own.add(f[1:])
		} else if !s.own.rm(f[1:]) {
			return nil
		}
	}
	for _, p := range s.pipes {
		if s.fullLocked(p) {
			s.dropped.Add(1)
			continue
		}
		s.pushLocked(p, msg)
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
	hwm := s.opts.RecvHWM
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
		// Wake a waiting reader once the queue is down to half its HWM, so
		// it hands over messages in batches.
		if p.readerWaits && (hwm == 0 || p.in.len() <= hwm/2) {
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

// Recv waits for one message until ctx ends or the socket is closed.
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
		select {
		case <-s.readable:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closing:
			return nil, ErrClosed
		}
	}
}
