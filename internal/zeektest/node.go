package zeektest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/core/zeekproto"
)

// Unlimited, given as a high-water mark, disables the limit (libzmq's 0).
const Unlimited = -1

// Zeek's defaults (options.zeek).
const (
	DefaultHWM             = 1000
	DefaultLinger          = 500 * time.Millisecond
	DefaultHelloExpiration = 10 * time.Second
	// pollMaxMessages is poll_max_messages: messages read per socket and
	// poll round.
	pollMaxMessages = 100
)

// ErrClosed is returned by operations on a closed Node or LogSender.
var ErrClosed = errors.New("zeektest: closed")

// Config describes a Zeek-like node.
type Config struct {
	// Name is the node's name (Cluster::node), e.g. "worker-1". Required.
	Name string
	// Role is the node type: manager, logger, proxy or worker (default).
	// It selects the node-type topic zeek.cluster.<role>.
	Role string
	// Pools lists the pools the node is a member of ("worker", "proxy",
	// "logger"). Nil means the pool of the role (none for a manager); an
	// empty, non-nil slice means none.
	Pools []string
	// Topics are extra script-level subscriptions made during zeek_init,
	// after zeek/table/ and before the pool topics.
	Topics []string
	// BrokerXPub is the broker's XPUB endpoint; the node's XSUB connects
	// to it (Zeek's connect_xsub_endpoint). Required.
	BrokerXPub string
	// BrokerXSub is the broker's XSUB endpoint; the node's XPUB connects
	// to it (Zeek's connect_xpub_endpoint). Required.
	BrokerXSub string
	// ID overrides the generated node id.
	ID string
	// Host and PID are parts of the generated node id; defaults: this
	// machine and this process.
	Host string
	PID  int
	// KnownNodes are the names in Cluster::nodes. Cluster::hello from other
	// names is an error. Empty accepts every name.
	KnownNodes []string
	// HelloExpiration is hello_expiration (default 10 s).
	HelloExpiration time.Duration
	// XSubRcvHWM is xsub_rcvhwm (default 1000; Unlimited for none).
	XSubRcvHWM int
	// XPubSndHWM is xpub_sndhwm (default 1000; Unlimited for none). A
	// publish that finds the limit reached is dropped and counted, as Zeek
	// does.
	XPubSndHWM int
	// Linger is linger_ms for the XPUB socket (default 500 ms). The XSUB
	// socket gets it too, so that Close never hangs on an absent broker.
	Linger time.Duration
	// NoStartupSubscriptions leaves out Zeek's startup subscriptions
	// (supervisor, table, pools, role, node id, node name): a bare
	// participant that only subscribes to what it is told to.
	NoStartupSubscriptions bool
	// NoHello keeps the node out of the hello protocol: it neither answers
	// node-id subscriptions nor raises node_up/node_down, like a bridge
	// that only watches the bus.
	NoHello bool
}

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, errors.New("node config: name is required")
	}
	if c.BrokerXPub == "" || c.BrokerXSub == "" {
		return c, fmt.Errorf("node %s: both broker endpoints are required (xpub %q, xsub %q)", c.Name, c.BrokerXPub, c.BrokerXSub)
	}
	if c.Role == "" {
		c.Role = "worker"
	}
	switch c.Role {
	case "manager", "logger", "proxy", "worker":
	default:
		return c, fmt.Errorf("node %s: role %q: want manager, logger, proxy or worker", c.Name, c.Role)
	}
	if c.Pools == nil && c.Role != "manager" {
		c.Pools = []string{c.Role}
	}
	if c.HelloExpiration <= 0 {
		c.HelloExpiration = DefaultHelloExpiration
	}
	if c.XSubRcvHWM == 0 {
		c.XSubRcvHWM = DefaultHWM
	}
	if c.XPubSndHWM == 0 {
		c.XPubSndHWM = DefaultHWM
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	return c, nil
}

// hwm maps a Config high-water mark to libzmq's value.
func hwm(v int) int {
	if v < 0 {
		return 0
	}
	return v
}

// StartupTopics returns the subscriptions a node with this configuration
// makes at start, in Zeek's order (docs/zeek-wire.md#topics).
func (c Config) StartupTopics(id string) []string {
	topics := []string{SupervisorTopic, TableTopic}
	topics = append(topics, c.Topics...)
	pools := make([]string, 0, len(c.Pools))
	for _, p := range c.Pools {
		pools = append(pools, PoolTopic(p))
	}
	sort.Strings(pools)
	topics = append(topics, pools...)
	return append(topics, RoleTopic(c.Role), NodeIDTopic(id), NodeTopic(c.Name))
}

