package puresock

import (
	"log/slog"
	"time"
)

// XPUB subscribers that stop reading.
//
// A subscriber whose queue is full stalls: with XPubNoDrop only when the
// sender gives up waiting for it (PublishStalling), without XPubNoDrop at
// once. A stalled subscriber misses every message meant for it, without
// any wait, until its writer has drained its queue to half its bounds
// (the low-water mark); then it recovers and gets messages again. Each
// miss is counted for the peer; each message missed by at least one
// subscriber while others got it is counted once for the socket
// (Counters.StalledPeer), and one no subscriber got is reported to the
// sender (TrySendMany, PublishStalling). An episode's start is
// logged at warning level (at most once per stallWarnInterval per peer),
// its end at info level with the number of messages missed.

// maxDeparted bounds the departed XPUB subscribers with losses whose
// counters a socket keeps reporting in PeerStats.
const maxDeparted = 64

// stallWarnInterval is how often one subscriber's stall episodes are
// logged at most; episodes in between are counted in the next line.
const stallWarnInterval = 10 * time.Second

// stall is an XPUB pipe's stall state and per-peer counters, guarded by
// the socket's mutex.
type stall struct {
	label         string      // the peer's name (Options.PeerLabel)
	missed        uint64      // messages the peer missed, all episodes
	stalls        uint64      // episodes
	stalled       bool        // in an episode now
	episode       uint64      // number of the current or last episode
	since         time.Time   // start of the current episode
	episodeMissed uint64      // messages missed in the current episode
	timer         *time.Timer // disconnects the peer after StallDisconnect
	warned        bool        // the current episode's start was logged
	lastWarn      time.Time
	unlogged      int // episodes not logged since lastWarn
}

// PeerStats are the counters of one XPUB subscriber.
type PeerStats struct {
	// Address is the peer's remote address (for ipc, the socket path and
	// the peer's pid), or a connect endpoint's address before its first
	// connection.
	Address string
	// Label is what Options.PeerLabel made of its subscriptions.
	Label string
	// Missed counts the messages it did not get because it was stalled,
	// exactly.
	Missed uint64
	// Stalled tells whether it is stalled now; Stalls counts its
	// episodes.
	Stalled bool
	Stalls  uint64
	// Connected is false for a departed peer.
	Connected bool
}

// PeerStats returns the counters of an XPUB's subscribers: the attached
// ones, then up to maxDeparted that left with losses, oldest first.
// Other socket types have none.
func (s *Socket) PeerStats() []PeerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.typ != XPub {
		return nil
	}
	out := make([]PeerStats, 0, len(s.pipes)+len(s.departed))
	for _, p := range s.pipes {
		out = append(out, PeerStats{
			Address: p.addr, Label: p.label, Missed: p.missed,
			Stalled: p.stalled, Stalls: p.stalls, Connected: p.conn != nil,
		})
	}
	return append(out, s.departed...)
}

// departLocked keeps the counters of p, which left with losses.
func (s *Socket) departLocked(p *pipe) {
	if len(s.departed) == maxDeparted {
		s.departed = append(s.departed[:0], s.departed[1:]...)
	}
	s.departed = append(s.departed, PeerStats{Address: p.addr, Label: p.label, Missed: p.missed, Stalls: p.stalls})
}

// lowWaterLocked reports whether p's queue is down to half its bounds.
func (s *Socket) lowWaterLocked(p *pipe) bool {
	o := &s.opts
	return (o.SendHWM == 0 || p.out.len()+p.inFlight <= o.SendHWM/2) &&
		(o.SendHWMBytes == 0 || p.out.size()+p.inFlightBytes <= o.SendHWMBytes/2)
}

// peerArgs are the log attributes naming p.
func (p *pipe) peerArgs() []any {
	return []any{"peer", p.addr, "zeek_node_id", p.label}
}

// stallLocked starts a stall episode of p, whose queue is full.
func (s *Socket) stallLocked(p *pipe, now time.Time) {
	p.stalled = true
	p.stalls++
	p.episode++
	p.since = now
	p.episodeMissed = 0
	s.counters.peerStalled.Add(1)
	if d := s.opts.StallDisconnect; d > 0 && s.ctx.Err() == nil {
		episode := p.episode
		p.timer = time.AfterFunc(d, func() { s.stallExpired(p, episode) })
	}
	p.warned = p.lastWarn.IsZero() || now.Sub(p.lastWarn) >= stallWarnInterval
	if !p.warned {
		p.unlogged++
		return
	}
	args := append(p.peerArgs(), "queued_messages", p.out.len()+p.inFlight, "queued_bytes", p.out.size()+p.inFlightBytes)
	if p.unlogged > 0 {
		args = append(args, "episodes_since_last_warning", p.unlogged)
	}
	p.lastWarn, p.unlogged = now, 0
	s.noteLocked(slog.LevelWarn, "subscriber stalled: its queue is full; it misses messages until it has read half of it", args...)
}

// missLocked counts a message that stalled p did not get.
func (p *pipe) missLocked() {
	p.missed++
	p.episodeMissed++
}

// endStallLocked ends p's stall episode, logging msg at info level with
// what the episode cost if its start was logged.
func (s *Socket) endStallLocked(p *pipe, msg string) {
	p.stalled = false
	p.stopStallTimer()
	if p.warned {
		args := append(p.peerArgs(), "missed", p.episodeMissed, "stalled_for", time.Since(p.since).Round(time.Millisecond).String())
		s.noteLocked(slog.LevelInfo, msg, args...)
	}
}

// stopStallTimer stops the pending stall disconnect of p, if any.
func (p *pipe) stopStallTimer() {
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

// stallExpired disconnects p if it is still in stall episode episode:
// what its queue holds is discarded (counted as missed), and the
// connection is closed. A peer that connects again starts afresh.
func (s *Socket) stallExpired(p *pipe, episode uint64) {
	s.mu.Lock()
	if !p.stalled || p.episode != episode || s.closed || !p.attached {
		s.mu.Unlock()
		return
	}
	s.counters.peerStallDisconnect.Add(1)
	discarded := uint64(p.out.len())
	p.missed += discarded
	p.episodeMissed += discarded
	p.out.clear()
	p.timer = nil
	conn := p.conn
	args := append(p.peerArgs(), "missed", p.episodeMissed, "stalled_for", time.Since(p.since).Round(time.Millisecond).String())
	s.noteLocked(slog.LevelWarn, "disconnecting a subscriber stalled too long", args...)
	p.warned = false
	p.stalled = false
	signal(s.writable)
	s.unlock()
	if conn != nil {
		_ = conn.Close()
	}
}
