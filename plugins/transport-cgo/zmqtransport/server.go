package zmqtransport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/zmqopts"
)

// Name is the transport's name as reported by Describe.
const Name = "cgo"

// Version is the transport's version as reported by Describe.
const Version = "0.1.0"

// Server is the libzmq transport. It implements transport.Server; all its
// methods are safe for concurrent use.
type Server struct {
	log       *slog.Logger
	rawHandle handleFunc
	variant   *zmqopts.Variant

	// monitorHold, set by tests before any Open, holds back every
	// socket's monitor goroutine until it is closed, to show that nothing
	// depends on the goroutine having caught up.
	monitorHold chan struct{}

	mu       sync.Mutex
	contexts map[int]*zctx // by io_threads
	sockets  map[string]*sock
	links    map[string]*link
	seq      uint64 // numbers inproc endpoints
}

var _ transport.Server = (*Server)(nil)

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
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		rawHandle: socketHandle,
		contexts:  map[int]*zctx{},
		sockets:   map[string]*sock{},
		links:     map[string]*link{},
		variant:   variant(),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// zctx is a libzmq context shared by the sockets that ask for the same
// number of I/O threads. It is terminated when its last socket closes.
type zctx struct {
	ctx       *zmq.Context
	ioThreads int
	refs      int
	zap       *zapHandler // started by the first source or CURVE server with an allow-list
}

// Describe reports the transport's capabilities and socket kinds.
func (s *Server) Describe(ctx context.Context) (*transport.Description, error) {
	caps := []string{transport.CapTCP, transport.CapIPC, transport.CapIPv6, transport.CapLink}
	if zmq.HasCurve() {
		caps = append(caps, transport.CapCurve)
	}
	major, minor, patch := zmq.Version()
	return &transport.Description{
		Name:         Name,
		Version:      fmt.Sprintf("%s (libzmq %d.%d.%d)", Version, major, minor, patch),
		Protocol:     transport.ProtocolVersion,
		Capabilities: caps,
		Sockets:      s.variant.SocketKinds(),
	}, nil
}

// nextInproc returns a fresh inproc endpoint name. Names only need to be
// unique within a context, and every context belongs to one Server.
func (s *Server) nextInproc(what string) string {
	s.seq++
	return fmt.Sprintf("inproc://zpipe-%s-%d", what, s.seq)
}

// Open creates a socket, applies its options, binds and connects it.
func (s *Server) Open(ctx context.Context, spec transport.SocketSpec) error {
	if spec.ID == "" {
		return fmt.Errorf("open %s socket: empty id", spec.Kind)
	}
	cfg, err := s.parseConfig(spec.Kind, spec.Config)
	if err != nil {
		return fmt.Errorf("open %s %q: %w", spec.Kind, spec.ID, err)
	}
	s.mu.Lock()
	if _, ok := s.sockets[spec.ID]; ok {
		s.mu.Unlock()
		return fmt.Errorf("open %s %q: a socket with this id is already open", spec.Kind, spec.ID)
	}
	if _, ok := s.links[spec.ID]; ok {
		s.mu.Unlock()
		return fmt.Errorf("open %s %q: a link has this id", spec.Kind, spec.ID)
	}
	zc, err := s.acquireContextLocked(cfg.IOThreads)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("open %s %q: %w", spec.Kind, spec.ID, err)
	}
	sk, err := s.openSocketLocked(zc, spec.ID, spec.Kind, cfg)
	if err != nil {
		// The failed socket is closed; drop the context reference.
		term := s.releaseContextLocked(zc)
		s.mu.Unlock()
		term()
		return fmt.Errorf("open %s %q: %w", spec.Kind, spec.ID, err)
	}
	s.sockets[spec.ID] = sk
	s.mu.Unlock()
	return nil
}

func (s *Server) acquireContextLocked(ioThreads int) (*zctx, error) {
	if zc, ok := s.contexts[ioThreads]; ok {
		zc.refs++
		return zc, nil
	}
	c, err := zmq.NewContext()
	if err != nil {
		return nil, fmt.Errorf("new context: %w", err)
	}
	if err := c.SetIoThreads(ioThreads); err != nil {
		_ = c.Term()
		return nil, fmt.Errorf("context: set io_threads %d: %w", ioThreads, err)
	}
	zc := &zctx{ctx: c, ioThreads: ioThreads, refs: 1}
	s.contexts[ioThreads] = zc
	return zc, nil
}