// Commands from callers to the I/O goroutine travel over an inproc PAIR
// socket as multipart messages whose first frame is one of these.
const (
	opPublish = 'P' // frames: the message to send on the XPUB
	opXSub    = 'S' // frame: one message to send on the XSUB
	opWatch   = 'W' // frames: token, prefix — register a callback, then subscribe
	opPause   = 'Z' // stop reading the XSUB
	opResume  = 'R' // read the XSUB again
	opStop    = 'Q' // end the I/O goroutine
)

// Node is a Zeek-like cluster node connected to a central broker. Its socket
// I/O runs in a goroutine the Node owns; Close stops it and closes the
// sockets. All methods are safe for concurrent use.
type Node struct {
	cfg Config
	id  string

	cmdMu    sync.Mutex
	cmdOut   *zmq.Socket // nil once the I/O goroutine has ended
	stopping bool

	tokens atomic.Uint64 // ready-probe callbacks
	probes atomic.Uint64 // ready-probe counter, like Zeek's

	st   state
	done chan struct{}
	wg   sync.WaitGroup
}

// StartNode opens the node's sockets, connects them to the broker and
// starts the node's I/O goroutine, which makes the startup subscriptions as
// soon as both connections are up. The node stops when ctx is done or Close
// is called.
func StartNode(ctx context.Context, cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	id := cfg.ID
	if id == "" {
		if id, err = NewNodeID(cfg.Name, cfg.Host, cfg.PID); err != nil {
			return nil, fmt.Errorf("node %s: %w", cfg.Name, err)
		}
	}
	n := &Node{cfg: cfg, id: id, done: make(chan struct{})}
	n.st.init()

	zctx, err := zmq.NewContext()
	if err != nil {
		return nil, fmt.Errorf("node %s: zmq context: %w", cfg.Name, err)
	}
	s, err := openNodeSockets(zctx, cfg)
	if err != nil {
		s.close()
		_ = zctx.Term()
		return nil, fmt.Errorf("node %s: %w", cfg.Name, err)
	}
	n.cmdOut = s.cmdOut
	hp := newHelloProtocol(cfg.Name, id, cfg.KnownNodes, cfg.HelloExpiration)

	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		n.run(zctx, s, hp)
	}()
	go func() {
		defer n.wg.Done()
		select {
		case <-ctx.Done():
			n.stop()
		case <-n.done:
		}
	}()
	return n, nil
}

// nodeSockets are a node's sockets; all but cmdOut belong to the I/O
// goroutine once it runs.
type nodeSockets struct {
	xsub, xpub *zmq.Socket
	// xsubMonitor and xpubMonitor receive the sockets' monitor events.
	xsubMonitor, xpubMonitor *zmq.Socket
	// cmdIn and cmdOut carry commands from callers to the I/O goroutine.
	cmdIn, cmdOut *zmq.Socket
}

func (s *nodeSockets) close() {
	for _, so := range []*zmq.Socket{s.xsub, s.xpub, s.xsubMonitor, s.xpubMonitor, s.cmdIn, s.cmdOut} {
		if so != nil {
			_ = so.Close()
		}
	}
}

