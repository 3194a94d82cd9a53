package zmqtransport

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/syncbuf"
	"github.com/zpipe/zpipe/internal/testutil"
)

// stallBroker is a broker link (xsub → xpub with nodrop, as Zeek's) with a
// subscriber that never reads ("stalled", Zeek node id "stuck-node") and
// one that reads everything ("healthy", node id "good-node"), both on the
// topic the publisher uses, over tcp on 127.0.0.1.
type stallBroker struct {
	s       *Server
	log     *syncbuf.Buffer
	pub     *zmq.Socket
	stalled *zmq.Socket
	healthy atomic.Int64
	stop    chan struct{}
	done    chan struct{}
}

func newStallBroker(t *testing.T, xpub attrs) *stallBroker {
	t.Helper()
	b := &stallBroker{log: &syncbuf.Buffer{}, stop: make(chan struct{}), done: make(chan struct{})}
	b.s = New(WithLogger(slog.New(slog.NewTextHandler(b.log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	t.Cleanup(func() { _ = b.s.CloseAll(context.Background()) })
	openSocket(t, b.s, "xsub", KindXSub, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "linger_ms": 0})
	a := attrs{"bind": []string{"tcp://127.0.0.1:*"}, "verboser": true, "nodrop": true, "linger_ms": 0,
		"sndhwm": 100, "send_timeout_ms": 2000}
	for k, v := range xpub {
		a[k] = v
	}
	openSocket(t, b.s, "xpub", KindXPub, a)
	if err := b.s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}}); err != nil {
		t.Fatal(err)
	}
	ctx := peerContext(t)
	xpubEP := boundEndpoint(t, b.s, "xpub", 0)
	subscriber := func(node string, rcvhwm int) *zmq.Socket {
		return peerSocket(t, ctx, zmq.XSUB, func(p *zmq.Socket) error {
			for _, step := range []error{p.SetRcvhwm(rcvhwm), p.SetRcvbuf(65536), p.Connect(xpubEP)} {
				if step != nil {
					return step
				}
			}
			for _, topic := range []string{"zeek.cluster.nodeid." + node + ".", "zeek/event/"} {
				if _, err := p.SendBytes(sub(topic), 0); err != nil {
					return err
				}
			}
			return nil
		})
	}
	b.stalled = subscriber("stuck-node", 100)
	healthy := subscriber("good-node", 1000)
	b.pub = peerSocket(t, ctx, zmq.XPUB, func(p *zmq.Socket) error {
		if err := p.SetXpubNodrop(true); err != nil {
			return err
		}
		return p.Connect(boundEndpoint(t, b.s, "xsub", 0))
	})
	// The publisher must know both subscribers (its XPUB passes on each
	// topic once).
	want := map[string]bool{}
	for _, topic := range []string{"zeek.cluster.nodeid.stuck-node.", "zeek.cluster.nodeid.good-node.", "zeek/event/"} {
		want[string(sub(topic))] = true
	}
	for len(want) > 0 {
		delete(want, string(recvMessage(t, b.pub)[0]))
	}
	go func() {
		defer close(b.done)
		for {
			select {
			case <-b.stop:
				return
			default:
			}
			msg, err := healthy.RecvMessageBytes(0)
			if err != nil {
				continue // EAGAIN after the peer socket's receive timeout
			}
			if len(msg) == 4 {
				b.healthy.Add(1)
			}
		}
	}()
	t.Cleanup(b.stopHealthy)
	return b
}

func (b *stallBroker) stopHealthy() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	<-b.done
}

// publish sends n events of 1 KiB on topic zeek/event/ with blocking sends.
func (b *stallBroker) publish(t *testing.T, n int) {
	t.Helper()
	payload := bytes.Repeat([]byte{'x'}, 1024)
	for i := 0; i < n; {
		if _, err := b.pub.SendMessage(event("zeek/event/x", strconv.Itoa(i), payload)); err != nil {
			if zmq.AsErrno(err) == zmq.Errno(11) {
				continue
			}
			t.Fatalf("publish %d: %v", i, err)
		}
		i++
	}
}

