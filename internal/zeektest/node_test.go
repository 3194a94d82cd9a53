package zeektest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/internal/zeektest/refproxy"
)

// waitTimeout bounds every wait; generous for a loaded 2-core machine.
const waitTimeout = 20 * time.Second

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// broker starts the reference proxy on tcp (port chosen by the kernel) or
// ipc (sockets in a temporary directory).
func broker(t *testing.T, transport string) *refproxy.Proxy {
	t.Helper()
	cfg := refproxy.Config{XSub: "tcp://127.0.0.1:*", XPub: "tcp://127.0.0.1:*"}
	if transport == "ipc" {
		dir := t.TempDir()
		cfg = refproxy.Config{XSub: "ipc://" + filepath.Join(dir, "xsub"), XPub: "ipc://" + filepath.Join(dir, "xpub")}
	}
	p, err := refproxy.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close proxy: %v", err)
		}
	})
	return p
}

func startNode(t *testing.T, p *refproxy.Proxy, cfg Config) *Node {
	t.Helper()
	cfg.BrokerXPub, cfg.BrokerXSub = p.XPubEndpoint(), p.XSubEndpoint()
	n, err := StartNode(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close node %s: %v", cfg.Name, err)
		}
	})
	return n
}

func TestTwoNodesHandshake(t *testing.T) {
	for _, transport := range []string{"tcp", "ipc"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			ctx := waitCtx(t)
			p := broker(t, transport)
			known := []string{"manager", "worker-1"}
			manager := startNode(t, p, Config{Name: "manager", Role: "manager", Topics: []string{"zeek.test.events"}, KnownNodes: known})
			// Once the manager is connected, it sees the worker's startup
			// subscriptions as they reach the broker.
			if err := manager.Ready(ctx); err != nil {
				t.Fatal(err)
			}
			worker := startNode(t, p, Config{Name: "worker-1", KnownNodes: known})

			up, err := manager.WaitNodeUp(ctx, "worker-1")
			if err != nil {
				t.Fatal(err)
			}
			if up.ID != worker.ID() {
				t.Fatalf("manager: node_up %+v, want id %s", up, worker.ID())
			}
			if up, err = worker.WaitNodeUp(ctx, "manager"); err != nil || up.ID != manager.ID() {
				t.Fatalf("worker: node_up %+v, %v; want id %s", up, err, manager.ID())
			}
			// Each side got exactly one hello of each kind from the other,
			// addressed to its node-id topic, byte-identical to what Zeek
			// sends.
			for _, pair := range [][2]*Node{{manager, worker}, {worker, manager}} {
				rcv, snd := pair[0], pair[1]
				var names []string
				for _, m := range rcv.Received() {
					ev, err := m.Event()
					if err != nil {
						t.Fatal(err)
					}
					names = append(names, ev.Name)
					if m.Topic() != NodeIDTopic(rcv.ID()) || m.Sender() != snd.ID() {
						t.Errorf("%s got %s on %q from %q", rcv.Name(), ev.Name, m.Topic(), m.Sender())
					}
					want, _ := EncodeEvent(ev.Name, snd.Name(), snd.ID())
					if !bytes.Equal(m.Payload(), want) {
						t.Errorf("%s: payload %x, want %x", rcv.Name(), m.Payload(), want)
					}
				}
				slices.Sort(names)
				if !slices.Equal(names, []string{ZeroMQHelloEvent, ClusterHelloEvent}) {
					t.Errorf("%s received %v, want one hello of each kind", rcv.Name(), names)
				}
				if w := rcv.Warnings(); len(w) != 0 {
					t.Errorf("%s warnings: %q", rcv.Name(), w)
				}
			}
			if log := worker.ClusterLog(); !slices.Contains(log, fmt.Sprintf("got hello from manager (%s)", manager.ID())) {
				t.Errorf("worker cluster.log %q", log)
			}

			// The manager saw the worker's startup subscriptions in Zeek's
			// order: supervisor, table, pools, role, node id, node name.
			wantOrder := []string{SupervisorTopic, TableTopic, PoolTopic("worker"), RoleTopic("worker"), NodeIDTopic(worker.ID()), NodeTopic("worker-1")}
			if got := worker.Config().StartupTopics(worker.ID()); !slices.Equal(got, wantOrder) {
				t.Fatalf("startup topics %q, want %q", got, wantOrder)
			}
			if err := manager.WaitSubscriptionSeen(ctx, NodeTopic("worker-1")); err != nil {
				t.Fatal(err)
			}
			if got := newSubscriptionsAfter(manager.Subscriptions(), InternalTopicPrefix); !slices.Equal(got, wantOrder) {
				t.Errorf("manager saw worker subscriptions %q, want %q", got, wantOrder)
			}

			// Once ready, a node's own subscriptions come back in order.
			if err := worker.Ready(ctx); err != nil {
				t.Fatal(err)
			}
			var topics []string
			for i := range 20 {
				topics = append(topics, fmt.Sprintf("zeek.test.order.%02d", 20-i))
			}
			for _, topic := range topics {
				if err := worker.Subscribe(topic); err != nil {
					t.Fatal(err)
				}
			}
			if err := worker.WaitSubscriptionSeen(ctx, topics[19]); err != nil {
				t.Fatal(err)
			}
			if got := newSubscriptionsAfter(worker.Subscriptions(), InternalTopicPrefix+worker.ID()); !slices.Equal(got, topics) {
				t.Errorf("worker's own subscriptions echoed as %q, want %q", got, topics)
			}

			// Departure: node_down on the manager.
			if err := worker.Close(); err != nil {
				t.Fatal(err)
			}
			if err := manager.WaitUnsubscriptionSeen(ctx, NodeIDTopic(worker.ID())); err != nil {
				t.Fatal(err)
			}
			down, err := manager.WaitNodeDown(ctx, worker.ID())
			if err != nil || down.Name != "worker-1" {
				t.Fatalf("node_down %+v, %v", down, err)
			}
			if log := manager.ClusterLog(); !slices.Contains(log, "node down: worker-1") {
				t.Errorf("manager cluster.log %q", log)
			}
		})
	}
}

