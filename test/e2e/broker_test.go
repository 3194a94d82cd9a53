package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

var cluster = []string{"manager", "worker-1", "worker-2", "worker-3"}

// TestDiscovery: two nodes find each other through the broker (node-id
// subscriptions, both hellos) and raise node_up both ways.
func TestDiscovery(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b *brokerproc.Process) {
		ctx := waitCtx(t, waitTimeout)
		manager := startNode(t, b, zeektest.Config{Name: "manager", Role: "manager", KnownNodes: cluster})
		worker := startNode(t, b, zeektest.Config{Name: "worker-1", KnownNodes: cluster})

		for _, pair := range [][2]*zeektest.Node{{manager, worker}, {worker, manager}} {
			self, other := pair[0], pair[1]
			up, err := self.WaitNodeUp(ctx, other.Name())
			if err != nil {
				t.Fatal(err)
			}
			if up.ID != other.ID() {
				t.Fatalf("%s: node_up %+v, want id %s", self.Name(), up, other.ID())
			}
		}
		for _, pair := range [][2]*zeektest.Node{{manager, worker}, {worker, manager}} {
			self, other := pair[0], pair[1]
			// Exactly one hello of each kind, to self's node-id topic, as
			// Zeek encodes it.
			var got []string
			for _, m := range self.Received() {
				ev, err := m.Event()
				if err != nil {
					t.Fatalf("%s: %v", self.Name(), err)
				}
				want, err := zeektest.EncodeEvent(ev.Name, other.Name(), other.ID())
				if err != nil {
					t.Fatal(err)
				}
				if m.Topic() != zeektest.NodeIDTopic(self.ID()) || m.Sender() != other.ID() ||
					m.Format() != zeektest.FormatBrokerBinV1 || !bytes.Equal(m.Payload(), want) {
					t.Errorf("%s received %s on %q from %q: %x", self.Name(), ev.Name, m.Topic(), m.Sender(), m.Payload())
				}
				got = append(got, ev.Name)
			}
			slices.Sort(got)
			if want := []string{zeektest.ZeroMQHelloEvent, zeektest.ClusterHelloEvent}; !slices.Equal(got, want) {
				t.Errorf("%s received %q, want %q", self.Name(), got, want)
			}
			if w, e := self.Warnings(), self.Errors(); len(w)+len(e) > 0 {
				t.Errorf("%s: warnings %q, errors %q", self.Name(), w, e)
			}
		}
	})
}