func openNodeSockets(zctx *zmq.Context, cfg Config) (*nodeSockets, error) {
	s := &nodeSockets{}
	var err error
	if s.xsub, err = zctx.NewSocket(zmq.XSUB); err != nil {
		return s, fmt.Errorf("xsub socket: %w", err)
	}
	if s.xpub, err = zctx.NewSocket(zmq.XPUB); err != nil {
		return s, fmt.Errorf("xpub socket: %w", err)
	}
	if s.xsubMonitor, err = zctx.NewSocket(zmq.PAIR); err != nil {
		return s, fmt.Errorf("monitor socket: %w", err)
	}
	if s.xpubMonitor, err = zctx.NewSocket(zmq.PAIR); err != nil {
		return s, fmt.Errorf("monitor socket: %w", err)
	}
	if s.cmdIn, err = zctx.NewSocket(zmq.PAIR); err != nil {
		return s, fmt.Errorf("command socket: %w", err)
	}
	if s.cmdOut, err = zctx.NewSocket(zmq.PAIR); err != nil {
		return s, fmt.Errorf("command socket: %w", err)
	}
	type step struct {
		what string
		do   func() error
	}
	// Each node has its own context, so fixed inproc names do.
	const (
		inproc      = "inproc://commands"
		xsubMonitor = "inproc://xsub-monitor"
		xpubMonitor = "inproc://xpub-monitor"
	)
	steps := []step{
		{"xsub rcvhwm", func() error { return s.xsub.SetRcvhwm(hwm(cfg.XSubRcvHWM)) }},
		{"xsub linger", func() error { return s.xsub.SetLinger(cfg.Linger) }},
		{"xpub linger", func() error { return s.xpub.SetLinger(cfg.Linger) }},
		{"xpub nodrop", func() error { return s.xpub.SetXpubNodrop(true) }},
		{"xpub verbose", func() error { return s.xpub.SetXpubVerbose(1) }},
		{"xpub sndhwm", func() error { return s.xpub.SetSndhwm(hwm(cfg.XPubSndHWM)) }},
		// The command pipe never blocks a caller: both ends unlimited.
		{"command rcvhwm", func() error { return s.cmdIn.SetRcvhwm(0) }},
		{"command sndhwm", func() error { return s.cmdOut.SetSndhwm(0) }},
		{"command linger", func() error { return s.cmdIn.SetLinger(0) }},
		{"command linger", func() error { return s.cmdOut.SetLinger(0) }},
		{"bind " + inproc, func() error { return s.cmdIn.Bind(inproc) }},
		{"connect " + inproc, func() error { return s.cmdOut.Connect(inproc) }},
		// Zeek monitors its sockets too (all events).
		{"monitor xsub", func() error { return s.xsub.Monitor(xsubMonitor, zmq.EVENT_ALL) }},
		{"monitor xpub", func() error { return s.xpub.Monitor(xpubMonitor, zmq.EVENT_ALL) }},
		{"connect " + xsubMonitor, func() error { return s.xsubMonitor.Connect(xsubMonitor) }},
		{"connect " + xpubMonitor, func() error { return s.xpubMonitor.Connect(xpubMonitor) }},
		{"monitor linger", func() error { return s.xsubMonitor.SetLinger(0) }},
		{"monitor linger", func() error { return s.xpubMonitor.SetLinger(0) }},
		{"connect xsub to " + cfg.BrokerXPub, func() error { return s.xsub.Connect(cfg.BrokerXPub) }},
		{"connect xpub to " + cfg.BrokerXSub, func() error { return s.xpub.Connect(cfg.BrokerXSub) }},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			return s, fmt.Errorf("%s: %w", st.what, err)
		}
	}
	return s, nil
}

// ID returns the node id.
func (n *Node) ID() string { return n.id }

// Name returns the node name.
func (n *Node) Name() string { return n.cfg.Name }

// Config returns the node's configuration with defaults applied.
func (n *Node) Config() Config { return n.cfg }

// Done is closed when the node's I/O goroutine has ended and its sockets
// are closed.
func (n *Node) Done() <-chan struct{} { return n.done }

// Close stops the node's I/O goroutine, closes its sockets and returns the
// error that ended the goroutine early, if any. The node's subscriptions go
// away with its connection, as when a Zeek node exits.
func (n *Node) Close() error {
	n.stop()
	n.wg.Wait()
	return n.st.fatalError()
}

func (n *Node) stop() {
	n.cmdMu.Lock()
	defer n.cmdMu.Unlock()
	if n.cmdOut == nil || n.stopping {
		return
	}
	n.stopping = true
	if _, err := n.cmdOut.SendBytes([]byte{opStop}, 0); err != nil {
		n.st.setFatal(fmt.Errorf("node %s: send stop: %w", n.cfg.Name, err))
	}
}

// command hands a message to the I/O goroutine.
func (n *Node) command(op byte, frames ...[]byte) error {
	n.cmdMu.Lock()
	defer n.cmdMu.Unlock()
	if n.cmdOut == nil || n.stopping {
		return fmt.Errorf("node %s: %w", n.cfg.Name, ErrClosed)
	}
	parts := append([][]byte{{op}}, frames...)
	if _, err := n.cmdOut.SendMessage(parts); err != nil {
		return fmt.Errorf("node %s: command %c: %w", n.cfg.Name, op, err)
	}
	return nil
}

// Publish sends a Zeek event message: topic, this node's id,
// "broker-bin-v1", payload. As in Zeek, the send does not wait: if the XPUB
// high-water mark is reached the message is dropped and counted (see
// XPubDrops).
func (n *Node) Publish(topic string, payload []byte) error {
	return n.command(opPublish, []byte(topic), []byte(n.id), []byte(FormatBrokerBinV1), payload)
}

