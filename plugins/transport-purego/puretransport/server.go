package puretransport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"sync"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/zmqopts"
)

// Name is the transport's name as reported by Describe.
const Name = "purego"

// Version is the transport's version as reported by Describe.
const Version = "0.1.0"

// Server is the pure-Go transport. It implements transport.Server; all its
// methods are safe for concurrent use.
type Server struct {
	log     *slog.Logger
	variant *zmqopts.Variant

	mu      sync.Mutex
	sockets map[string]*sock
	links   map[string]*link
}

var (
	_ transport.Server    = (*Server)(nil)
	_ transport.Validator = (*Server)(nil)
	_ transport.Quiescer  = (*Server)(nil)
)

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger for peer connects and disconnects (debug
// level) and link failures (error level). The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) {
		if l != nil {
			s.log = l
		}
	}
}

// New returns a Server with no sockets.
func New(opts ...Option) *Server {
	s := &Server{
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		variant: variant(),
		sockets: map[string]*sock{},
		links:   map[string]*link{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Describe reports the transport's capabilities and socket kinds. It has
// no CURVE capability: the attributes that need it are refused by name.
func (s *Server) Describe(ctx context.Context) (*transport.Description, error) {
	return &transport.Description{
		Name:         Name,
		Version:      fmt.Sprintf("%s (%s)", Version, strings.TrimSpace("go-zeromq/zmq4 "+zmq4Version())),
		Protocol:     transport.ProtocolVersion,
		Capabilities: []string{transport.CapTCP, transport.CapIPC, transport.CapIPv6, transport.CapLink, transport.CapHWMBytes},
		Sockets:      s.variant.SocketKinds(),
	}, nil
}

// zmq4Version returns the version of go-zeromq/zmq4 built in, or "" when
// the binary does not record it (test binaries do not).
func zmq4Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/go-zeromq/zmq4" {
				return d.Version
			}
		}
	}
	return ""
}

// Open creates a socket, binds and connects it.
func (s *Server) Open(ctx context.Context, spec transport.SocketSpec) error {
	if spec.ID == "" {
		return errInvalid("open %s socket: empty id", spec.Kind)
	}
	cfg, problems := s.variant.Decode(spec.Kind, spec.Config)
	if len(problems) > 0 {
		return errInvalid("open %s %q: %w", spec.Kind, spec.ID, problemError(problems))
	}
	s.mu.Lock()
	_, taken := s.sockets[spec.ID]
	_, isLink := s.links[spec.ID]
	s.mu.Unlock()
	if taken || isLink {
		return errExists("open %s %q: a socket or link with this id exists", spec.Kind, spec.ID)
	}
	sk, err := newSock(spec.ID, spec.Kind, cfg, s.log)
	if err != nil {
		return fmt.Errorf("open %s %q: %w", spec.Kind, spec.ID, err)
	}
	s.mu.Lock()
	_, taken = s.sockets[spec.ID]
	_, isLink = s.links[spec.ID]
	if !taken && !isLink {
		s.sockets[spec.ID] = sk
	}
	s.mu.Unlock()
	if taken || isLink {
		sk.discard()
		return errExists("open %s %q: a socket or link with this id exists", spec.Kind, spec.ID)
	}
	return nil
}

// BoundEndpoints returns the endpoints socket id is bound to, as bound (a
// wildcard port reads as the port picked).
func (s *Server) BoundEndpoints(id string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sk, ok := s.sockets[id]
	if !ok {
		return nil, errNotFound("bound endpoints: no socket %q", id)
	}
	return append([]string(nil), sk.bound...), nil
}

// Close stops the links that use socket id, then closes it, honouring its
// linger_ms. Close returns once the socket has let go of everything, or
// when ctx ends first (with ctx's error; the socket is gone either way and
// finishes its linger in the background).
func (s *Server) Close(ctx context.Context, id string) error {
	s.mu.Lock()
	sk, ok := s.sockets[id]
	if !ok {
		s.mu.Unlock()
		return errNotFound("close: no socket %q", id)
	}
	var stopErr error
	for _, l := range s.linksUsingLocked(sk) {
		if err := s.stopLinkLocked(l); err != nil && stopErr == nil {
			stopErr = err
		}
	}
	delete(s.sockets, id)
	s.mu.Unlock()

	sk.close()
	select {
	case <-sk.zs.Done():
	case <-ctx.Done():
		return fmt.Errorf("close %q: socket still lingering: %w", id, ctx.Err())
	}
	if stopErr != nil {
		return fmt.Errorf("close %q: %w", id, stopErr)
	}
	return nil
}