// TestEventsByteForByte: captured Zeek events cross the broker unchanged.
func TestEventsByteForByte(t *testing.T) {
	files := []string{
		"zeek-event-test_event.hex",
		"zeek-event-zeromq-hello.hex",
		"zeek-event-zeromq-hello-from-manager.hex",
		"zeek-event-cluster-hello.hex",
		"zeek-event-cluster-hello-from-manager.hex",
	}
	testEvent := zeektest.MustVector(t, files[0])
	forEachBroker(t, func(t *testing.T, b *brokerproc.Process) {
		ctx := waitCtx(t, waitTimeout)
		manager := startNode(t, b, zeektest.Config{Name: "manager", Role: "manager", Topics: []string{"zeek.test.events"}, KnownNodes: cluster})
		worker := startNode(t, b, zeektest.Config{Name: "worker-1", KnownNodes: cluster})
		if err := worker.WaitSubscriptionSeen(ctx, "zeek.test.events"); err != nil {
			t.Fatal(err)
		}
		// The worker publishes the captured test_event payload.
		if err := worker.Publish(string(testEvent[0]), testEvent[3]); err != nil {
			t.Fatal(err)
		}
		m, err := manager.WaitReceivedMatching(ctx, "test_event", func(m zeektest.Message) bool { return m.Topic() == "zeek.test.events" })
		if err != nil {
			t.Fatal(err)
		}
		want := [][]byte{testEvent[0], []byte(worker.ID()), testEvent[2], testEvent[3]}
		if !slices.EqualFunc(m.Frames, want, bytes.Equal) {
			t.Fatalf("received %x, want %x", m.Frames, want)
		}

		// Every captured event message, replayed whole (captured sender ids
		// included), reaches a node subscribed to "zeek." unchanged.
		watcher := startNode(t, b, zeektest.Config{Name: "watcher", NoStartupSubscriptions: true, NoHello: true})
		replayer := startNode(t, b, zeektest.Config{Name: "replayer", NoStartupSubscriptions: true, NoHello: true})
		if err := watcher.WaitSubscription(ctx, "zeek."); err != nil {
			t.Fatal(err)
		}
		if err := replayer.WaitSubscriptionSeen(ctx, "zeek."); err != nil {
			t.Fatal(err)
		}
		var sent [][][]byte
		captured := map[string]bool{} // the captured senders' ids
		for _, f := range files {
			frames := zeektest.MustVector(t, f)
			sent = append(sent, frames)
			captured[string(frames[1])] = true
			if err := replayer.PublishRaw(frames...); err != nil {
				t.Fatal(err)
			}
		}
		// The watcher also sees the live nodes' hellos; keep the replayed.
		replayed := func(msgs []zeektest.Message) []zeektest.Message {
			var out []zeektest.Message
			for _, m := range msgs {
				if captured[m.Sender()] {
					out = append(out, m)
				}
			}
			return out
		}
		if err := watcher.Wait(ctx, "the replayed events", func(v zeektest.View) bool {
			return len(replayed(v.Received())) >= len(sent)
		}); err != nil {
			t.Fatal(err)
		}
		got := replayed(watcher.Received())
		if len(got) != len(sent) {
			t.Fatalf("received %d replayed events, want %d", len(got), len(sent))
		}
		for i, m := range got {
			if !slices.EqualFunc(m.Frames, sent[i], bytes.Equal) {
				t.Errorf("%s: received %x, want %x", files[i], m.Frames, sent[i])
			}
		}
	})
}

// TestOrderedAndLossless: 10k numbered events from each of two publishers
// arrive complete and in order per publisher, with lossless settings (no
// XPUB limit on the publishers, a subscriber that keeps reading).
func TestOrderedAndLossless(t *testing.T) {
	const perPublisher = 10000
	const topic = "zeek.test.seq"
	forEachBroker(t, func(t *testing.T, b *brokerproc.Process) {
		ctx := waitCtx(t, 90*time.Second)
		sub := startNode(t, b, zeektest.Config{Name: "manager", Role: "manager", Topics: []string{topic}})
		var pubs []*zeektest.Node
		for _, name := range []string{"worker-1", "worker-2"} {
			p := startNode(t, b, zeektest.Config{Name: name, XPubSndHWM: zeektest.Unlimited})
			if err := p.WaitSubscriptionSeen(ctx, topic); err != nil {
				t.Fatal(err)
			}
			pubs = append(pubs, p)
		}
		for i := range perPublisher {
			for _, p := range pubs {
				if err := p.PublishEvent(topic, "Test::seq", uint64(i), p.Name()); err != nil {
					t.Fatal(err)
				}
			}
		}
		next := map[string]uint64{}
		err := sub.Wait(ctx, fmt.Sprintf("%d numbered events", 2*perPublisher), func(v zeektest.View) bool {
			return countTopic(v.Received(), topic) >= 2*perPublisher
		})
		for _, m := range sub.Received() {
			if m.Topic() != topic {
				continue
			}
			ev, err := m.Event()
			if err != nil {
				t.Fatal(err)
			}
			seq, _ := ev.Args[0].(uint64)
			if want := next[m.Sender()]; seq != want {
				t.Fatalf("from %s: event %d after %d: out of order or lost", ev.Args[1], seq, want-1)
			}
			next[m.Sender()]++
		}
		if err != nil {
			t.Fatalf("%v; per publisher: %v", err, next)
		}
		for _, p := range pubs {
			if next[p.ID()] != perPublisher {
				t.Errorf("%s: %d events, want %d", p.Name(), next[p.ID()], perPublisher)
			}
			if d := p.XPubDrops(); d != 0 {
				t.Errorf("%s dropped %d events", p.Name(), d)
			}
		}
	})
}