// PublishEvent encodes the event name(args...) in broker-bin-v1 and
// publishes it to topic.
func (n *Node) PublishEvent(topic, name string, args ...any) error {
	payload, err := EncodeEvent(name, args...)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.cfg.Name, err)
	}
	return n.Publish(topic, payload)
}

// PublishRaw sends frames as one multipart message on the node's XPUB,
// whatever their number and content.
func (n *Node) PublishRaw(frames ...[]byte) error {
	if len(frames) == 0 {
		return fmt.Errorf("node %s: publish raw: no frames", n.cfg.Name)
	}
	return n.command(opPublish, frames...)
}

// Subscribe subscribes the node's XSUB to prefix (sends 01 prefix).
func (n *Node) Subscribe(prefix string) error {
	return n.command(opXSub, append([]byte{1}, prefix...))
}

// Unsubscribe removes a subscription (sends 00 prefix).
func (n *Node) Unsubscribe(prefix string) error {
	return n.command(opXSub, append([]byte{0}, prefix...))
}

// SendXSubRaw sends one arbitrary single-frame message on the node's XSUB.
func (n *Node) SendXSubRaw(frame []byte) error {
	return n.command(opXSub, frame)
}

// WaitSubscription subscribes to prefix and returns once the broker has
// processed the subscription: it then runs the ready probe (see Ready),
// whose echo can only come back after the broker has handled everything
// this node sent before it (docs/zeek-wire.md#ready-probe). Other nodes
// have then been sent the subscription too.
func (n *Node) WaitSubscription(ctx context.Context, prefix string) error {
	if err := n.Subscribe(prefix); err != nil {
		return err
	}
	if err := n.Ready(ctx); err != nil {
		return fmt.Errorf("subscription %q: %w", prefix, err)
	}
	return nil
}

// Ready runs Zeek's ready-to-publish probe: it subscribes to
// zeek.zeromq.internal.<id>.<n>. (n counts probes), waits until the broker
// echoes that subscription back to this node, and unsubscribes. Since a
// broker keeps each connection's subscriptions in order, every earlier
// subscription of this node has reached the broker by then, and the broker
// has replayed all older subscriptions of other nodes to this one.
func (n *Node) Ready(ctx context.Context) error {
	topic := zeekproto.ProbeTopic(n.id, n.probes.Add(1))
	token := n.tokens.Add(1)
	if err := n.command(opWatch, binary.BigEndian.AppendUint64(nil, token), []byte(topic)); err != nil {
		return err
	}
	if err := n.st.wait(ctx, n.cfg.Name, "echo of the ready probe "+strconv.Quote(topic), func(s *state) bool {
		return s.fired[token]
	}); err != nil {
		return err
	}
	return n.Unsubscribe(topic)
}

// PauseEvents stops reading incoming events from the XSUB, like a node
// whose I/O thread is stuck; the broker then sees a slow subscriber.
// Subscriptions on the XPUB are still processed.
func (n *Node) PauseEvents() error { return n.command(opPause) }

// ResumeEvents reads incoming events again after PauseEvents.
func (n *Node) ResumeEvents() error { return n.command(opResume) }

// loop state owned by the I/O goroutine.
type loop struct {
	n       *Node
	s       *nodeSockets
	hello   *helloProtocol
	known   map[string]bool     // topics seen on the XPUB (Zeek's dedup set)
	watches map[string][]uint64 // prefix → ready-probe tokens
	warned  bool                // xpub drop warning printed
	// connected turns true once both sockets have completed their first
	// handshake with the broker. Until then subscription messages wait in
	// pending: libzmq would keep them but replay them in its own order,
	// and the node would learn its own subscriptions from the broker's
	// replay rather than as echoes in order.
	xsubUp, xpubUp, connected bool
	pending                   [][]byte
}

