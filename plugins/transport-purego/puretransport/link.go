package puretransport

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
)

// linkBurstBytes bounds, beside poll_max_messages, the bytes a link
// takes from one socket per round.
const linkBurstBytes = 4 << 20

// tapHWM and tapHWMBytes bound the subscription messages a link's tap
// holds for a reader; beyond them they are dropped and counted
// (subscription_lost).
const (
	tapHWM      = 10000
	tapHWMBytes = 16 << 20
)

// link forwards from a source socket to sink sockets on its own goroutine
// until StopLink. While it runs, it owns its sockets.
type link struct {
	id    string
	src   *sock
	sinks []*sock
	burst int

	tap         *tap // nil without TapSubscriptions
	tapCounters counters

	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed
}

func (l *link) uses(sk *sock) bool {
	return l.src == sk || slices.Contains(l.sinks, sk)
}

// StartLink starts forwarding data from spec.Source to spec.Sinks and
// subscription messages from xpub sinks back to an xsub source, inside
// this process. Recv and Send on the link's sockets fail until the link
// stops.
func (s *Server) StartLink(ctx context.Context, spec transport.LinkSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.newLinkLocked(spec)
	if err != nil {
		return err
	}
	for i, sk := range append([]*sock{l.src}, l.sinks...) {
		if err := sk.claim(l.id); err != nil {
			for _, prev := range append([]*sock{l.src}, l.sinks...)[:i] {
				prev.release()
			}
			return errInvalid("start link %q: %w", spec.ID, err)
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	s.links[l.id] = l
	go func() {
		defer close(l.done)
		if err := l.run(runCtx); err != nil {
			l.err = err
			s.log.Error("link failed", "link", l.id, "err", err)
		}
	}()
	return nil
}

func (s *Server) newLinkLocked(spec transport.LinkSpec) (*link, error) {
	if spec.ID == "" {
		return nil, errInvalid("start link: empty id")
	}
	if _, ok := s.links[spec.ID]; ok {
		return nil, errExists("start link %q: a link with this id is running", spec.ID)
	}
	if _, ok := s.sockets[spec.ID]; ok {
		return nil, errExists("start link %q: a socket has this id", spec.ID)
	}
	src, ok := s.sockets[spec.Source]
	if !ok {
		return nil, errNotFound("start link %q: no source socket %q", spec.ID, spec.Source)
	}
	if src.kind != KindXSub && src.kind != KindPull {
		return nil, errInvalid("start link %q: source %q is a %s socket; want xsub or pull", spec.ID, spec.Source, src.kind)
	}
	if len(spec.Sinks) == 0 {
		return nil, errInvalid("start link %q: no sinks", spec.ID)
	}
	l := &link{id: spec.ID, src: src, burst: src.cfg.PollMaxMessages, done: make(chan struct{})}
	for _, id := range spec.Sinks {
		sk, ok := s.sockets[id]
		if !ok {
			return nil, errNotFound("start link %q: no sink socket %q", spec.ID, id)
		}
		if sk.kind != KindXPub && sk.kind != KindPush {
			return nil, errInvalid("start link %q: sink %q is a %s socket; want xpub or push", spec.ID, id, sk.kind)
		}
		if slices.Contains(l.sinks, sk) {
			return nil, errInvalid("start link %q: sink %q listed twice", spec.ID, id)
		}
		l.sinks = append(l.sinks, sk)
	}
	for _, other := range s.links {
		for _, sk := range append([]*sock{src}, l.sinks...) {
			if other.uses(sk) {
				return nil, errInvalid("start link %q: socket %q is used by link %q", spec.ID, sk.id, other.id)
			}
		}
	}
	if spec.TapSubscriptions {
		l.tap = newTap()
	}
	return l, nil
}

// StopLink stops a link; its sockets stay open and usable again.
func (s *Server) StopLink(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[id]
	if !ok {
		return errNotFound("stop link: no link %q", id)
	}
	return s.stopLinkLocked(l)
}

func (s *Server) linksUsingLocked(sk *sock) []*link {
	var out []*link
	for _, l := range s.links {
		if l.uses(sk) {
			out = append(out, l)
		}
	}
	return out
}

// stopLinkLocked stops the forwarding goroutine, waits for it, releases
// the sockets and reports the error that ended the link early, if any.
func (s *Server) stopLinkLocked(l *link) error {
	l.cancel()
	<-l.done
	delete(s.links, l.id)
	if l.tap != nil {
		l.tap.close()
	}
	for _, sk := range append([]*sock{l.src}, l.sinks...) {
		sk.release()
	}
	if l.err != nil {
		return classify(transport.ErrClosed, "link %q failed: %w", l.id, l.err)
	}
	return nil
}

// run forwards until ctx ends: data from the source to every sink, and
// subscription messages from xpub sinks to the tap and to an xsub source.
// A sink that refuses a message is handled by its send_timeout_ms; while a
// link waits for one, nothing else moves, as with zmq_proxy.
func (l *link) run(ctx context.Context) error {
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(l.src.zs.Readable())},
	}
	var subSinks []*sock
	for _, sk := range l.sinks {
		if sk.kind == KindXPub {
			subSinks = append(subSinks, sk)
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(sk.zs.Readable())})
		}
	}
	var data, subs [][][]byte
	var burstBytes int
	// collect takes up to burst messages and linkBurstBytes bytes (at
	// least one message) from a socket into dst.
	collect := func(dst *[][][]byte) func([][]byte) bool {
		return func(m [][]byte) bool {
			if len(*dst) > 0 && burstBytes >= linkBurstBytes {
				return false
			}
			*dst = append(*dst, m)
			burstBytes += msgBytes(m)
			return true
		}
	}
	takeData, takeSubs := collect(&data), collect(&subs)
	for {
		moved := false
		data, burstBytes = data[:0], 0
		if l.src.zs.TryRecv(l.burst, takeData) > 0 {
			moved = true
			good := data[:0]
			for _, m := range data {
				if l.src.take(m) {
					good = append(good, m)
				}
			}
			if err := l.forward(ctx, good); err != nil {
				return err
			}
			clear(data)
		}
		for _, sk := range subSinks {
			subs, burstBytes = subs[:0], 0
			if sk.zs.TryRecv(l.burst, takeSubs) == 0 {
				continue
			}
			moved = true
			if err := l.upstream(sk, subs); err != nil {
				return err
			}
			clear(subs)
		}
		if ctx.Err() != nil {
			return nil
		}
		if !moved {
			if chosen, _, _ := reflect.Select(cases); chosen == 0 {
				return nil
			}
		}
	}
}

