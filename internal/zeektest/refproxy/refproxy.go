// Package refproxy runs the reference broker: libzmq's own steerable proxy
// with the socket setup of Zeek's built-in proxy thread (XPUB with
// XPUB_VERBOSER=1 and XPUB_NODROP=1 bound first, then XSUB; 2 I/O threads).
// Other brokers are compared against it.
package refproxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// controlEndpoint is where the proxy's REP control socket listens, inside
// the proxy's own context (as in Zeek).
const controlEndpoint = "inproc://proxy-control"

// controlTimeout bounds a control request (STATISTICS).
const controlTimeout = 5 * time.Second

// Config configures the reference broker.
type Config struct {
	// XSub is the XSUB bind endpoint (Zeek's listen_xsub_endpoint); nodes'
	// XPUB sockets connect here. "tcp://127.0.0.1:*" picks a free port.
	XSub string
	// XPub is the XPUB bind endpoint (listen_xpub_endpoint); nodes' XSUB
	// sockets connect here.
	XPub string
	// IOThreads is proxy_io_threads (default 2).
	IOThreads int
	// AllowDrops turns XPUB_NODROP off (listen_xpub_nodrop = F).
	AllowDrops bool
}

// Proxy is a running reference broker. Its proxy loop runs in a goroutine
// the Proxy owns; Close stops it.
type Proxy struct {
	zctx       *zmq.Context
	xsubEP     string
	xpubEP     string
	mu         sync.Mutex
	control    *zmq.Socket // REQ side of the control socket; nil once closed
	done       chan struct{}
	proxyError error // set by the loop goroutine before done is closed
}

// Start binds the sockets and starts the proxy loop.
func Start(cfg Config) (*Proxy, error) {
	if cfg.XSub == "" || cfg.XPub == "" {
		return nil, fmt.Errorf("refproxy: both endpoints are required (xsub %q, xpub %q)", cfg.XSub, cfg.XPub)
	}
	if cfg.IOThreads <= 0 {
		cfg.IOThreads = 2
	}
	zctx, err := zmq.NewContext()
	if err != nil {
		return nil, fmt.Errorf("refproxy: zmq context: %w", err)
	}
	var socks []*zmq.Socket
	fail := func(err error) (*Proxy, error) {
		for _, s := range socks {
			_ = s.Close()
		}
		_ = zctx.Term()
		return nil, fmt.Errorf("refproxy: %w", err)
	}
	newSocket := func(t zmq.Type) (*zmq.Socket, error) {
		s, err := zctx.NewSocket(t)
		if err != nil {
			return nil, fmt.Errorf("%v socket: %w", t, err)
		}
		socks = append(socks, s)
		return s, nil
	}
	if err := zctx.SetIoThreads(cfg.IOThreads); err != nil {
		return fail(fmt.Errorf("io threads %d: %w", cfg.IOThreads, err))
	}
	xpub, err := newSocket(zmq.XPUB)
	if err != nil {
		return fail(err)
	}
	if err := xpub.SetXpubVerboser(1); err != nil {
		return fail(fmt.Errorf("xpub verboser: %w", err))
	}
	if err := xpub.SetXpubNodrop(!cfg.AllowDrops); err != nil {
		return fail(fmt.Errorf("xpub nodrop: %w", err))
	}
	if err := xpub.Bind(cfg.XPub); err != nil {
		return fail(fmt.Errorf("bind xpub %s: %w", cfg.XPub, err))
	}
	xsub, err := newSocket(zmq.XSUB)
	if err != nil {
		return fail(err)
	}
	if err := xsub.Bind(cfg.XSub); err != nil {
		return fail(fmt.Errorf("bind xsub %s: %w", cfg.XSub, err))
	}
	rep, err := newSocket(zmq.REP)
	if err != nil {
		return fail(err)
	}
	if err := rep.Bind(controlEndpoint); err != nil {
		return fail(fmt.Errorf("bind %s: %w", controlEndpoint, err))
	}
	req, err := newSocket(zmq.REQ)
	if err != nil {
		return fail(err)
	}
	if err := req.SetLinger(0); err != nil {
		return fail(fmt.Errorf("control linger: %w", err))
	}
	// A control request never waits for long on a proxy that has died.
	if err := req.SetSndtimeo(controlTimeout); err != nil {
		return fail(fmt.Errorf("control send timeout: %w", err))
	}
	if err := req.SetRcvtimeo(controlTimeout); err != nil {
		return fail(fmt.Errorf("control receive timeout: %w", err))
	}
	if err := req.Connect(controlEndpoint); err != nil {
		return fail(fmt.Errorf("connect %s: %w", controlEndpoint, err))
	}
	xpubEP, err := xpub.GetLastEndpoint()
	if err != nil {
		return fail(fmt.Errorf("xpub endpoint: %w", err))
	}
	xsubEP, err := xsub.GetLastEndpoint()
	if err != nil {
		return fail(fmt.Errorf("xsub endpoint: %w", err))
	}
	p := &Proxy{zctx: zctx, xsubEP: xsubEP, xpubEP: xpubEP, control: req, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		err := zmq.ProxySteerable(xsub, xpub, nil, rep)
		for _, s := range []*zmq.Socket{xsub, xpub, rep} {
			_ = s.Close()
		}
		if err != nil {
			// Read only after done is closed.
			p.proxyError = fmt.Errorf("refproxy: proxy loop: %w", err)
		}
	}()
	return p, nil
}