// TestSubscriptionFlow: subscriptions are echoed to every node including
// the subscriber; a late joiner gets the existing subscriptions replayed
// and finds the running nodes; a departing node's node-id topic is
// unsubscribed everywhere and raises node_down; the ready probe works.
func TestSubscriptionFlow(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b *brokerproc.Process) {
		ctx := waitCtx(t, 2*waitTimeout)
		manager := startNode(t, b, zeektest.Config{Name: "manager", Role: "manager", KnownNodes: cluster})
		w1 := startNode(t, b, zeektest.Config{Name: "worker-1", KnownNodes: cluster})
		for _, n := range []*zeektest.Node{manager, w1} {
			if err := n.Ready(ctx); err != nil {
				t.Fatalf("ready probe: %v", err)
			}
		}
		if _, err := manager.WaitNodeUp(ctx, "worker-1"); err != nil {
			t.Fatal(err)
		}

		// A subscription reaches every node, the subscriber included.
		if err := manager.Subscribe("zeek.test.custom"); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*zeektest.Node{manager, w1} {
			if err := n.WaitSubscriptionSeen(ctx, "zeek.test.custom"); err != nil {
				t.Fatal(err)
			}
		}

		// A late joiner: the existing subscriptions are replayed to it and
		// it is discovered by, and discovers, the running nodes.
		w2 := startNode(t, b, zeektest.Config{Name: "worker-2", KnownNodes: cluster})
		for _, topic := range []string{
			zeektest.NodeIDTopic(manager.ID()), zeektest.NodeTopic("manager"), zeektest.RoleTopic("manager"),
			zeektest.NodeIDTopic(w1.ID()), zeektest.NodeTopic("worker-1"), "zeek.test.custom",
		} {
			if err := w2.WaitSubscriptionSeen(ctx, topic); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range []string{"manager", "worker-1"} {
			if _, err := w2.WaitNodeUp(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range []*zeektest.Node{manager, w1} {
			if up, err := n.WaitNodeUp(ctx, "worker-2"); err != nil || up.ID != w2.ID() {
				t.Fatalf("%s: node_up %+v, %v", n.Name(), up, err)
			}
		}
		// The late joiner's own subscription goes to all three.
		if err := w2.Subscribe("zeek.test.late"); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*zeektest.Node{manager, w1, w2} {
			if err := n.WaitSubscriptionSeen(ctx, "zeek.test.late"); err != nil {
				t.Fatal(err)
			}
		}
		if err := w2.Ready(ctx); err != nil {
			t.Fatalf("late joiner's ready probe: %v", err)
		}

		// Departure.
		if err := w2.Close(); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*zeektest.Node{manager, w1} {
			if err := n.WaitUnsubscriptionSeen(ctx, zeektest.NodeIDTopic(w2.ID())); err != nil {
				t.Fatal(err)
			}
			down, err := n.WaitNodeDown(ctx, w2.ID())
			if err != nil || down.Name != "worker-2" {
				t.Fatalf("%s: node_down %+v, %v", n.Name(), down, err)
			}
		}
		for _, n := range []*zeektest.Node{manager, w1} {
			if w, e := n.Warnings(), n.Errors(); len(w)+len(e) > 0 {
				t.Errorf("%s: warnings %q, errors %q", n.Name(), w, e)
			}
		}
	})
}

// TestWrongFrameCount: zpipe's broker (framing "zeek") does not forward a
// message without exactly 4 frames; libzmq's proxy forwards anything, and
// Zeek nodes then drop and count it. Valid messages keep flowing either way.
func TestWrongFrameCount(t *testing.T) {
	const topic = "zeek.test.events"
	forEachBroker(t, func(t *testing.T, b *brokerproc.Process) {
		ctx := waitCtx(t, waitTimeout)
		sub := startNode(t, b, zeektest.Config{Name: "manager", Role: "manager", Topics: []string{topic}})
		pub := startNode(t, b, zeektest.Config{Name: "worker-1"})
		if err := pub.WaitSubscriptionSeen(ctx, topic); err != nil {
			t.Fatal(err)
		}
		bad := [][][]byte{
			{[]byte(topic), []byte(pub.ID()), []byte(zeektest.FormatBrokerBinV1)},
			{[]byte(topic), []byte(pub.ID()), []byte(zeektest.FormatBrokerBinV1), []byte("x"), []byte("y")},
			{[]byte(topic)},
		}
		for _, frames := range bad {
			if err := pub.PublishRaw(frames...); err != nil {
				t.Fatal(err)
			}
		}
		// The valid message after them must arrive; per-publisher order
		// means anything forwarded before it has arrived too.
		for i := range 3 {
			if err := pub.PublishEvent(topic, "Test::after_malformed", uint64(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := sub.Wait(ctx, "3 valid events", func(v zeektest.View) bool { return countTopic(v.Received(), topic) >= 3 }); err != nil {
			t.Fatal(err)
		}
		switch {
		case b.Kind().IsZpipe():
			if got := sub.Malformed(); len(got) != 0 {
				t.Fatalf("zpipe forwarded %d malformed messages: %x", len(got), got)
			}
			// Dropped, and counted as Zeek counts them.
			if err := waitMetric(ctx, t, b, "msg_errors", float64(len(bad))); err != nil {
				t.Fatal(err)
			}
		case b.Kind() == brokerproc.ZmqProxy:
			// The reference forwards them; the node counts msg_errors.
			got := sub.Malformed()
			if len(got) != len(bad) {
				t.Fatalf("zmq_proxy delivered %d malformed messages, want %d", len(got), len(bad))
			}
			for i := range bad {
				if !slices.EqualFunc(got[i].Frames, bad[i], bytes.Equal) {
					t.Errorf("malformed %d: %x, want %x", i, got[i].Frames, bad[i])
				}
			}
			if sub.MsgErrors() != len(bad) {
				t.Errorf("msg errors %d, want %d", sub.MsgErrors(), len(bad))
			}
		}
	})
}

// TestSlowSubscriber documents and checks what a broker does when one
// subscriber stops reading while another keeps up.
//
// zmq_proxy with XPUB_NODROP (the reference, Zeek's own broker) stalls
// everyone: its blocked send holds the whole proxy loop, so the fast
// subscriber stops receiving while the stopped one holds its high-water mark
// full; nothing is lost, and everything flows once the slow one reads again.
//
// Any broker must keep per-publisher order without duplicates for both
// subscribers, must resume delivering to both once the slow one reads again,
// and must count what it drops.
func TestSlowSubscriber(t *testing.T) {
	const (
		topic = "zeek.test.slow"
		count = 8000
		size  = 4096 // with count, well beyond what HWMs and socket buffers hold
	)
	padding := strings.Repeat("x", size)
	forEachBroker(t, func(t *testing.T, b *brokerproc.Process) {
		ctx := waitCtx(t, 90*time.Second)
		pub := startNode(t, b, zeektest.Config{Name: "worker-1", NoStartupSubscriptions: true, NoHello: true, XPubSndHWM: zeektest.Unlimited})
		fast := startNode(t, b, zeektest.Config{Name: "fast", NoStartupSubscriptions: true, NoHello: true})
		slow := startNode(t, b, zeektest.Config{Name: "slow", NoStartupSubscriptions: true, NoHello: true})
		for _, n := range []*zeektest.Node{fast, slow} {
			if err := n.WaitSubscription(ctx, topic); err != nil {
				t.Fatal(err)
			}
		}
		if err := pub.WaitSubscriptionSeen(ctx, topic); err != nil {
			t.Fatal(err)
		}
		if err := slow.PauseEvents(); err != nil {
			t.Fatal(err)
		}
		for i := range count {
			if err := pub.PublishEvent(topic, "Test::seq", uint64(i), padding); err != nil {
				t.Fatal(err)
			}
		}

		// While the slow one does not read: does the fast one get
		// everything, or does it stop short?
		stalledAt, complete := waitQuiet(ctx, t, fast, topic, count, 3*time.Second)
		behaviour := "isolates the slow subscriber"
		if !complete {
			behaviour = fmt.Sprintf("stalls the fast subscriber at %d of %d", stalledAt, count)
		}
		t.Logf("%s, slow subscriber paused: %s", b.Kind(), behaviour)

		if err := slow.ResumeEvents(); err != nil {
			t.Fatal(err)
		}
		// Let the slow one catch up with what reached it.
		waitQuiet(ctx, t, slow, topic, count, 2*time.Second)

		// Flow resumes for both: markers published from now on reach both.
		// (A broker that drops may still drop the first ones.)
		for marker := uint64(count); ; marker++ {
			if err := pub.PublishEvent(topic, "Test::seq", marker, ""); err != nil {
				t.Fatal(err)
			}
			short, cancel := context.WithTimeout(ctx, time.Second)
			errs := []error{}
			for _, n := range []*zeektest.Node{fast, slow} {
				_, err := n.WaitReceivedMatching(short, "a marker after resuming", func(m zeektest.Message) bool {
					return seqOf(t, m) >= count
				})
				errs = append(errs, err)
			}
			cancel()
			if errs[0] == nil && errs[1] == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: flow did not resume after the slow subscriber read again: %v", b.Kind(), errors.Join(errs...))
			}
		}

		got := map[string][]uint64{}
		for _, n := range []*zeektest.Node{fast, slow} {
			seqs := sequence(t, n, topic)
			if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
				t.Fatalf("%s: %s received events out of order or twice", b.Kind(), n.Name())
			}
			for _, seq := range seqs {
				if seq < count {
					got[n.Name()] = append(got[n.Name()], seq)
				}
			}
		}
		lost := 2*count - len(got["fast"]) - len(got["slow"])
		t.Logf("%s after resuming: fast got %d, slow got %d of the %d events", b.Kind(), len(got["fast"]), len(got["slow"]), count)

		switch b.Kind() {
		case brokerproc.ZmqProxy:
			if complete {
				t.Fatalf("zmq_proxy delivered all %d events to the fast subscriber while the slow one was stopped; the reference stalls", count)
			}
			if lost != 0 {
				t.Fatalf("zmq_proxy lost %d deliveries; the reference is lossless", lost)
			}
		default:
			if lost > 0 {
				drops := metricsMatching(metrics(t, b), "drop")
				total := 0.0
				for _, v := range drops {
					total += v
				}
				t.Logf("%s lost %d deliveries; drop metrics %v", b.Kind(), lost, drops)
				if total == 0 {
					t.Errorf("%s lost %d deliveries without counting a drop", b.Kind(), lost)
				}
			}
		}
	})
}

// waitQuiet waits until n has received all count events on topic
// (complete), or until it has received nothing new for quiet.
func waitQuiet(ctx context.Context, t *testing.T, n *zeektest.Node, topic string, count int, quiet time.Duration) (received int, complete bool) {
	t.Helper()
	last, since := -1, time.Now()
	for {
		received = countTopic(n.Received(), topic)
		if received >= count {
			return received, true
		}
		if received != last {
			last, since = received, time.Now()
		} else if time.Since(since) >= quiet {
			return received, false
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: still receiving (%d of %d) when the test ran out of time", n.Name(), received, count)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func countTopic(msgs []zeektest.Message, topic string) int {
	n := 0
	for _, m := range msgs {
		if m.Topic() == topic {
			n++
		}
	}
	return n
}

func seqOf(t *testing.T, m zeektest.Message) uint64 {
	t.Helper()
	ev, err := m.Event()
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	seq, ok := ev.Args[0].(uint64)
	if !ok {
		t.Fatalf("event %s: first argument %v is not a count", ev.Name, ev.Args[0])
	}
	return seq
}

func sequence(t *testing.T, n *zeektest.Node, topic string) []uint64 {
	t.Helper()
	var out []uint64
	for _, m := range n.Received() {
		if m.Topic() == topic {
			out = append(out, seqOf(t, m))
		}
	}
	return out
}