// releaseContextLocked drops one reference; it returns the function that
// terminates the context when that was the last one. Terminating waits for
// the lingering messages of the context's sockets, so callers run it
// without holding s.mu.
func (s *Server) releaseContextLocked(zc *zctx) (term func()) {
	zc.refs--
	if zc.refs > 0 {
		return func() {}
	}
	delete(s.contexts, zc.ioThreads)
	return func() {
		if zc.zap != nil {
			zc.zap.stop()
		}
		if err := zc.ctx.Term(); err != nil {
			s.log.Error("terminate zmq context", "io_threads", zc.ioThreads, "err", err)
		}
	}
}

func zmqType(kind string) zmq.Type {
	switch kind {
	case KindXSub:
		return zmq.XSUB
	case KindPull:
		return zmq.PULL
	case KindXPub:
		return zmq.XPUB
	default:
		return zmq.PUSH
	}
}

// openSocketLocked creates and sets up one socket. On error everything it
// created is closed again.
func (s *Server) openSocketLocked(zc *zctx, id, kind string, cfg *zmqopts.Config) (*sock, error) {
	zs, err := zc.ctx.NewSocket(zmqType(kind))
	if err != nil {
		return nil, fmt.Errorf("new socket: %w", err)
	}
	discard := func(err error) (*sock, error) {
		_ = zs.SetLinger(0)
		zs.Close()
		return nil, err
	}
	if err := applyOptions(zs, kind, cfg); err != nil {
		return discard(err)
	}
	h, err := resolveHandle(s.rawHandle, zs)
	if err != nil {
		return discard(err)
	}
	c, err := newCSocket(h, kind, cOptions{
		zeekFraming: cfg.Framing == FramingZeek, sendTimeoutMs: cfg.SendTimeoutMs,
		nodrop: kind == KindXPub && cfg.NoDrop, verbose: cfg.Verbose || cfg.Verboser,
		maxFrames: cfg.MaxMessageFrames, maxBytes: cfg.MaxMessageBytes,
	})
	if err != nil {
		return discard(err)
	}
	sk := newSock(id, kind, cfg, zs, zc, c, s.log)
	fail := func(err error) (*sock, error) {
		_ = zs.SetLinger(0)
		if zc.zap != nil && sk.zapDomain != "" {
			zc.zap.remove(sk.zapDomain)
		}
		_ = sk.close()
		return nil, err
	}
	// A source refuses new peers while it drains, and a CURVE server with
	// an allow-list admits only those clients: both through the context's
	// ZAP handler, under a domain of the socket's own.
	sk.allowList = cfg.CurveServer && len(cfg.CurveAllowedKeys) > 0
	if sk.allowList || kind == KindXSub || kind == KindPull {
		if zc.zap == nil {
			z, err := startZAP(zc.ctx, s.nextInproc("zap-control"), s.log)
			if err != nil {
				return fail(err)
			}
			zc.zap = z
		}
		sk.zapDomain = "zpipe:" + id
		d := zapDomain{draining: &sk.draining}
		if sk.allowList {
			d.allowed = cfg.CurveAllowedKeys
		}
		zc.zap.add(sk.zapDomain, d)
		if err := zs.SetZapDomain(sk.zapDomain); err != nil {
			return fail(fmt.Errorf("set ZAP domain: %w", err))
		}
	}
	if err := sk.startMonitor(s.nextInproc("monitor"), s.monitorHold); err != nil {
		return fail(err)
	}
	for _, ep := range cfg.Bind {
		ep, err := bindEndpoint(context.Background(), ep, cfg.IPv6)
		if err != nil {
			return fail(fmt.Errorf("bind: %w", err))
		}
		if err := zs.Bind(ep); err != nil {
			return fail(fmt.Errorf("bind %s: %w", ep, err))
		}
		last, err := zs.GetLastEndpoint()
		if err != nil {
			return fail(fmt.Errorf("bind %s: read bound endpoint: %w", ep, err))
		}
		sk.bound = append(sk.bound, last)
	}
	for _, ep := range cfg.Connect {
		if err := zs.Connect(ep); err != nil {
			return fail(fmt.Errorf("connect %s: %w", ep, err))
		}
	}
	return sk, nil
}