// XSubEndpoint returns the bound XSUB endpoint, with the port resolved.
func (p *Proxy) XSubEndpoint() string { return p.xsubEP }

// XPubEndpoint returns the bound XPUB endpoint, with the port resolved.
func (p *Proxy) XPubEndpoint() string { return p.xpubEP }

// Done is closed when the proxy loop has ended.
func (p *Proxy) Done() <-chan struct{} { return p.done }

// Statistics sends STATISTICS on the control socket and returns the eight
// counters of the reply (frames and bytes received and sent by the XSUB
// "frontend", then by the XPUB "backend").
func (p *Proxy) Statistics() ([8]uint64, error) {
	var stats [8]uint64
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.control == nil {
		return stats, errors.New("refproxy: statistics: proxy closed")
	}
	select {
	case <-p.done:
		return stats, errors.New("refproxy: statistics: proxy loop has ended")
	default:
	}
	if _, err := p.control.Send("STATISTICS", 0); err != nil {
		return stats, fmt.Errorf("refproxy: statistics: %w", err)
	}
	reply, err := p.control.RecvMessageBytes(0)
	if err != nil {
		return stats, fmt.Errorf("refproxy: statistics reply: %w", err)
	}
	if len(reply) != 8 {
		return stats, fmt.Errorf("refproxy: statistics reply has %d frames, want 8", len(reply))
	}
	for i, f := range reply {
		if len(f) != 8 {
			return stats, fmt.Errorf("refproxy: statistics frame %d has %d bytes, want 8", i, len(f))
		}
		stats[i] = binary.NativeEndian.Uint64(f)
	}
	return stats, nil
}

// Close stops the proxy loop (TERMINATE on the control socket), closes the
// sockets and terminates the context.
func (p *Proxy) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.control == nil {
		return p.proxyError
	}
	var errs []error
	select {
	case <-p.done:
	default:
		if _, err := p.control.Send("TERMINATE", 0); err != nil {
			// Terminating the context below ends the loop as well.
			errs = append(errs, fmt.Errorf("refproxy: send TERMINATE: %w", err))
		} else {
			<-p.done
		}
	}
	_ = p.control.Close()
	p.control = nil
	if err := p.zctx.Term(); err != nil {
		errs = append(errs, fmt.Errorf("refproxy: terminate context: %w", err))
	}
	<-p.done
	if len(errs) == 0 {
		return p.proxyError
	}
	return errors.Join(errs...)
}

// Run starts the proxy, calls ready with the bound endpoints, and serves
// until ctx is done.
func Run(ctx context.Context, cfg Config, ready func(xsub, xpub string)) error {
	p, err := Start(cfg)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(p.XSubEndpoint(), p.XPubEndpoint())
	}
	select {
	case <-ctx.Done():
	case <-p.Done():
	}
	return p.Close()
}
