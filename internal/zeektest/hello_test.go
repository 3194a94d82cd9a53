package zeektest

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// capturedPhaseA holds the captured handshake between manager and worker-1,
// indexed by sequence number.
type capturedPhaseA struct {
	bySeq               map[int]HandshakeMessage
	managerID, workerID string
}

func loadPhaseA(t *testing.T) capturedPhaseA {
	t.Helper()
	c := capturedPhaseA{bySeq: map[int]HandshakeMessage{}}
	for _, m := range MustHandshakeSequence(t) {
		c.bySeq[m.Seq] = m
	}
	if len(c.bySeq) != 33 {
		t.Fatalf("handshake sequence has %d messages, want 33", len(c.bySeq))
	}
	// #11 is worker-1's ZeroMQ::hello to the manager's node-id topic.
	hello := c.bySeq[11].Frames
	c.workerID = string(hello[1])
	id, ok := NodeIDFromTopic(string(hello[0]))
	if !ok {
		t.Fatalf("message 11 topic %q is not a node-id topic", hello[0])
	}
	c.managerID = id
	return c
}

// subscription returns the topic of a captured 01/00 message.
func (c capturedPhaseA) subscription(t *testing.T, seq int) (bool, string) {
	t.Helper()
	m := c.bySeq[seq]
	if m.Kind != "subscriptions" || len(m.Frames) != 1 {
		t.Fatalf("message %d is not a subscription message: %+v", seq, m)
	}
	return m.Frames[0][0] == 1, string(m.Frames[0][1:])
}

func (c capturedPhaseA) event(t *testing.T, seq int) Event {
	t.Helper()
	ev, err := DecodeEvent(c.bySeq[seq].Frames[3])
	if err != nil {
		t.Fatalf("message %d: %v", seq, err)
	}
	return ev
}

func kinds(effects []effect) []effectKind {
	out := make([]effectKind, len(effects))
	for i, e := range effects {
		out[i] = e.kind
	}
	return out
}

// wantPublication checks that e publishes exactly the captured message seq
// when sent by node id.
func (c capturedPhaseA) wantPublication(t *testing.T, e effect, id string, seq int) {
	t.Helper()
	want := c.bySeq[seq].Frames
	if e.kind != effPublish {
		t.Fatalf("effect %+v is not a publication (want message %d)", e, seq)
	}
	got := [][]byte{[]byte(e.topic), []byte(id), []byte(FormatBrokerBinV1), e.payload}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("publication vs captured message %d, frame %d:\n got %x\nwant %x", seq, i, got[i], want[i])
		}
	}
}

func TestHelloManagerSideReproducesCapture(t *testing.T) {
	c := loadPhaseA(t)
	now := time.Unix(1700000000, 0)
	h := newHelloProtocol("manager", c.managerID, []string{"manager", "worker-1"}, DefaultHelloExpiration)

	// The manager sees every subscription #1–#10 echoed; none is another
	// node's node-id topic.
	for seq := 1; seq <= 10; seq++ {
		sub, topic := c.subscription(t, seq)
		if !sub {
			t.Fatalf("message %d is an unsubscription", seq)
		}
		eff, err := h.onSubscription(topic, now)
		if err != nil || len(eff) != 0 {
			t.Fatalf("subscription %q: effects %+v, err %v; want none", topic, eff, err)
		}
	}
	// #11: worker-1's ZeroMQ::hello arrives before its node-id subscription.
	eff, err := h.onEvent(c.event(t, 11), now)
	if err != nil || len(eff) != 0 {
		t.Fatalf("ZeroMQ::hello from worker-1: effects %+v, err %v; want none yet", eff, err)
	}
	// #12: worker-1's node-id subscription completes both halves: the
	// manager answers with #14 and #15, byte for byte.
	_, topic := c.subscription(t, 12)
	eff, err = h.onSubscription(topic, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kinds(eff), []effectKind{effPublish, effPublish}) {
		t.Fatalf("effects %+v, want two publications", eff)
	}
	c.wantPublication(t, eff[0], c.managerID, 14)
	c.wantPublication(t, eff[1], c.managerID, 15)

	// #16: worker-1's Cluster::hello raises node_up.
	eff, err = h.onEvent(c.event(t, 16), now)
	if err != nil {
		t.Fatal(err)
	}
	worker := Peer{Name: "worker-1", ID: c.workerID}
	if len(eff) != 2 || eff[0].kind != effNodeUp || eff[0].peer != worker || eff[1].kind != effLog {
		t.Fatalf("Cluster::hello effects %+v, want node_up(%v) and a log line", eff, worker)
	}
	// The manager's captured cluster.log batch (#27) holds the same lines.
	wantInLog(t, c.bySeq[27].Frames[3], eff[1].text)

	// #22: worker-1 unsubscribes its node-id topic: node_down.
	sub, topic := c.subscription(t, 22)
	if sub {
		t.Fatal("message 22 should be an unsubscription")
	}
	eff = h.onUnsubscription(topic)
	if len(eff) != 2 || eff[0].kind != effNodeDown || eff[0].peer != worker {
		t.Fatalf("unsubscription effects %+v, want node_down(%v)", eff, worker)
	}
	wantInLog(t, c.bySeq[27].Frames[3], eff[1].text)
	if w := h.expire(now.Add(time.Hour)); len(w) != 0 {
		t.Errorf("expired %+v after a complete handshake", w)
	}
}