// newSubscriptionsAfter returns the prefixes of the subscribe messages that
// follow the last subscription to a topic starting with marker, leaving out
// ready-probe topics and repeats (libzmq resends subscriptions after a
// reconnection).
func newSubscriptionsAfter(changes []SubscriptionChange, marker string) []string {
	var out []string
	for _, c := range changes {
		switch {
		case !c.Subscribe:
		case strings.HasPrefix(c.Prefix, marker):
			out = nil
		case !strings.HasPrefix(c.Prefix, InternalTopicPrefix) && !slices.Contains(out, c.Prefix):
			out = append(out, c.Prefix)
		}
	}
	return out
}

func TestSelfFilterReadyAndMalformed(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	p := broker(t, "tcp")
	a := startNode(t, p, Config{Name: "a", NoStartupSubscriptions: true})
	b := startNode(t, p, Config{Name: "b", NoStartupSubscriptions: true})
	if err := a.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	// The probe subscribed and then unsubscribed.
	probe := fmt.Sprintf("%s%s.1.", InternalTopicPrefix, a.ID())
	if err := a.WaitUnsubscriptionSeen(ctx, probe); err != nil {
		t.Fatal(err)
	}

	const topic = "zeek.test.events"
	for _, n := range []*Node{a, b} {
		if err := n.WaitSubscription(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	// Both subscribed; a's own event comes back to a and is filtered.
	if err := a.PublishEvent(topic, "test_event", "from a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitReceivedMatching(ctx, "event from a", func(m Message) bool { return m.Sender() == a.ID() }); err != nil {
		t.Fatalf("%v\nsender: %s", err, a.Summary())
	}
	if err := a.Wait(ctx, "own event filtered", func(v View) bool { return v.SelfFiltered() >= 1 }); err != nil {
		t.Fatal(err)
	}
	if got := a.Received(); len(got) != 0 {
		t.Fatalf("a received its own message: %+v", got)
	}

	// Wrong part counts: counted and dropped, later messages still arrive.
	bad := [][][]byte{{[]byte(topic), []byte("x"), []byte("y")}, {[]byte(topic), {}, {}, {}, {}}}
	for _, frames := range bad {
		if err := b.PublishRaw(frames...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.PublishEvent(topic, "test_event", "after"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WaitReceivedMatching(ctx, "valid event after malformed ones", func(m Message) bool { return m.Sender() == b.ID() }); err != nil {
		t.Fatal(err)
	}
	if got := a.MsgErrors(); got != 2 {
		t.Fatalf("msg errors %d, want 2", got)
	}
	errs := a.Errors()
	if !slices.Contains(errs, "[zeromq] xsub: error: expected 4 parts, have 3!") || !slices.Contains(errs, "[zeromq] xsub: error: expected 4 parts, have 5!") {
		t.Fatalf("errors %q", errs)
	}
	if m := a.Malformed(); len(m) != 2 || !slices.EqualFunc(m[0].Frames, bad[0], bytes.Equal) {
		t.Fatalf("malformed %+v", m)
	}
	// A wrong format is an error after the part check, like Zeek's.
	if err := b.PublishRaw([]byte(topic), []byte(b.ID()), []byte("broker-json-v1"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(ctx, "wrong-format error", func(v View) bool {
		return slices.Contains(v.Errors(), "ProcessEventMessage: Wrong format: broker-json-v1 vs broker-bin-v1")
	}); err != nil {
		t.Fatal(err)
	}
}

func TestHelloExpiryWithSilentPeer(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	p := broker(t, "tcp")
	zeek := startNode(t, p, Config{Name: "manager", Role: "manager", HelloExpiration: 300 * time.Millisecond})
	// A bare participant that subscribes to a node-id topic but never says
	// hello: the Zeek node answers, then warns when the half expires.
	silent := startNode(t, p, Config{Name: "bridge", NoStartupSubscriptions: true, NoHello: true})
	if err := silent.WaitSubscription(ctx, NodeIDTopic(silent.ID())); err != nil {
		t.Fatal(err)
	}
	w, err := zeek.WaitWarning(ctx, "Expired subscription from nodeid "+silent.ID())
	if err != nil {
		t.Fatal(err)
	}
	if w != "Expired subscription from nodeid "+silent.ID() {
		t.Fatalf("warning %q", w)
	}
	// The participant did get the Zeek node's ZeroMQ::hello.
	m, err := silent.WaitReceivedMatching(ctx, "ZeroMQ::hello", func(m Message) bool { return m.Sender() == zeek.ID() })
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := m.Event(); err != nil || ev.Name != ZeroMQHelloEvent {
		t.Fatalf("event %+v %v", ev, err)
	}
	if ups := zeek.NodeUps(); len(ups) != 0 {
		t.Fatalf("node_up without a handshake: %v", ups)
	}
}

func TestXPubDropsAtHighWaterMark(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	// A bare XSUB plays the broker: it subscribes to everything and never
	// reads, so the node's queue fills up.
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	sink, err := zctx.NewSocket(zmq.XSUB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sink.Close()
		_ = zctx.Term()
	})
	for _, step := range []error{sink.SetLinger(0), sink.SetRcvhwm(1), sink.Bind("tcp://127.0.0.1:*")} {
		if step != nil {
			t.Fatal(step)
		}
	}
	ep, err := sink.GetLastEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.SendBytes([]byte{1}, 0); err != nil {
		t.Fatal(err)
	}
	n, err := StartNode(context.Background(), Config{Name: "w", NoStartupSubscriptions: true, BrokerXPub: "tcp://127.0.0.1:1", BrokerXSub: ep, XPubSndHWM: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	// The sink's socket only attaches the node's connection (and replays
	// its subscription) when the socket is used: poke it until the node
	// has seen the subscription.
	for {
		if _, err := sink.GetEvents(); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := n.WaitSubscriptionSeen(short, "")
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
	}
	payload := bytes.Repeat([]byte{'x'}, 1<<20)
	for i := 0; i < 64; i++ {
		if err := n.Publish("t", payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Wait(ctx, "xpub drops", func(v View) bool { return v.XPubDrops() > 0 }); err != nil {
		t.Fatal(err)
	}
	want := "[zeromq] xpub: warn: dropped a message due to hwm"
	if w := n.Warnings(); len(w) != 1 || w[0] != want {
		t.Fatalf("warnings %q, want exactly one %q", w, want)
	}
}

func TestNodeLifecycle(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{},
		{Name: "x"},
		{Name: "x", BrokerXPub: "tcp://127.0.0.1:1", BrokerXSub: "tcp://127.0.0.1:2", Role: "boss"},
		{Name: "x", BrokerXPub: "nonsense", BrokerXSub: "tcp://127.0.0.1:2"},
	} {
		if n, err := StartNode(context.Background(), cfg); err == nil {
			n.Close()
			t.Errorf("config %+v accepted", cfg)
		}
	}
	// A node stops with its context and refuses work afterwards.
	ctx, cancel := context.WithCancel(context.Background())
	n, err := StartNode(ctx, Config{Name: "x", BrokerXPub: "tcp://127.0.0.1:1", BrokerXSub: "tcp://127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-n.Done():
	case <-time.After(waitTimeout):
		t.Fatal("node did not stop with its context")
	}
	if err := n.Publish("t", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after stop: %v", err)
	}
	if _, err := n.WaitNodeUp(waitCtx(t), "y"); err == nil || !strings.Contains(err.Error(), "node stopped") {
		t.Fatalf("wait on a stopped node: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLogSender(t *testing.T) {
	t.Parallel()
	want := MustVector(t, "zeek-log-test.hex")
	for _, ep := range []string{"tcp://127.0.0.1:*", "ipc://" + filepath.Join(t.TempDir(), "logger")} {
		zctx, err := zmq.NewContext()
		if err != nil {
			t.Fatal(err)
		}
		pull, err := zctx.NewSocket(zmq.PULL)
		if err != nil {
			t.Fatal(err)
		}
		if err := pull.Bind(ep); err != nil {
			t.Fatal(err)
		}
		bound, _ := pull.GetLastEndpoint()
		s, err := NewLogSender(LogSenderConfig{NodeID: string(want[1]), Endpoints: []string{bound}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SendLogWrite(want[3]); err != nil {
			t.Fatal(err)
		}
		if err := pull.SetRcvtimeo(waitTimeout); err != nil {
			t.Fatal(err)
		}
		got, err := pull.RecvMessageBytes(0)
		if err != nil {
			t.Fatalf("%s: receive: %v", ep, err)
		}
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("%s: log-write frames differ from the captured vector", ep)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.SendLogWrite(want[3]); !errors.Is(err, ErrClosed) {
			t.Fatalf("send after close: %v", err)
		}
		pull.Close()
		zctx.Term()
	}
	// Without any logger the batch is dropped, as in Zeek.
	s, err := NewLogSender(LogSenderConfig{NodeID: "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SendLogWrite([]byte("x")); !errors.Is(err, ErrLogWriteDropped) || s.Drops() != 1 {
		t.Fatalf("send without loggers: %v, drops %d", err, s.Drops())
	}
	if _, err := NewLogSender(LogSenderConfig{}); err == nil {
		t.Fatal("log sender without node id accepted")
	}
	if _, err := NewLogSender(LogSenderConfig{NodeID: "n", Endpoints: []string{"bogus"}}); err == nil {
		t.Fatal("bad endpoint accepted")
	}
}

func TestRefProxyStatistics(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	p := broker(t, "tcp")
	a := startNode(t, p, Config{Name: "a", NoStartupSubscriptions: true})
	b := startNode(t, p, Config{Name: "b", NoStartupSubscriptions: true})
	if err := a.Subscribe("t"); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitSubscriptionSeen(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("t", []byte("payload")); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitReceived(ctx, 1); err != nil {
		t.Fatal(err)
	}
	st, err := p.Statistics()
	if err != nil {
		t.Fatal(err)
	}
	// One 4-frame event in through the XSUB and out through the XPUB; the
	// subscription went the other way. libzmq 4.3.4 counts whole messages,
	// not frames.
	eventBytes := uint64(len("t") + len(b.ID()) + len(FormatBrokerBinV1) + len("payload"))
	if st != [8]uint64{1, eventBytes, 1, 2, 1, 2, 1, eventBytes} {
		t.Fatalf("statistics %v, want one event of %d bytes each way and one 2-byte subscription", st, eventBytes)
	}
	if _, err := refproxy.Start(refproxy.Config{XSub: "tcp://127.0.0.1:*"}); err == nil {
		t.Fatal("proxy without xpub endpoint started")
	}
	if _, err := refproxy.Start(refproxy.Config{XSub: "tcp://127.0.0.1:*", XPub: p.XPubEndpoint()}); err == nil {
		t.Fatal("proxy bound an endpoint in use")
	}
}
