package zmqtransport

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/ratelog"
)

// zapEndpoint is where libzmq looks for a ZAP handler in a context
// (ZeroMQ RFC 27).
const zapEndpoint = "inproc://zeromq.zap.01"

// zapTryLater is the ZAP status of a temporary refusal, and the value of
// the EVENT_HANDSHAKE_FAILED_AUTH it causes.
const (
	zapTryLater      = "300"
	zapTryLaterEvent = 300
)

// zapHandler answers ZAP requests for the sockets of one context that
// have a ZAP domain: the sources (xsub, pull), which refuse new peers
// while they drain, and CURVE servers with an allow-list. Requests for a
// draining socket are refused for now (status 300: libzmq ends the
// handshake without telling the peer that it failed, so the peer tries
// again later, as after any lost connection); requests for an allow-list
// are approved only for the CURVE mechanism and a listed client key, with
// the replies Zeek's handler gives. Everything else is approved, as it
// would be without a handler.
type zapHandler struct {
	log     *slog.Logger
	refused *ratelog.Limiter // refusals: WARN, rate-limited

	mu      sync.Mutex
	domains map[string]zapDomain

	rep, ctrlIn, ctrlOut *zmq.Socket
	done                 chan struct{}
}

// zapDomain is what the handler knows of one socket's ZAP domain.
type zapDomain struct {
	// allowed are the raw 32-byte CURVE client keys admitted; nil admits
	// every client.
	allowed [][]byte
	// draining, while set, refuses every handshake for now.
	draining *atomic.Bool
}

func startZAP(ctx *zmq.Context, controlAddr string, log *slog.Logger) (*zapHandler, error) {
	z := &zapHandler{log: log, refused: ratelog.New(log, ratelog.DefaultInterval),
		domains: map[string]zapDomain{}, done: make(chan struct{})}
	var err error
	cleanup := func() {
		for _, s := range []*zmq.Socket{z.rep, z.ctrlIn, z.ctrlOut} {
			if s != nil {
				s.Close()
			}
		}
	}
	newSock := func(t zmq.Type) *zmq.Socket {
		if err != nil {
			return nil
		}
		var s *zmq.Socket
		if s, err = ctx.NewSocket(t); err == nil {
			err = s.SetLinger(0)
		}
		return s
	}
	z.rep = newSock(zmq.REP)
	z.ctrlIn = newSock(zmq.PAIR)
	z.ctrlOut = newSock(zmq.PAIR)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("ZAP handler: %w", err)
	}
	if err := z.rep.Bind(zapEndpoint); err != nil {
		cleanup()
		return nil, fmt.Errorf("ZAP handler: bind %s: %w", zapEndpoint, err)
	}
	if err := z.ctrlIn.Bind(controlAddr); err != nil {
		cleanup()
		return nil, fmt.Errorf("ZAP handler: bind %s: %w", controlAddr, err)
	}
	if err := z.ctrlOut.Connect(controlAddr); err != nil {
		cleanup()
		return nil, fmt.Errorf("ZAP handler: connect %s: %w", controlAddr, err)
	}
	go z.serve()
	return z, nil
}

func (z *zapHandler) add(domain string, d zapDomain) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.domains[domain] = d
}

func (z *zapHandler) remove(domain string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	delete(z.domains, domain)
}

// stop ends the handler goroutine and closes its sockets.
func (z *zapHandler) stop() {
	if _, err := z.ctrlOut.Send("stop", 0); err == nil {
		<-z.done
	}
	z.ctrlOut.Close()
}

func (z *zapHandler) serve() {
	defer close(z.done)
	defer z.rep.Close()
	defer z.ctrlIn.Close()
	poller := zmq.NewPoller()
	poller.Add(z.rep, zmq.POLLIN)
	poller.Add(z.ctrlIn, zmq.POLLIN)
	for {
		polled, err := poller.PollAll(-1)
		if err != nil {
			if zmq.AsErrno(err) == zmq.Errno(syscall.EINTR) {
				continue
			}
			z.log.Error("ZAP handler stopped", "err", err)
			return
		}
		if polled[1].Events&zmq.POLLIN != 0 {
			return
		}
		if polled[0].Events&zmq.POLLIN == 0 {
			continue
		}
		req, err := z.rep.RecvMessageBytes(0)
		if err != nil {
			z.log.Error("ZAP handler: receive request", "err", err)
			return
		}
		if _, err := z.rep.SendMessage(z.answer(req)); err != nil {
			z.log.Error("ZAP handler: send reply", "err", err)
			return
		}
	}
}

// answer builds the six reply frames for one request: version, request
// id, status code, status text, user id, metadata.
func (z *zapHandler) answer(req [][]byte) [][]byte {
	var id []byte
	if len(req) >= 2 {
		id = req[1]
	}
	deny := [][]byte{[]byte("1.0"), id, []byte("400"), []byte("Invalid ZAP request"), {}, {}}
	// Version, request id, domain, address, identity, mechanism, then the
	// mechanism's credentials: none for NULL, the client key for CURVE.
	if len(req) < 6 || string(req[0]) != "1.0" {
		return deny
	}
	domain, address, mechanism := string(req[2]), string(req[3]), string(req[5])
	var key []byte
	if len(req) > 6 {
		key = req[6]
	}
	z.mu.Lock()
	d := z.domains[domain]
	z.mu.Unlock()
	if d.draining != nil && d.draining.Load() {
		return [][]byte{[]byte("1.0"), id, []byte(zapTryLater), []byte("Draining"), {}, {}}
	}
	if d.allowed == nil {
		return [][]byte{[]byte("1.0"), id, []byte("200"), []byte("OK"), {}, {}}
	}
	if mechanism == "CURVE" {
		for _, k := range d.allowed {
			if bytes.Equal(k, key) {
				z.log.Debug("ZAP: client approved", "domain", domain, "peer", address)
				return [][]byte{[]byte("1.0"), id, []byte("200"), []byte("OK"), []byte("0"), {}}
			}
		}
	}
	client := ""
	if mechanism == "CURVE" && len(key) == 32 {
		client = zmq.Z85encode(string(key))
	}
	z.refused.Warn("CURVE client refused: its key is not in curve_allowed_clients", "socket", strings.TrimPrefix(domain, "zpipe:"),
		"peer", address, "mechanism", mechanism, "client_publickey", client)
	return deny
}