// handshakeIvl is how long a peer has to complete the ZMTP handshake
// (ZMQ_HANDSHAKE_IVL; libzmq's default is 30 s): a connection that does
// not speak ZMTP is counted as a failed handshake and closed after it.
const handshakeIvl = 10 * time.Second

func applyOptions(zs *zmq.Socket, kind string, cfg *zmqopts.Config) error {
	set := func(name string, err error) error {
		if err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
		return nil
	}
	linger := time.Duration(cfg.LingerMs) * time.Millisecond
	if cfg.LingerMs < 0 {
		linger = -1
	}
	steps := []func() error{
		func() error { return set(zmqopts.AttrLinger, zs.SetLinger(linger)) },
		func() error { return set(zmqopts.AttrSndHWM, zs.SetSndhwm(sndHWM(kind, cfg.SndHWM))) },
		func() error { return set(zmqopts.AttrRcvHWM, zs.SetRcvhwm(cfg.RcvHWM)) },
		func() error { return set(zmqopts.AttrSndBuf, zs.SetSndbuf(cfg.SndBuf)) },
		func() error { return set(zmqopts.AttrRcvBuf, zs.SetRcvbuf(cfg.RcvBuf)) },
		func() error { return set(zmqopts.AttrIPv6, zs.SetIpv6(cfg.IPv6)) },
		func() error { return set(zmqopts.AttrImmediate, zs.SetImmediate(cfg.Immediate)) },
		func() error { return set("handshake interval", zs.SetHandshakeIvl(handshakeIvl)) },
	}
	if cfg.MaxMessageBytes > 0 {
		// libzmq disconnects a peer sending a larger frame itself.
		steps = append(steps, func() error { return set(zmqopts.AttrMaxMsgBytes, zs.SetMaxmsgsize(int64(cfg.MaxMessageBytes))) })
	}
	if kind == KindXPub {
		// libzmq's XPUB_VERBOSE and XPUB_VERBOSER both write the "verbose
		// subscribe" flag, so setting one to 0 undoes the other: set only
		// what is asked for (VERBOSER implies VERBOSE).
		if cfg.Verbose {
			steps = append(steps, func() error { return set(zmqopts.AttrVerbose, zs.SetXpubVerbose(1)) })
		}
		if cfg.Verboser {
			steps = append(steps, func() error { return set(zmqopts.AttrVerboser, zs.SetXpubVerboser(1)) })
		}
		steps = append(steps, func() error { return set(zmqopts.AttrNoDrop, zs.SetXpubNodrop(cfg.NoDrop)) })
	}
	switch {
	case cfg.CurveServer:
		steps = append(steps,
			func() error { return set(zmqopts.AttrCurveServer, zs.SetCurveServer(1)) },
			func() error { return set(zmqopts.AttrCurveSecretKey, zs.SetCurveSecretkey(cfg.CurveSecretKey)) },
		)
	case cfg.CurveServerKey != "":
		steps = append(steps,
			func() error { return set(zmqopts.AttrCurveServerKey, zs.SetCurveServerkey(cfg.CurveServerKey)) },
			func() error { return set(zmqopts.AttrCurvePublicKey, zs.SetCurvePublickey(cfg.CurvePublicKey)) },
			func() error { return set(zmqopts.AttrCurveSecretKey, zs.SetCurveSecretkey(cfg.CurveSecretKey)) },
		)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// BoundEndpoints returns the endpoints socket id is bound to, as libzmq
// resolved them (a wildcard port reads as the port picked).
func (s *Server) BoundEndpoints(id string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sk, ok := s.sockets[id]
	if !ok {
		return nil, fmt.Errorf("bound endpoints: no socket %q", id)
	}
	return append([]string(nil), sk.bound...), nil
}

// Close stops the links that use socket id, then closes it, honouring its
// linger_ms; the socket's context is terminated with its last socket.
// Close returns once libzmq has let go of the socket, or when ctx ends
// first (with ctx's error; the socket is gone either way, and its context
// ends when the lingering messages are out).
func (s *Server) Close(ctx context.Context, id string) error {
	s.mu.Lock()
	sk, ok := s.sockets[id]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("close: no socket %q", id)
	}
	var stopErr error
	for _, l := range s.linksUsingLocked(sk) {
		if err := s.stopLinkLocked(l); err != nil && stopErr == nil {
			stopErr = err
		}
	}
	delete(s.sockets, id)
	s.mu.Unlock()

	closeErr := sk.closeSocket()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sk.release()
		s.mu.Lock()
		if sk.zapDomain != "" && sk.zc.zap != nil {
			sk.zc.zap.remove(sk.zapDomain)
		}
		term := s.releaseContextLocked(sk.zc)
		s.mu.Unlock()
		term()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("close %q: socket still lingering: %w", id, ctx.Err())
	}
	if stopErr != nil {
		return fmt.Errorf("close %q: %w", id, stopErr)
	}
	return closeErr
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
		return fmt.Errorf("receive from %q: nil batch", handle)
	}
	s.mu.Lock()
	sk, ok := s.sockets[handle]
	if !ok {
		if l, isLink := s.links[handle]; isLink {
			sk = l.tap
			if sk == nil {
				s.mu.Unlock()
				return fmt.Errorf("receive: link %q has no subscription tap (start it with TapSubscriptions)", handle)
			}
			ok = true
		}
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("receive: no socket or link %q", handle)
	}
	if sk.kind == KindPush {
		return fmt.Errorf("receive: push socket %q cannot receive", handle)
	}
	return sk.recv(ctx, b, lim)
}