func TestHelloWorkerSideReproducesCapture(t *testing.T) {
	c := loadPhaseA(t)
	now := time.Unix(1700000000, 0)
	h := newHelloProtocol("worker-1", c.workerID, []string{"manager", "worker-1"}, DefaultHelloExpiration)

	// Joining late, the worker gets the manager's subscriptions replayed;
	// #5 is the manager's node-id topic, answered with #11.
	var published []effect
	for seq := 1; seq <= 6; seq++ {
		_, topic := c.subscription(t, seq)
		eff, err := h.onSubscription(topic, now)
		if err != nil {
			t.Fatal(err)
		}
		published = append(published, eff...)
	}
	if len(published) != 1 {
		t.Fatalf("effects %+v, want exactly one publication", published)
	}
	c.wantPublication(t, published[0], c.workerID, 11)

	// Its own subscriptions change nothing.
	for _, seq := range []int{7, 8, 9, 10, 12, 13} {
		_, topic := c.subscription(t, seq)
		if eff, err := h.onSubscription(topic, now); err != nil || len(eff) != 0 {
			t.Fatalf("own subscription %q: effects %+v, err %v", topic, eff, err)
		}
	}
	// #14: the manager's ZeroMQ::hello; the subscription half is there, so
	// the worker sends Cluster::hello (#16).
	eff, err := h.onEvent(c.event(t, 14), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(eff) != 1 {
		t.Fatalf("effects %+v, want one publication", eff)
	}
	c.wantPublication(t, eff[0], c.workerID, 16)

	// #15: the manager's Cluster::hello raises node_up(manager).
	eff, err = h.onEvent(c.event(t, 15), now)
	if err != nil {
		t.Fatal(err)
	}
	manager := Peer{Name: "manager", ID: c.managerID}
	if len(eff) != 2 || eff[0].kind != effNodeUp || eff[0].peer != manager {
		t.Fatalf("effects %+v, want node_up(%v)", eff, manager)
	}
	// worker-1's captured cluster.log batch (#20) has the same line.
	wantInLog(t, c.bySeq[20].Frames[3], eff[1].text)
}

func wantInLog(t *testing.T, batch []byte, line string) {
	t.Helper()
	if !bytes.Contains(batch, []byte(line)) {
		t.Errorf("captured cluster.log batch does not contain %q", line)
	}
}

func TestHelloExpiryWarnings(t *testing.T) {
	start := time.Unix(1700000000, 0)
	h := newHelloProtocol("manager", "M", nil, 10*time.Second)
	if _, ok := h.nextExpiry(); ok {
		t.Fatal("nothing pending, but an expiry is scheduled")
	}
	// A node-id subscription nobody says hello for.
	if _, err := h.onSubscription(NodeIDTopic("silent"), start); err != nil {
		t.Fatal(err)
	}
	// A hello without a subscription, 2 s later.
	if _, err := h.onEvent(mustEvent(t, ZeroMQHelloEvent, "worker-9", "ghost"), start.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	next, ok := h.nextExpiry()
	if !ok || !next.Equal(start.Add(10*time.Second)) {
		t.Fatalf("next expiry %v %v, want %v", next, ok, start.Add(10*time.Second))
	}
	if w := h.expire(start.Add(9 * time.Second)); len(w) != 0 {
		t.Fatalf("expired early: %+v", w)
	}
	w := h.expire(start.Add(10 * time.Second))
	if len(w) != 1 || w[0].text != "Expired subscription from nodeid silent" {
		t.Fatalf("got %+v, want the subscription expiry", w)
	}
	w = h.expire(start.Add(12 * time.Second))
	if len(w) != 1 || w[0].text != "Expired hello from nodeid ghost" {
		t.Fatalf("got %+v, want the hello expiry", w)
	}
	if _, ok := h.nextExpiry(); ok {
		t.Fatal("entries left after expiry")
	}
}

func mustEvent(t *testing.T, name string, args ...any) Event {
	t.Helper()
	return Event{Name: name, Args: args}
}

func TestHelloRestartsAndOddPeers(t *testing.T) {
	now := time.Unix(1700000000, 0)
	h := newHelloProtocol("manager", "M", []string{"manager", "worker-1"}, DefaultHelloExpiration)
	handshake := func(id string) []effect {
		t.Helper()
		var all []effect
		eff, err := h.onSubscription(NodeIDTopic(id), now)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, eff...)
		for _, name := range []string{ZeroMQHelloEvent, ClusterHelloEvent} {
			eff, err := h.onEvent(mustEvent(t, name, "worker-1", id), now)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, eff...)
		}
		return all
	}
	eff := handshake("W1")
	if !slices.Contains(kinds(eff), effNodeUp) {
		t.Fatalf("first incarnation: %+v, want node_up", eff)
	}

	// The same hello again is a warning and nothing else.
	eff, _ = h.onEvent(mustEvent(t, ZeroMQHelloEvent, "worker-1", "W1"), now)
	if len(eff) != 1 || eff[0].text != "node 'worker-1' sends ZeroMQ::hello twice (id:W1)" {
		t.Fatalf("duplicate hello: %+v", eff)
	}

	// A restart without goodbye: warning, node_down of the old id, then the
	// new incarnation comes up.
	eff = handshake("W2")
	var texts []string
	var downs, ups []Peer
	for _, e := range eff {
		switch e.kind {
		case effWarning:
			texts = append(texts, e.text)
		case effNodeDown:
			downs = append(downs, e.peer)
		case effNodeUp:
			ups = append(ups, e.peer)
		}
	}
	if !slices.Equal(texts, []string{"node 'worker-1' never said goodbye (old id:W1 new id:W2"}) ||
		!slices.Equal(downs, []Peer{{"worker-1", "W1"}}) || !slices.Equal(ups, []Peer{{"worker-1", "W2"}}) {
		t.Fatalf("restart: warnings %q, node_down %v, node_up %v", texts, downs, ups)
	}

	// Unknown names and ids.
	eff, _ = h.onEvent(mustEvent(t, ClusterHelloEvent, "intruder", "X"), now)
	if len(eff) != 1 || eff[0].kind != effError || eff[0].text != "Got Cluster::hello msg from unexpected node: intruder" {
		t.Fatalf("unexpected node: %+v", eff)
	}
	eff = h.onUnsubscription(NodeIDTopic("nobody"))
	if len(eff) != 1 || eff[0].text != "unsubscription of unknown node with id 'nobody'" {
		t.Fatalf("unknown unsubscription: %+v", eff)
	}
	// Bad hello arguments are errors, not panics.
	for _, ev := range []Event{
		{Name: ClusterHelloEvent, Args: []any{"worker-1"}},
		{Name: ZeroMQHelloEvent, Args: []any{"worker-1", uint64(3)}},
	} {
		eff, err := h.onEvent(ev, now)
		if err != nil || len(eff) != 1 || eff[0].kind != effError || !strings.HasPrefix(eff[0].text, "Unserialize error") {
			t.Errorf("event %+v: effects %+v, err %v; want one Unserialize error", ev, eff, err)
		}
	}
	// Other events and topics are none of the protocol's business.
	if eff, err := h.onEvent(mustEvent(t, "test_event", "x"), now); err != nil || len(eff) != 0 {
		t.Errorf("unrelated event: %+v %v", eff, err)
	}
	if eff, err := h.onSubscription("zeek.cluster.worker", now); err != nil || len(eff) != 0 {
		t.Errorf("unrelated topic: %+v %v", eff, err)
	}
}
