package puresock

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// pipe is the socket's side of one peer: libzmq's pipe_t. A pipe of a
// connect endpoint without Immediate lives as long as the socket and is
// served by one connection after another; every other pipe lives as long
// as its connection. Fields after the channels are guarded by the
// socket's mutex.
type pipe struct {
	persistent bool

	hasOut chan struct{} // wakes the writer: out has messages or cmds, or the socket quiesced
	inRoom chan struct{} // wakes the reader: in has room again

	out           msgQueue            // towards the peer
	in            msgQueue            // from the peer, not read yet
	cmds          [][]byte            // PONG bodies to write
	attached      bool                // a destination of the socket's messages
	inActive      bool                // in the socket's fair queue
	busy          bool                // the writer holds messages not written out yet
	inFlight      int                 // messages the writer took from out and has not written yet
	inFlightBytes int                 // their bytes
	wantRoom      bool                // a sender waits for room in out
	readerWaits   bool                // the reader waits for room in in
	hadConn       bool                // a connection served this pipe before
	conn          net.Conn            // the connection serving it now, if any
	addr          string              // the peer's address (the endpoint before a connection)
	subs          map[string]struct{} // XPUB: prefixes this pipe holds
	gen           uint64              // XPUB: match generation that last picked it
	stall                             // XPUB: stall state and per-peer counters
}

func newPipe(persistent bool) *pipe {
	return &pipe{
		persistent: persistent,
		hasOut:     make(chan struct{}, 1),
		inRoom:     make(chan struct{}, 1),
	}
}