// Send writes every message of b to socket handle. On an xpub or push
// socket, refused messages are handled by send_timeout_ms and counted; on an
// xsub socket each message must be a subscription message.
func (s *Server) Send(ctx context.Context, handle string, b *message.Batch) (transport.SendResult, error) {
	if b == nil {
		return transport.SendResult{}, fmt.Errorf("send to %q: nil batch", handle)
	}
	s.mu.Lock()
	sk, ok := s.sockets[handle]
	s.mu.Unlock()
	if !ok {
		return transport.SendResult{}, fmt.Errorf("send: no socket %q", handle)
	}
	if sk.kind == KindPull {
		return transport.SendResult{}, fmt.Errorf("send: pull socket %q cannot send", handle)
	}
	return sk.send(ctx, b)
}

// Stats returns the counters of every open socket and of every link's
// subscription tap (under the link's id), sorted by id. Connection events
// and peers are those of every monitor event libzmq had emitted when
// Stats was called.
func (s *Server) Stats(ctx context.Context) (*transport.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &transport.Stats{Sockets: make([]transport.SocketStats, 0, len(s.sockets)+len(s.links))}
	for id, sk := range s.sockets {
		sk.syncMonitor()
		ss := sk.c.stats(id)
		ss.Peers = sk.peerStats()
		st.Sockets = append(st.Sockets, ss)
	}
	for _, l := range s.links {
		st.Sockets = append(st.Sockets, l.stats())
	}
	sort.Slice(st.Sockets, func(i, j int) bool { return st.Sockets[i].ID < st.Sockets[j].ID })
	return st, nil
}

var _ transport.Validator = (*Server)(nil)

// Validate checks a socket's configuration the way Open does, without
// creating anything: attribute types and ranges, endpoint syntax, CURVE
// keys and roles (a bind host name is not resolved here; Open resolves
// it). Binds lists the socket's bind endpoints, normalized.
func (s *Server) Validate(ctx context.Context, kind string, config []byte) (*transport.Validation, error) {
	return s.variant.Validate(kind, config), nil
}

var _ transport.Quiescer = (*Server)(nil)

// Quiesce stops the xsub or pull socket id from taking in new data (see
// transport.Quiescer): its peers are made to end their connections once
// they have sent what they were sending, then the receives stop listening
// and disconnect; Recv returns everything received, then
// transport.ErrDrained.
func (s *Server) Quiesce(ctx context.Context, id string) error {
	s.mu.Lock()
	sk, ok := s.sockets[id]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("quiesce: no socket %q", id)
	}
	if sk.kind != KindXSub && sk.kind != KindPull {
		return fmt.Errorf("quiesce %s socket %q: only sources (xsub, pull) drain: %w", sk.kind, id, errors.ErrUnsupported)
	}
	return sk.quiesce(ctx)
}

// sndHWM is the ZMQ_SNDHWM a socket of kind gets for the sndhwm attribute
// hwm: an xsub's is at least xsubMinSndHWM.
func sndHWM(kind string, hwm int) int {
	if kind == KindXSub && hwm != 0 {
		return max(hwm, xsubMinSndHWM)
	}
	return hwm
}