func (n *Node) run(zctx *zmq.Context, s *nodeSockets, hp *helloProtocol) {
	l := &loop{n: n, s: s, hello: hp, known: map[string]bool{}, watches: map[string][]uint64{}}
	if !n.cfg.NoStartupSubscriptions {
		for _, t := range n.cfg.StartupTopics(n.id) {
			l.pending = append(l.pending, append([]byte{1}, t...))
		}
	}
	err := l.serve()
	s.xsub.Close()
	s.xpub.Close()
	s.xsubMonitor.Close()
	s.xpubMonitor.Close()
	s.cmdIn.Close()
	n.cmdMu.Lock()
	s.cmdOut.Close()
	n.cmdOut = nil
	n.cmdMu.Unlock()
	if terr := zctx.Term(); terr != nil && err == nil {
		err = fmt.Errorf("node %s: terminate context: %w", n.cfg.Name, terr)
	}
	if err != nil {
		n.st.setFatal(err)
	}
	n.st.finish()
	close(n.done)
}

func isEAGAIN(err error) bool { return zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN) }

func (l *loop) serve() error {
	poller := zmq.NewPoller()
	poller.Add(l.s.cmdIn, zmq.POLLIN)
	poller.Add(l.s.xpub, zmq.POLLIN)
	poller.Add(l.s.xsubMonitor, zmq.POLLIN)
	poller.Add(l.s.xpubMonitor, zmq.POLLIN)
	xsubID := poller.Add(l.s.xsub, zmq.POLLIN)
	name := l.n.cfg.Name
	for {
		timeout := time.Duration(-1)
		if next, ok := l.hello.nextExpiry(); ok {
			timeout = max(time.Until(next), time.Millisecond)
		}
		polled, err := poller.Poll(timeout)
		if err != nil {
			return fmt.Errorf("node %s: poll: %w", name, err)
		}
		for _, p := range polled {
			switch p.Socket {
			case l.s.cmdIn:
				stop, err := l.commands(poller, xsubID)
				if err != nil || stop {
					return err
				}
			case l.s.xpub:
				if err := l.readXPub(); err != nil {
					return err
				}
			case l.s.xsub:
				if err := l.readXSub(); err != nil {
					return err
				}
			case l.s.xsubMonitor:
				if err := l.readMonitor("xsub", l.s.xsubMonitor, &l.xsubUp); err != nil {
					return err
				}
			case l.s.xpubMonitor:
				if err := l.readMonitor("xpub", l.s.xpubMonitor, &l.xpubUp); err != nil {
					return err
				}
			}
		}
		l.apply(l.hello.expire(time.Now()))
	}
}

func (l *loop) commands(poller *zmq.Poller, xsubID int) (stop bool, err error) {
	name := l.n.cfg.Name
	for i := 0; i < pollMaxMessages; i++ {
		msg, err := l.s.cmdIn.RecvMessageBytes(zmq.DONTWAIT)
		if isEAGAIN(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("node %s: read command: %w", name, err)
		}
		if len(msg) == 0 || len(msg[0]) != 1 {
			return false, fmt.Errorf("node %s: malformed command", name)
		}
		switch msg[0][0] {
		case opStop:
			return true, nil
		case opPublish:
			l.sendXPub(msg[1:])
		case opXSub:
			l.sendXSub(msg[1])
		case opWatch:
			token, prefix := binary.BigEndian.Uint64(msg[1]), string(msg[2])
			l.watches[prefix] = append(l.watches[prefix], token)
			l.sendXSub(append([]byte{1}, prefix...))
		case opPause:
			if _, err := poller.Update(xsubID, 0); err != nil {
				return false, fmt.Errorf("node %s: pause: %w", name, err)
			}
		case opResume:
			if _, err := poller.Update(xsubID, zmq.POLLIN); err != nil {
				return false, fmt.Errorf("node %s: resume: %w", name, err)
			}
		}
	}
	return false, nil
}

// sendXSub sends a subscription message, or keeps it until the XSUB is
// connected.
func (l *loop) sendXSub(frame []byte) {
	if !l.connected {
		l.pending = append(l.pending, frame)
		return
	}
	if _, err := l.s.xsub.SendBytes(frame, 0); err != nil {
		l.n.st.addError(fmt.Sprintf("[zeromq] xsub: error: send: %v", err))
	}
}

// readMonitor records a socket's events and notes its first handshake in
// up; once both sockets are up, the pending subscription messages go out.
func (l *loop) readMonitor(socket string, monitor *zmq.Socket, up *bool) error {
	for {
		ev, addr, value, err := monitor.RecvEvent(zmq.DONTWAIT)
		if isEAGAIN(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("node %s: read socket monitor: %w", l.n.cfg.Name, err)
		}
		l.n.st.addText(&l.n.st.socketEvents, fmt.Sprintf("%s %v %s %d", socket, ev, addr, value))
		if ev == zmq.EVENT_HANDSHAKE_SUCCEEDED {
			*up = true
		}
		if l.xsubUp && l.xpubUp && !l.connected {
			l.connected = true
			pending := l.pending
			l.pending = nil
			for _, f := range pending {
				l.sendXSub(f)
			}
		}
	}
}

