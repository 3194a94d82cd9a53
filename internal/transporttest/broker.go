package transporttest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/core/zeekproto"
	"github.com/zpipe/zpipe/internal/testutil"
)

// zeekNode is a test peer set up like a Zeek node
// (docs/zeek-wire.md#sockets-and-endpoints): an XPUB
// (verbose, nodrop) connected to the broker's xsub and an XSUB connected to
// the broker's xpub.
type zeekNode struct {
	name string
	pub  *zmq.Socket
	sub  *zmq.Socket
}

func newZeekNode(t *testing.T, ctx *zmq.Context, name, brokerXSub, brokerXPub string) *zeekNode {
	t.Helper()
	n := &zeekNode{name: name}
	n.pub = PeerSocket(t, ctx, zmq.XPUB, func(s *zmq.Socket) error {
		if err := s.SetXpubVerbose(1); err != nil {
			return err
		}
		if err := s.SetXpubNodrop(true); err != nil {
			return err
		}
		return s.Connect(brokerXSub)
	})
	n.sub = PeerSocket(t, ctx, zmq.XSUB, func(s *zmq.Socket) error { return s.Connect(brokerXPub) })
	return n
}

func (n *zeekNode) subscribe(t *testing.T, prefix string) {
	t.Helper()
	SendMessage(t, n.sub, Sub(prefix))
}

// expectSubscriptions reads subscription messages from the node's XPUB
// until it has seen exactly want (in any order).
func (n *zeekNode) expectSubscriptions(t *testing.T, want ...[]byte) {
	t.Helper()
	var got [][]byte
	for len(got) < len(want) {
		msg := RecvMessage(t, n.pub)
		if len(msg) != 1 {
			t.Fatalf("%s: subscription message with %d frames: %s", n.name, len(msg), ShowFrames(msg))
		}
		got = append(got, msg[0])
	}
	if !sameMultiset(got, want) {
		t.Fatalf("%s: subscriptions %s, want %s", n.name, ShowFrames(got), ShowFrames(want))
	}
}

func sameMultiset(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	sa, sb := slices.Clone(a), slices.Clone(b)
	sort.Slice(sa, func(i, j int) bool { return bytes.Compare(sa[i], sa[j]) < 0 })
	sort.Slice(sb, func(i, j int) bool { return bytes.Compare(sb[i], sb[j]) < 0 })
	for i := range sa {
		if !bytes.Equal(sa[i], sb[i]) {
			return false
		}
	}
	return true
}

// startBroker opens a Zeek-style broker: xsub and xpub (verboser, nodrop)
// linked, with a subscription tap.
func startBroker(t *testing.T, s Server, framing string) (xsubEP, xpubEP string) {
	t.Helper()
	OpenSocket(t, s, "xsub", KindXSub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": framing})
	OpenSocket(t, s, "xpub", KindXPub, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "verboser": true})
	err := s.StartLink(context.Background(), transport.LinkSpec{ID: "broker", Source: "xsub", Sinks: []string{"xpub"}, TapSubscriptions: true})
	if err != nil {
		t.Fatal(err)
	}
	return BoundEndpoint(t, s, "xsub", 0), BoundEndpoint(t, s, "xpub", 0)
}

// tapReader collects the link's tapped subscription frames in the
// background.
type tapReader struct {
	mu     sync.Mutex
	frames [][]byte
	done   chan error
	cancel context.CancelFunc
}