// forward sends a batch of data messages to every sink. When the link is
// stopped while a sink waits, what that sink and the later ones did not
// get is counted as dropped.
func (l *link) forward(ctx context.Context, msgs [][][]byte) error {
	for i, sk := range l.sinks {
		var res transport.SendResult
		err := sk.deliver(ctx, nil, msgs, &res)
		if err == nil {
			continue
		}
		if ctx.Err() == nil {
			return err
		}
		for range len(msgs) - res.Sent - res.Dropped {
			sk.dropOne(nil)
		}
		for _, later := range l.sinks[i+1:] {
			for range msgs {
				later.dropOne(nil)
			}
		}
		return nil
	}
	return nil
}

// upstream handles what an xpub sink's subscribers sent: counted on the
// sink, copied to the tap, and passed to an xsub source.
func (l *link) upstream(sk *sock, msgs [][][]byte) error {
	for _, m := range msgs {
		sk.take(m)
		sub := isSubscription(m)
		if l.tap != nil {
			if l.tap.push(m) {
				l.tapCounters.sent(m, true)
			} else {
				l.tapCounters.drops[dropSubscription].Add(1)
			}
		}
		if l.src.kind != KindXSub {
			continue // a pull source has no upstream
		}
		if err := l.src.zs.TrySend(m); err != nil {
			return toTransportErr(err)
		}
		l.src.c.sent(m, sub)
	}
	return nil
}

// tap holds the subscription messages a link copies for a reader.
type tap struct {
	waiting atomic.Int32 // receives waiting for messages
	mu      sync.Mutex
	q       [][][]byte
	qBytes  int
	closed  bool
	ready   chan struct{}
	done    chan struct{}
}

func newTap() *tap {
	return &tap{ready: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues m unless tapHWM messages or tapHWMBytes bytes are waiting.
func (t *tap) push(m [][]byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.q) >= tapHWM || t.qBytes >= tapHWMBytes {
		return false
	}
	t.q = append(t.q, m)
	t.qBytes += msgBytes(m)
	select {
	case t.ready <- struct{}{}:
	default:
	}
	return true
}

func (t *tap) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		t.q = nil
		close(t.done)
	}
}

// recv implements Server.Recv on a link's handle.
func (t *tap) recv(ctx context.Context, b *message.Batch, lim transport.Limits) error {
	maxMsgs, maxBytes := limits(lim)
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return transport.ErrClosed
		}
		n := 0
		for n < len(t.q) && n < maxMsgs && (n == 0 || b.Bytes()+msgBytes(t.q[n]) <= maxBytes) {
			b.Append(t.q[n]...)
			t.qBytes -= msgBytes(t.q[n])
			n++
		}
		clear(t.q[:n])
		t.q = t.q[n:]
		if len(t.q) == 0 {
			t.q = nil
		}
		t.mu.Unlock()
		if n > 0 {
			return nil
		}
		t.waiting.Add(1)
		select {
		case <-t.ready:
		case <-t.done:
		case <-ctx.Done():
			t.waiting.Add(-1)
			return ctx.Err()
		}
		t.waiting.Add(-1)
	}
}
