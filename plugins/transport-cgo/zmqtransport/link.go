package zmqtransport

import (
	"context"
	"fmt"
	"slices"
	"unsafe"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
)

// tapHWM bounds the subscription messages a link's tap holds for a reader
// (on each side of the inproc pipe); beyond it they are dropped and counted.
const tapHWM = 10000

// link forwards from a source socket to sink sockets in a C loop running on
// its own goroutine (and OS thread) until a message on its control socket
// stops it. While it runs, it owns its sockets.
type link struct {
	id    string
	src   *sock
	sinks []*sock

	ctrlIn  *zmq.Socket // polled by the C loop
	ctrlOut *zmq.Socket // written by StopLink
	tapOut  *zmq.Socket // written by the C loop, or nil
	tap     *sock       // the reading end of the tap, or nil

	c    *cLink
	done chan struct{}
	err  error // set before done is closed
}

func (l *link) stats() transport.SocketStats {
	return l.c.tapStats(l.id)
}

func (l *link) uses(sk *sock) bool {
	return l.src == sk || slices.Contains(l.sinks, sk)
}

// StartLink starts forwarding data from spec.Source to spec.Sinks and
// subscription messages from xpub sinks back to an xsub source, in a C loop
// inside this process. Recv and Send on the link's sockets fail until the
// link stops.
func (s *Server) StartLink(ctx context.Context, spec transport.LinkSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.newLinkLocked(spec)
	if err != nil {
		return fmt.Errorf("start link %q: %w", spec.ID, err)
	}
	s.links[spec.ID] = l
	go func() {
		defer close(l.done)
		if err := l.c.run(); err != nil {
			l.err = err
			s.log.Error("link failed", "link", l.id, "err", err)
		}
	}()
	return nil
}

func (s *Server) newLinkLocked(spec transport.LinkSpec) (*link, error) {
	if spec.ID == "" {
		return nil, fmt.Errorf("empty id")
	}
	if _, ok := s.links[spec.ID]; ok {
		return nil, fmt.Errorf("a link with this id is running")
	}
	if _, ok := s.sockets[spec.ID]; ok {
		return nil, fmt.Errorf("a socket has this id")
	}
	src, ok := s.sockets[spec.Source]
	if !ok {
		return nil, fmt.Errorf("no source socket %q", spec.Source)
	}
	if src.kind != KindXSub && src.kind != KindPull {
		return nil, fmt.Errorf("source %q is a %s socket; want xsub or pull", spec.Source, src.kind)
	}
	if len(spec.Sinks) == 0 {
		return nil, fmt.Errorf("no sinks")
	}
	l := &link{id: spec.ID, src: src, done: make(chan struct{})}
	for _, id := range spec.Sinks {
		sk, ok := s.sockets[id]
		if !ok {
			return nil, fmt.Errorf("no sink socket %q", id)
		}
		if sk.kind != KindXPub && sk.kind != KindPush {
			return nil, fmt.Errorf("sink %q is a %s socket; want xpub or push", id, sk.kind)
		}
		if slices.Contains(l.sinks, sk) {
			return nil, fmt.Errorf("sink %q listed twice", id)
		}
		l.sinks = append(l.sinks, sk)
	}
	for _, other := range s.links {
		for _, sk := range append([]*sock{src}, l.sinks...) {
			if other.uses(sk) {
				return nil, fmt.Errorf("socket %q is used by link %q", sk.id, other.id)
			}
		}
	}
	if err := s.setUpLinkSockets(l, spec.TapSubscriptions); err != nil {
		l.closeInternal()
		return nil, err
	}
	if err := s.claim(l); err != nil {
		l.closeInternal()
		return nil, err
	}
	return l, nil
}