func readTap(t *testing.T, s Server, link string) *tapReader {
	ctx, cancel := context.WithCancel(context.Background())
	r := &tapReader{done: make(chan error, 1), cancel: cancel}
	go func() {
		var b message.Batch
		for {
			b.Reset()
			if err := s.Recv(ctx, link, &b, transport.Limits{}); err != nil {
				r.done <- err
				return
			}
			r.mu.Lock()
			for _, m := range BatchMessages(&b) {
				r.frames = append(r.frames, m...)
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *tapReader) snapshot() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.frames)
}

// testZeekBrokerLink: a broker set up as Zeek's (an xsub and an xpub with
// verboser, linked, with a subscription tap) between libzmq nodes set up
// as Zeek's: subscriptions are echoed to every node and replayed to a late
// joiner, events arrive byte for byte and in order, a malformed event is
// dropped, a departing node's subscriptions are withdrawn, the tap sees
// every subscription message, and every counter is exact.
func testZeekBrokerLink(t *testing.T, x *suite) {
	s := x.newServer(t)
	xsubEP, xpubEP := startBroker(t, s, FramingZeek)
	tap := readTap(t, s, "broker")
	ctx := PeerContext(t)

	var (
		pA     = zeekproto.NodeIDTopic("A")
		pB     = zeekproto.NodeIDTopic("B")
		pC     = zeekproto.NodeIDTopic("C")
		worker = zeekproto.RoleTopic(zeekproto.RoleWorker)
	)
	a := newZeekNode(t, ctx, "A", xsubEP, xpubEP)
	b := newZeekNode(t, ctx, "B", xsubEP, xpubEP)

	// Subscriptions are echoed to every node, the subscriber included.
	a.subscribe(t, pA)
	a.expectSubscriptions(t, Sub(pA))
	b.expectSubscriptions(t, Sub(pA))
	b.subscribe(t, pB)
	a.expectSubscriptions(t, Sub(pB))
	b.expectSubscriptions(t, Sub(pB))
	// Duplicates are forwarded too.
	a.subscribe(t, worker)
	a.expectSubscriptions(t, Sub(worker))
	b.expectSubscriptions(t, Sub(worker))
	b.subscribe(t, worker)
	a.expectSubscriptions(t, Sub(worker))
	b.expectSubscriptions(t, Sub(worker))

	// A late joiner gets the replay of every known prefix.
	c := newZeekNode(t, ctx, "C", xsubEP, xpubEP)
	c.expectSubscriptions(t, Sub(pA), Sub(pB), Sub(worker))
	c.subscribe(t, pC)
	for _, n := range []*zeekNode{a, b, c} {
		n.expectSubscriptions(t, Sub(pC))
	}

	// Events from A to B's node topic arrive byte for byte, in order.
	const events = 200
	var sentEvents [][][]byte
	for i := range events {
		payload := bytes.Repeat([]byte{byte(i)}, 1+i%97)
		ev := Event(pB+"hello", "A", payload)
		sentEvents = append(sentEvents, ev)
		SendMessage(t, a.pub, ev...)
	}
	// A 3-frame message is dropped by the broker (framing zeek); the event
	// after it arrives next.
	malformed := [][]byte{[]byte(pB + "bad"), []byte("A"), []byte(zeekproto.FormatBrokerBin)}
	SendMessage(t, a.pub, malformed...)
	sentinel := Event(pB+"sentinel", "A", []byte("last"))
	SendMessage(t, a.pub, sentinel...)
	sentEvents = append(sentEvents, sentinel)
	for i, want := range sentEvents {
		got := RecvMessage(t, b.sub)
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("event %d at B: got %s, want %s", i, ShowFrames(got), ShowFrames(want))
		}
	}
	// C publishes to the worker topic: A and B both get it.
	workerEvent := Event(worker+".x", "C", []byte("to workers"))
	SendMessage(t, c.pub, workerEvent...)
	sentEvents = append(sentEvents, workerEvent)
	for _, n := range []*zeekNode{a, b} {
		if got := RecvMessage(t, n.sub); !slices.EqualFunc(got, workerEvent, bytes.Equal) {
			t.Fatalf("worker event at %s: got %s", n.name, ShowFrames(got))
		}
	}

	// A departs: the broker's xpub reports an unsubscription for every
	// prefix A held, and the xsub passes 00 pA on (pA is gone) but not
	// 00 worker (B still holds it).
	a.sub.Close()
	b.expectSubscriptions(t, Unsub(pA))
	c.expectSubscriptions(t, Unsub(pA))

	// The tap saw every subscription message the link forwarded.
	wantTap := [][]byte{Sub(pA), Sub(pB), Sub(worker), Sub(worker), Sub(pC), Unsub(pA), Unsub(worker)}
	testutil.Eventually(t, WaitFor, "all subscription messages on the tap", func() bool { return len(tap.snapshot()) >= len(wantTap) })
	if got := tap.snapshot(); !sameMultiset(got, wantTap) {
		t.Fatalf("tap: %s, want %s", ShowFrames(got), ShowFrames(wantTap))
	}

	// Counters, exactly. Frames and bytes in both directions.
	var evFrames, evBytes uint64
	for _, ev := range sentEvents {
		evFrames += uint64(len(ev))
		evBytes += FrameBytes(ev)
	}
	subFrames, subBytes := uint64(len(wantTap)), FrameBytes(wantTap)
	testutil.Eventually(t, WaitFor, "xpub counters to settle", func() bool {
		return SocketStats(t, s, "xpub").MessagesSent == uint64(len(sentEvents))
	})
	xsub := SocketStats(t, s, "xsub")
	wantXSub := transport.SocketStats{
		ID:               "xsub",
		MessagesReceived: uint64(len(sentEvents)) + 1, FramesReceived: evFrames + 3, BytesReceived: evBytes + FrameBytes(malformed),
		MessagesSent: subFrames, FramesSent: subFrames, BytesSent: subBytes,
		SubscriptionsSent: subFrames,
		Drops:             map[string]uint64{DropMalformed: 1},
	}
	checkStats(t, xsub, wantXSub)
	xpub := SocketStats(t, s, "xpub")
	wantXPub := transport.SocketStats{
		ID:               "xpub",
		MessagesReceived: subFrames, FramesReceived: subFrames, BytesReceived: subBytes,
		SubscriptionsReceived: subFrames,
		MessagesSent:          uint64(len(sentEvents)), FramesSent: evFrames, BytesSent: evBytes,
		Drops: map[string]uint64{},
	}
	checkStats(t, xpub, wantXPub)
	link := SocketStats(t, s, "broker")
	wantLink := transport.SocketStats{
		ID: "broker", MessagesSent: subFrames, FramesSent: subFrames, BytesSent: subBytes,
		SubscriptionsSent: subFrames, Drops: map[string]uint64{},
	}
	checkStats(t, link, wantLink)

	// The xpub's peers: B and C, named by their node-id subscriptions,
	// with nothing lost; A left without losses and is not listed.
	var names []string
	for _, p := range xpub.Peers {
		if p.Address == "" || p.Dropped != 0 || p.Stalled || p.Stalls != 0 {
			t.Errorf("xpub peer %+v", p)
		}
		names = append(names, p.NodeID)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"B", "C"}) {
		t.Errorf("xpub peers %+v, want B and C", xpub.Peers)
	}
}