// runConn serves pipe p over a connection that completed its handshake,
// until the connection ends.
func (s *Socket) runConn(p *pipe, nc net.Conn, fr *frameReader, endpoint, peer string) {
	s.mu.Lock()
	if s.typ == XSub && p.persistent && p.hadConn {
		// A reconnected peer is a new peer: tell it every subscription.
		s.replayLocked(p)
	}
	p.hadConn = true
	p.conn, p.addr = nc, peer
	s.serving++
	s.mu.Unlock()
	s.peers.Add(1)
	s.log.Debug("peer connected", "endpoint", endpoint, "peer", peer)

	stop := make(chan struct{})
	writerDone := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(writerDone)
		if err := s.writeLoop(p, nc, stop); err != nil {
			_ = nc.Close()
		}
	}()
	err := s.readLoop(p, fr)
	close(stop)
	_ = nc.Close()
	<-writerDone

	s.mu.Lock()
	p.busy = false
	p.cmds = nil
	p.conn = nil
	if p.inFlight > 0 {
		// The writer's last batch is gone with the connection.
		p.inFlight, p.inFlightBytes = 0, 0
		if p.wantRoom {
			p.wantRoom = false
			signal(s.writable)
		}
	}
	if s.closed {
		signal(s.drained)
	}
	s.serving--
	if s.quiesced && s.serving == 0 {
		signal(s.readable) // a waiting reader may find the socket drained
	}
	s.mu.Unlock()
	s.peers.Add(-1)
	if errors.Is(err, errOversize) {
		s.counters.oversize.Add(1)
		s.oversizeLog.Warn("peer disconnected: message over the limits", "endpoint", endpoint, "peer", peer,
			"max_message_bytes", s.opts.MaxMessageBytes, "max_message_frames", s.opts.MaxMessageFrames, "err", err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	s.log.Debug("peer disconnected", "endpoint", endpoint, "peer", peer, "err", err)
}

// readLoop reads from the connection until it fails.
func (s *Socket) readLoop(p *pipe, fr *frameReader) error {
	maxBatch := readBatchMessages
	if hwm := s.opts.RecvHWM; hwm > 0 {
		maxBatch = min(maxBatch, hwm)
	}
	var batch [][][]byte
	var sizes []int
	batchBytes := 0
	for {
		msg, cmd, err := fr.next()
		if err != nil {
			if len(batch) > 0 {
				// Messages that arrived whole before the end are delivered.
				_ = s.deliver(p, batch, sizes)
			}
			return err
		}
		if cmd != nil {
			if err := s.command(p, cmd); err != nil {
				return err
			}
			continue
		}
		switch s.typ {
		case Push:
			continue // PULL peers have nothing to say
		case XPub:
			s.upstream(p, msg)
			continue
		}
		batch, sizes = append(batch, msg), append(sizes, fr.size)
		batchBytes += fr.size
		if len(batch) < maxBatch && batchBytes < readBatchBytes && fr.buffered() {
			continue
		}
		if err := s.deliver(p, batch, sizes); err != nil {
			return err
		}
		clear(batch)
		batch, sizes, batchBytes = batch[:0], sizes[:0], 0
	}
}

// inFullLocked reports whether p holds RecvHWM messages or RecvHWMBytes
// bytes received and not read yet.
func (s *Socket) inFullLocked(p *pipe) bool {
	o := &s.opts
	return o.RecvHWM > 0 && p.in.len() >= o.RecvHWM ||
		o.RecvHWMBytes > 0 && p.in.size() >= o.RecvHWMBytes
}

// deliver queues received messages (of payload sizes bytes) for the
// application, waiting while the pipe is at its receive bounds.
func (s *Socket) deliver(p *pipe, batch [][][]byte, sizes []int) error {
	for len(batch) > 0 {
		s.mu.Lock()
		n := 0
		for n < len(batch) && !s.inFullLocked(p) {
			p.in.push(batch[n], sizes[n])
			n++
		}
		if n == 0 {
			p.readerWaits = true
			s.mu.Unlock()
			select {
			case <-p.inRoom:
			case <-s.ctx.Done():
				return ErrClosed
			}
			continue
		}
		if !p.inActive {
			p.inActive = true
			s.active = append(s.active, p)
		}
		s.mu.Unlock()
		signal(s.readable)
		batch, sizes = batch[n:], sizes[n:]
	}
	return nil
}

// upstream handles what an XPUB's peer sent: subscription frames (data
// frames starting with 0x01 or 0x00) change the subscriptions, other
// frames are passed to the application as one message.
func (s *Socket) upstream(p *pipe, msg [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var data [][]byte
	for _, f := range msg {
		if len(f) > 0 && f[0] <= 1 {
			s.subscriptionLocked(p, f[0] == 1, f[1:])
			continue
		}
		data = append(data, f)
	}
	if len(data) > 0 {
		s.queuePendingLocked(data)
	}
}

// subscriptionLocked applies one subscribe or unsubscribe of an XPUB's
// peer and tells the application as libzmq does: a subscribe when the
// prefix is new (every one with verbose), an unsubscribe when no peer
// holds the prefix any more or the peer did not hold it (every one with
// verboser). A subscription that names the peer (Options.PeerLabel)
// labels it.
func (s *Socket) subscriptionLocked(p *pipe, subscribe bool, prefix []byte) {
	var notify bool
	var kind byte
	if subscribe {
		kind = 1
		notify = s.index.add(prefix, p) || s.verboseSubs
		if p.label == "" && s.opts.PeerLabel != nil {
			if label, ok := s.opts.PeerLabel(prefix); ok {
				p.label = label
			}
		}
	} else {
		notify = s.index.rm(prefix, p) != rmValuesRemain || s.verboseUnsubs
	}
	if notify {
		s.queuePendingLocked([][]byte{append([]byte{kind}, prefix...)})
	}
}

// command handles a ZMTP command: ZMTP 3.1 SUBSCRIBE and CANCEL as the
// 0x01/0x00 messages of ZMTP 3.0, PING with a PONG, ERROR by ending the
// connection. Others are ignored.
func (s *Socket) command(p *pipe, cmd *command) error {
	switch cmd.name {
	case cmdSubscribe, cmdCancel:
		if s.typ == XPub {
			s.mu.Lock()
			s.subscriptionLocked(p, cmd.name == cmdSubscribe, cmd.body)
			s.mu.Unlock()
		}
	case cmdPing:
		// PING: a 2-byte TTL, then up to 16 bytes of context for the PONG.
		var context []byte
		if len(cmd.body) > 2 {
			context = cmd.body[2:min(len(cmd.body), 18)]
		}
		s.mu.Lock()
		p.cmds = append(p.cmds, context)
		s.mu.Unlock()
		signal(p.hasOut)
	case cmdError:
		reason := cmd.body
		if len(reason) > 0 && int(reason[0]) <= len(reason)-1 {
			reason = reason[1 : 1+int(reason[0])]
		}
		return fmt.Errorf("peer sent ERROR %q", reason)
	}
	return nil
}

// writeLoop writes what is queued for the peer until stop is closed or a
// write fails. It flushes whenever the queue runs empty. Once the socket
// is quiesced it flushes, closes the connection's sending side (the peer
// sees the end of the connection and closes its side once it has sent
// what it was sending) and returns.
//
// The messages it takes from the queue count against SendHWM and
// SendHWMBytes until they are written (p.inFlight), as libzmq's pipe
// keeps a message until its engine has encoded it: taking a batch does
// not make room for more messages than the HWM allows while the peer
// does not read.
func (s *Socket) writeLoop(p *pipe, nc net.Conn, stop <-chan struct{}) error {
	fw := newFrameWriter(nc)
	var batch [][][]byte
	var cmds [][]byte
	for {
		s.mu.Lock()
		if s.quiesced {
			p.inFlight, p.inFlightBytes = 0, 0
			s.mu.Unlock()
			if err := fw.flush(); err != nil {
				return err
			}
			if cw, ok := nc.(interface{ CloseWrite() error }); ok {
				return cw.CloseWrite()
			}
			return nil
		}
		cmds = append(cmds[:0], p.cmds...)
		p.cmds = p.cmds[:0]
		var bytes int
		batch, bytes = p.out.popBatch(batch[:0], writeBatchMessages, writeBatchBytes)
		p.inFlight, p.inFlightBytes = len(batch), bytes // the previous batch is written
		if len(batch) > 0 || len(cmds) > 0 {
			p.busy = true
		}
		if p.wantRoom && !s.fullLocked(p) {
			p.wantRoom = false
			signal(s.writable)
		}
		if p.stalled && s.lowWaterLocked(p) {
			s.endStallLocked(p, "subscriber recovered")
		}
		s.unlock()

		if len(batch) == 0 && len(cmds) == 0 {
			if err := fw.flush(); err != nil {
				return err
			}
			s.mu.Lock()
			idle := p.out.len() == 0 && len(p.cmds) == 0 && !s.quiesced
			if idle {
				p.busy = false
				if s.closed {
					signal(s.drained)
				}
			}
			s.mu.Unlock()
			if idle {
				select {
				case <-p.hasOut:
				case <-stop:
					return nil
				}
			}
			continue
		}
		for _, c := range cmds {
			if err := fw.writeCommand(cmdPong, c); err != nil {
				return err
			}
		}
		for i, m := range batch {
			if err := fw.writeMsg(m); err != nil {
				return err
			}
			batch[i] = nil
		}
	}
}