// CloseAll stops every link and closes every socket.
func (s *Server) CloseAll(ctx context.Context) error {
	s.mu.Lock()
	ids := make([]string, 0, len(s.sockets))
	for id := range s.sockets {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	sort.Strings(ids)
	var first error
	for _, id := range ids {
		if err := s.Close(ctx, id); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Recv reads a batch from a socket, or from a link's subscription tap when
// handle names a link.
func (s *Server) Recv(ctx context.Context, handle string, b *message.Batch, lim transport.Limits) error {
	if b == nil {
		return errInvalid("receive from %q: nil batch", handle)
	}
	s.mu.Lock()
	sk, isSock := s.sockets[handle]
	l, isLink := s.links[handle]
	s.mu.Unlock()
	switch {
	case isSock:
		if sk.kind == KindPush {
			return errInvalid("receive: push socket %q cannot receive", handle)
		}
		return sk.recv(ctx, b, lim)
	case isLink:
		if l.tap == nil {
			return errInvalid("receive: link %q has no subscription tap (start it with TapSubscriptions)", handle)
		}
		return l.tap.recv(ctx, b, lim)
	}
	return errNotFound("receive: no socket or link %q", handle)
}

// Send writes every message of b to socket handle. On an xpub or push
// socket, refused messages are handled by send_timeout_ms and counted; on
// an xsub socket each message must be a subscription message.
func (s *Server) Send(ctx context.Context, handle string, b *message.Batch) (transport.SendResult, error) {
	if b == nil {
		return transport.SendResult{}, errInvalid("send to %q: nil batch", handle)
	}
	s.mu.Lock()
	sk, ok := s.sockets[handle]
	s.mu.Unlock()
	if !ok {
		return transport.SendResult{}, errNotFound("send: no socket %q", handle)
	}
	if sk.kind == KindPull {
		return transport.SendResult{}, errInvalid("send: pull socket %q cannot send", handle)
	}
	return sk.send(ctx, b)
}

// Stats returns the counters of every open socket and of every link's
// subscription tap (under the link's id), sorted by id.
func (s *Server) Stats(ctx context.Context) (*transport.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &transport.Stats{Sockets: make([]transport.SocketStats, 0, len(s.sockets)+len(s.links))}
	for id, sk := range s.sockets {
		st.Sockets = append(st.Sockets, sk.c.stats(id, sk.zs))
	}
	for id, l := range s.links {
		st.Sockets = append(st.Sockets, l.tapCounters.stats(id, nil))
	}
	sort.Slice(st.Sockets, func(i, j int) bool { return st.Sockets[i].ID < st.Sockets[j].ID })
	return st, nil
}

// Validate checks a socket's configuration as Open would, without opening
// anything: every problem is reported, naming its attribute (and, in a
// list, the element's index), and Binds lists the endpoints the socket
// would bind, normalized, so that the caller can find two sockets binding
// one endpoint.
func (s *Server) Validate(ctx context.Context, kind string, config []byte) (*transport.Validation, error) {
	return s.variant.Validate(kind, config), nil
}

// Quiesce stops an xsub or pull socket taking in data, so that what its
// peers sent can be read to the end: it stops listening and reconnecting
// and ends every connection from its side; a peer closes its side once
// it has sent what it was sending, and keeps the rest. Recv then returns
// what arrived, and transport.ErrDrained once nothing is left. Other
// kinds answer with an error wrapping errors.ErrUnsupported.
func (s *Server) Quiesce(ctx context.Context, id string) error {
	s.mu.Lock()
	sk, ok := s.sockets[id]
	s.mu.Unlock()
	if !ok {
		return errNotFound("quiesce: no socket %q", id)
	}
	if sk.kind != KindXSub && sk.kind != KindPull {
		return fmt.Errorf("quiesce %s %q: only xsub and pull sockets drain: %w", sk.kind, id, errors.ErrUnsupported)
	}
	if err := sk.stateErr(); err != nil {
		return errInvalid("quiesce %s %q: %w", sk.kind, id, err)
	}
	if err := sk.zs.Quiesce(); err != nil {
		return fmt.Errorf("quiesce %s %q: %w", sk.kind, id, toTransportErr(err))
	}
	return nil
}