// checkStats compares the counters and drops of got with want; peers and
// events are checked where a test is about them.
func checkStats(t *testing.T, got, want transport.SocketStats) {
	t.Helper()
	got.Peers, want.Peers = nil, nil
	got.Events, want.Events = nil, nil
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stats of %q:\n got %+v\nwant %+v", want.ID, got, want)
	}
}

// testLinkRawFraming: with framing raw, messages of any shape pass.
func testLinkRawFraming(t *testing.T, x *suite) {
	s := x.newServer(t)
	xsubEP, xpubEP := startBroker(t, s, FramingRaw)
	ctx := PeerContext(t)
	n := newZeekNode(t, ctx, "N", xsubEP, xpubEP)
	n.subscribe(t, "t")
	n.expectSubscriptions(t, Sub("t"))
	msgs := [][][]byte{
		{[]byte("t1")},
		{[]byte("t2"), []byte("x"), []byte("y")},
		Event("t3", "N", []byte("payload")),
		{[]byte("t4"), {}, {}, {}, {}, []byte("six")},
	}
	for _, m := range msgs {
		SendMessage(t, n.pub, m...)
	}
	for i, want := range msgs {
		if got := RecvMessage(t, n.sub); !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("message %d: got %s, want %s", i, ShowFrames(got), ShowFrames(want))
		}
	}
	if d := SocketStats(t, s, "xsub").Drops; len(d) != 0 {
		t.Fatalf("drops under raw framing: %v", d)
	}
}