// setUpLinkSockets creates the control pair, the tap pair and the C state,
// verifying every raw handle the C loop will use.
func (s *Server) setUpLinkSockets(l *link, tap bool) error {
	zc := l.src.zc
	pair := func(what string) (*zmq.Socket, error) {
		p, err := zc.ctx.NewSocket(zmq.PAIR)
		if err != nil {
			return nil, fmt.Errorf("%s socket: %w", what, err)
		}
		if err := p.SetLinger(0); err != nil {
			p.Close()
			return nil, fmt.Errorf("%s socket: set linger: %w", what, err)
		}
		return p, nil
	}
	var err error
	if l.ctrlIn, err = pair("control"); err != nil {
		return err
	}
	if l.ctrlOut, err = pair("control"); err != nil {
		return err
	}
	addr := s.nextInproc("link-control")
	if err := l.ctrlIn.Bind(addr); err != nil {
		return fmt.Errorf("control socket: bind %s: %w", addr, err)
	}
	if err := l.ctrlOut.Connect(addr); err != nil {
		return fmt.Errorf("control socket: connect %s: %w", addr, err)
	}
	var tapHandle unsafe.Pointer
	if tap {
		if l.tapOut, err = pair("tap"); err != nil {
			return err
		}
		in, err := pair("tap")
		if err != nil {
			return err
		}
		for _, step := range []error{l.tapOut.SetSndhwm(tapHWM), in.SetRcvhwm(tapHWM)} {
			if step != nil {
				in.Close()
				return fmt.Errorf("tap socket: set hwm: %w", step)
			}
		}
		addr := s.nextInproc("link-tap")
		if err := l.tapOut.Bind(addr); err != nil {
			in.Close()
			return fmt.Errorf("tap socket: bind %s: %w", addr, err)
		}
		if err := in.Connect(addr); err != nil {
			in.Close()
			return fmt.Errorf("tap socket: connect %s: %w", addr, err)
		}
		inHandle, err := resolveHandle(s.rawHandle, in)
		if err != nil {
			in.Close()
			return fmt.Errorf("tap: %w", err)
		}
		c, err := newCSocket(inHandle, "tap", cOptions{})
		if err != nil {
			in.Close()
			return fmt.Errorf("tap: %w", err)
		}
		l.tap = newSock(l.id, "tap", nil, in, zc, c, s.log)
		if tapHandle, err = resolveHandle(s.rawHandle, l.tapOut); err != nil {
			return fmt.Errorf("tap: %w", err)
		}
	}
	ctrlHandle, err := resolveHandle(s.rawHandle, l.ctrlIn)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	// The sockets' handles were verified at Open; check again that they
	// still resolve to the same libzmq sockets.
	var sinks []*cSocket
	for _, sk := range append([]*sock{l.src}, l.sinks...) {
		h, err := resolveHandle(s.rawHandle, sk.zs)
		if err != nil {
			return fmt.Errorf("%s %q: %w", sk.kind, sk.id, err)
		}
		if h != sk.c.handle() {
			return fmt.Errorf("%s %q: raw socket handle changed since open", sk.kind, sk.id)
		}
		if sk != l.src {
			sinks = append(sinks, sk.c)
		}
	}
	l.c, err = newCLink(l.src.c, sinks, ctrlHandle, tapHandle, l.src.cfg.PollMaxMessages)
	return err
}

// claim marks the link's sockets as owned by it, after any receive or send
// in progress on them has returned.
func (s *Server) claim(l *link) error {
	all := append([]*sock{l.src}, l.sinks...)
	for i, sk := range all {
		sk.acquire()
		if sk.closed || sk.link != "" {
			sk.mu.Unlock()
			for _, prev := range all[:i] {
				prev.mu.Lock()
				prev.link = ""
				prev.mu.Unlock()
			}
			return fmt.Errorf("socket %q is closed or in use by another link", sk.id)
		}
		sk.link = l.id
		sk.mu.Unlock()
	}
	return nil
}

// closeInternal closes the link's own sockets and frees its C state. The C
// loop must not be running.
func (l *link) closeInternal() {
	for _, p := range []*zmq.Socket{l.ctrlIn, l.ctrlOut, l.tapOut} {
		if p != nil {
			p.Close()
		}
	}
	if l.tap != nil {
		_ = l.tap.close()
	}
	if l.c != nil {
		l.c.free()
		l.c = nil
	}
}

// StopLink stops a link; its sockets stay open and usable again.
func (s *Server) StopLink(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[id]
	if !ok {
		return fmt.Errorf("stop link: no link %q", id)
	}
	if err := s.stopLinkLocked(l); err != nil {
		return fmt.Errorf("stop link %q: %w", id, err)
	}
	return nil
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

// stopLinkLocked stops the C loop, waits for it, releases the sockets and
// reports the error that ended the loop early, if any.
func (s *Server) stopLinkLocked(l *link) error {
	_, sendErr := l.ctrlOut.Send("stop", zmq.DONTWAIT)
	if sendErr == nil {
		<-l.done
	} else {
		select {
		case <-l.done:
		default:
			// The loop cannot be told to stop; leave everything in place.
			return fmt.Errorf("signal the forwarding loop: %w", sendErr)
		}
	}
	delete(s.links, l.id)
	l.closeInternal()
	for _, sk := range append([]*sock{l.src}, l.sinks...) {
		sk.mu.Lock()
		sk.link = ""
		sk.mu.Unlock()
	}
	return l.err
}