// waitHealthy waits until the healthy subscriber has n events.
func (b *stallBroker) waitHealthy(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for b.healthy.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the healthy subscriber got %d of %d events; xpub %+v", b.healthy.Load(), n, socketStats(t, b.s, "xpub"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func findPeer(st transport.SocketStats, node string) (transport.PeerStats, bool) {
	for _, p := range st.Peers {
		if p.NodeID == node {
			return p, true
		}
	}
	return transport.PeerStats{}, false
}

// TestStalledSubscriberCostsOnlyItself: one subscriber that never reads
// must not starve a healthy one. The healthy subscriber gets every event;
// the stalled one's losses are counted on it and as stalled_peer drops, the
// episode is counted, and one WARN line names the stalled node and its
// address.
func TestStalledSubscriberCostsOnlyItself(t *testing.T) {
	b := newStallBroker(t, nil)
	const n = 20000
	b.publish(t, n)
	b.waitHealthy(t, n)

	st := socketStats(t, b.s, "xpub")
	if st.Drops[transport.DropStalledPeer] == 0 {
		t.Errorf("no stalled_peer drops counted: %+v", st.Drops)
	}
	if st.Drops[transport.DropHWM] != 0 {
		t.Errorf("hwm drops counted although a subscriber had room: %+v", st.Drops)
	}
	if st.Events[transport.EventPeerStalled] != 1 {
		t.Errorf("peer_stalled events = %d, want 1 (one episode): %+v", st.Events[transport.EventPeerStalled], st.Events)
	}
	stuck, ok := findPeer(st, "stuck-node")
	if !ok {
		t.Fatalf("no peer with node id stuck-node: %+v", st.Peers)
	}
	if !stuck.Stalled || stuck.Stalls != 1 {
		t.Errorf("stalled peer: %+v, want Stalled and one stall", stuck)
	}
	// It took at most its queues' worth of the n events; it missed the rest.
	if stuck.Dropped < n/2 || stuck.Dropped > n {
		t.Errorf("stalled peer dropped %d of %d events", stuck.Dropped, n)
	}
	if !strings.HasPrefix(stuck.Address, "127.0.0.1:") {
		t.Errorf("stalled peer address %q, want 127.0.0.1:port", stuck.Address)
	}
	good, ok := findPeer(st, "good-node")
	if !ok || good.Stalled || good.Stalls != 0 || good.Dropped != 0 {
		t.Errorf("healthy peer: %+v (found %v), want no stall and no drops", good, ok)
	}
	warns := 0
	for _, line := range strings.Split(b.log.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "stalled") {
			warns++
			for _, want := range []string{"stuck-node", stuck.Address} {
				if !strings.Contains(line, want) {
					t.Errorf("WARN line %q does not name %q", line, want)
				}
			}
		}
	}
	if warns != 1 {
		t.Errorf("%d WARN lines about the stall, want 1; log:\n%s", warns, b.log.String())
	}
}

// TestStallDisconnect: a subscriber stalled longer than stall_disconnect_ms
// is disconnected, counted and logged; the healthy one keeps receiving.
func TestStallDisconnect(t *testing.T) {
	b := newStallBroker(t, attrs{"stall_disconnect_ms": 300})
	b.publish(t, 5000)
	testutil.Eventually(t, waitFor, "the stalled subscriber is disconnected", func() bool {
		st := socketStats(t, b.s, "xpub")
		return st.Events[transport.EventPeerStallDisconnect] == 1
	})
	testutil.Eventually(t, waitFor, "the stalled subscriber's connection to end", func() bool {
		return logHas(b.log.String(), `msg="peer disconnected"`, "socket=xpub", "node_id=stuck-node")
	})
	b.publish(t, 5000)
	b.waitHealthy(t, 10000)
	if !logHas(b.log.String(), "level=WARN", "stalled subscriber disconnected", "node_id=stuck-node") {
		t.Errorf("no log line about the disconnect of stuck-node:\n%s", b.log.String())
	}
}

// logHas reports whether one line of log has every one of parts.
func logHas(log string, parts ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}