// sendXPub sends one message the way Zeek's I/O thread does: without
// waiting, dropping and counting it when the high-water mark is reached.
func (l *loop) sendXPub(frames [][]byte) {
	_, err := l.s.xpub.SendMessageDontwait(frames)
	switch {
	case err == nil:
		l.n.st.addPublished()
	case isEAGAIN(err):
		l.n.st.addDrop(!l.warned)
		l.warned = true
	default:
		l.n.st.addError(fmt.Sprintf("[zeromq] xpub: error: send: %v", err))
	}
}

func (l *loop) readXPub() error {
	for i := 0; i < pollMaxMessages; i++ {
		msg, err := l.s.xpub.RecvMessageBytes(zmq.DONTWAIT)
		if isEAGAIN(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("node %s: read xpub: %w", l.n.cfg.Name, err)
		}
		now := time.Now()
		if len(msg) != 1 {
			l.n.st.addMsgError(fmt.Sprintf("[zeromq] xpub: error: expected 1 part, have %d!", len(msg)), Message{Frames: msg, At: now})
			continue
		}
		if len(msg[0]) == 0 || msg[0][0] > 1 {
			continue // neither subscribe nor unsubscribe: ignored silently
		}
		sub := SubscriptionChange{Subscribe: msg[0][0] == 1, Prefix: string(msg[0][1:]), At: now}
		var fired []uint64
		if sub.Subscribe {
			fired = l.watches[sub.Prefix]
			delete(l.watches, sub.Prefix)
		}
		l.n.st.addSubscription(sub, fired)
		if sub.Subscribe {
			if l.known[sub.Prefix] {
				continue
			}
			l.known[sub.Prefix] = true
			if l.n.cfg.NoHello {
				continue
			}
			eff, err := l.hello.onSubscription(sub.Prefix, now)
			if err != nil {
				l.n.st.addError(err.Error())
			}
			l.apply(eff)
		} else {
			delete(l.known, sub.Prefix)
			if !l.n.cfg.NoHello {
				l.apply(l.hello.onUnsubscription(sub.Prefix))
			}
		}
	}
	return nil
}

func (l *loop) readXSub() error {
	for i := 0; i < pollMaxMessages; i++ {
		msg, err := l.s.xsub.RecvMessageBytes(zmq.DONTWAIT)
		if isEAGAIN(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("node %s: read xsub: %w", l.n.cfg.Name, err)
		}
		m := Message{Frames: msg, At: time.Now()}
		if len(msg) != 4 {
			l.n.st.addMsgError(fmt.Sprintf("[zeromq] xsub: error: expected 4 parts, have %d!", len(msg)), m)
			continue
		}
		if string(msg[1]) == l.n.id {
			l.n.st.addSelfFiltered()
			continue
		}
		l.n.st.addReceived(m)
		if f := string(msg[2]); f != FormatBrokerBinV1 {
			l.n.st.addError(fmt.Sprintf("ProcessEventMessage: Wrong format: %s vs %s", f, FormatBrokerBinV1))
			continue
		}
		if l.n.cfg.NoHello {
			continue
		}
		ev, err := DecodeEvent(msg[3])
		if err != nil {
			l.n.st.addError(fmt.Sprintf("Failed to unserialize message: %s: %v", msg[0], err))
			continue
		}
		eff, err := l.hello.onEvent(ev, m.At)
		if err != nil {
			l.n.st.addError(err.Error())
		}
		l.apply(eff)
	}
	return nil
}

func (l *loop) apply(effects []effect) {
	for _, e := range effects {
		switch e.kind {
		case effPublish:
			l.sendXPub([][]byte{[]byte(e.topic), []byte(l.n.id), []byte(FormatBrokerBinV1), e.payload})
		case effNodeUp:
			l.n.st.addPeer(&l.n.st.nodeUps, e.peer)
		case effNodeDown:
			l.n.st.addPeer(&l.n.st.nodeDowns, e.peer)
		case effWarning:
			l.n.st.addText(&l.n.st.warnings, e.text)
		case effError:
			l.n.st.addError(e.text)
		case effLog:
			l.n.st.addText(&l.n.st.clusterLog, e.text)
		}
	}
}
