package zeektest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Message is a multipart message a node received.
type Message struct {
	Frames [][]byte
	At     time.Time
}

func (m Message) frame(i int) []byte {
	if i < len(m.Frames) {
		return m.Frames[i]
	}
	return nil
}

// Topic returns frame 0.
func (m Message) Topic() string { return string(m.frame(0)) }

// Sender returns frame 1, the sender's node id.
func (m Message) Sender() string { return string(m.frame(1)) }

// Format returns frame 2, the serialization format name.
func (m Message) Format() string { return string(m.frame(2)) }

// Payload returns frame 3.
func (m Message) Payload() []byte { return m.frame(3) }

// Event decodes the payload as a broker-bin-v1 event.
func (m Message) Event() (Event, error) { return DecodeEvent(m.Payload()) }

// SubscriptionChange is one message a node read from its XPUB:
// 01 <prefix> (Subscribe) or 00 <prefix>.
type SubscriptionChange struct {
	Subscribe bool
	Prefix    string
	At        time.Time
}

// String renders the change as "+prefix" or "-prefix".
func (c SubscriptionChange) String() string {
	if c.Subscribe {
		return "+" + c.Prefix
	}
	return "-" + c.Prefix
}

// state is what a node observed, shared between its I/O goroutine and its
// callers. Every change closes changed, waking waiters.
type state struct {
	mu           sync.Mutex
	changed      chan struct{}
	subs         []SubscriptionChange
	nodeUps      []Peer
	nodeDowns    []Peer
	received     []Message
	malformed    []Message
	warnings     []string
	errors       []string
	clusterLog   []string
	socketEvents []string
	msgErrors    int
	xpubDrops    int
	published    int
	selfFiltered int
	fired        map[uint64]bool
	finished     bool
	fatal        error
}

func (s *state) init() {
	s.changed = make(chan struct{})
	s.fired = map[uint64]bool{}
}

// update runs f under the lock and wakes waiters.
func (s *state) update(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *state) addSubscription(c SubscriptionChange, fired []uint64) {
	s.update(func() {
		s.subs = append(s.subs, c)
		for _, t := range fired {
			s.fired[t] = true
		}
	})
}

func (s *state) addPeer(list *[]Peer, p Peer) { s.update(func() { *list = append(*list, p) }) }

func (s *state) addText(list *[]string, text string) {
	s.update(func() { *list = append(*list, text) })
}

func (s *state) addError(text string) { s.addText(&s.errors, text) }

func (s *state) addReceived(m Message) { s.update(func() { s.received = append(s.received, m) }) }

func (s *state) addSelfFiltered() { s.update(func() { s.selfFiltered++ }) }

func (s *state) addMsgError(text string, m Message) {
	s.update(func() {
		s.msgErrors++
		s.errors = append(s.errors, text)
		s.malformed = append(s.malformed, m)
	})
}

func (s *state) addPublished() { s.update(func() { s.published++ }) }

func (s *state) addDrop(warn bool) {
	s.update(func() {
		s.xpubDrops++
		if warn {
			s.warnings = append(s.warnings, "[zeromq] xpub: warn: dropped a message due to hwm")
		}
	})
}

func (s *state) setFatal(err error) {
	s.update(func() {
		if s.fatal == nil {
			s.fatal = err
		}
	})
}

func (s *state) fatalError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

func (s *state) finish() { s.update(func() { s.finished = true }) }

// wait blocks until cond (called with the lock held) is true, ctx is done,
// or the node has stopped.
func (s *state) wait(ctx context.Context, node, what string, cond func(*state) bool) error {
	for {
		s.mu.Lock()
		ok, finished, changed := cond(s), s.finished, s.changed
		summary := ""
		if !ok && (finished || ctx.Err() != nil) {
			summary = s.summary()
		}
		s.mu.Unlock()
		switch {
		case ok:
			return nil
		case finished:
			return fmt.Errorf("node %s: waiting for %s: node stopped (%s)", node, what, summary)
		case ctx.Err() != nil:
			return fmt.Errorf("node %s: waiting for %s: %w (%s)", node, what, ctx.Err(), summary)
		}
		select {
		case <-changed:
		case <-ctx.Done():
		}
	}
}

// summary describes the state for error messages; the lock must be held.
func (s *state) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d subscription messages", len(s.subs))
	if n := len(s.subs); n > 0 {
		from := max(0, n-8)
		fmt.Fprintf(&b, ", last %v", s.subs[from:])
	}
	fmt.Fprintf(&b, "; node_up %v; node_down %v; %d published, %d xpub drops; %d received, %d own filtered, %d malformed",
		s.nodeUps, s.nodeDowns, s.published, s.xpubDrops, len(s.received), s.selfFiltered, len(s.malformed))
	fmt.Fprintf(&b, "; socket events %q", s.socketEvents)
	if len(s.warnings) > 0 {
		fmt.Fprintf(&b, "; warnings %q", s.warnings)
	}
	if len(s.errors) > 0 {
		fmt.Fprintf(&b, "; errors %q", s.errors)
	}
	if s.fatal != nil {
		fmt.Fprintf(&b, "; stopped by %v", s.fatal)
	}
	return b.String()
}

func snapshot[T any](n *Node, f func(*state) []T) []T {
	n.st.mu.Lock()
	defer n.st.mu.Unlock()
	return append([]T(nil), f(&n.st)...)
}

func counter(n *Node, f func(*state) int) int {
	n.st.mu.Lock()
	defer n.st.mu.Unlock()
	return f(&n.st)
}

// Summary describes what the node has seen so far, for test failures.
func (n *Node) Summary() string {
	n.st.mu.Lock()
	defer n.st.mu.Unlock()
	return fmt.Sprintf("node %s (%s): %s", n.cfg.Name, n.id, n.st.summary())
}

// Subscriptions returns every message read from the node's XPUB, in order.
func (n *Node) Subscriptions() []SubscriptionChange {
	return snapshot(n, func(s *state) []SubscriptionChange { return s.subs })
}

// NodeUps returns the peers for which Cluster::node_up was raised, in order.
func (n *Node) NodeUps() []Peer { return snapshot(n, func(s *state) []Peer { return s.nodeUps }) }

// NodeDowns returns the peers for which Cluster::node_down was raised.
func (n *Node) NodeDowns() []Peer { return snapshot(n, func(s *state) []Peer { return s.nodeDowns }) }

// Received returns the well-formed event messages received from other
// nodes, in arrival order (own messages are filtered out, as in Zeek).
func (n *Node) Received() []Message {
	return snapshot(n, func(s *state) []Message { return s.received })
}

// Malformed returns messages dropped for their part count.
func (n *Node) Malformed() []Message {
	return snapshot(n, func(s *state) []Message { return s.malformed })
}

// Warnings returns Zeek's reporter warnings (and warnings printed to
// stderr) this node would have produced, in order.
func (n *Node) Warnings() []string { return snapshot(n, func(s *state) []string { return s.warnings }) }

// Errors returns Zeek's reporter errors and stderr error lines.
func (n *Node) Errors() []string { return snapshot(n, func(s *state) []string { return s.errors }) }

// ClusterLog returns the lines the node would have written to cluster.log.
func (n *Node) ClusterLog() []string {
	return snapshot(n, func(s *state) []string { return s.clusterLog })
}

// SocketEvents returns the libzmq monitor events of the node's XSUB and
// XPUB sockets ("xsub EVENT_CONNECTED tcp://… 12"), in order.
func (n *Node) SocketEvents() []string {
	return snapshot(n, func(s *state) []string { return s.socketEvents })
}

// MsgErrors returns zeek_cluster_zeromq_msg_errors_total: messages with the
// wrong number of parts.
func (n *Node) MsgErrors() int { return counter(n, func(s *state) int { return s.msgErrors }) }

// XPubDrops returns zeek_cluster_zeromq_xpub_drops_total: publications
// dropped because the XPUB high-water mark was reached.
func (n *Node) XPubDrops() int { return counter(n, func(s *state) int { return s.xpubDrops }) }

// SelfFiltered returns how many of the node's own messages came back and
// were dropped.
func (n *Node) SelfFiltered() int { return counter(n, func(s *state) int { return s.selfFiltered }) }

// Wait blocks until cond, called with the node's state locked, returns
// true; what describes the condition for the error returned when ctx ends
// first or the node stops.
func (n *Node) Wait(ctx context.Context, what string, cond func(v View) bool) error {
	return n.st.wait(ctx, n.cfg.Name, what, func(s *state) bool { return cond(View{s}) })
}

// View gives a Wait condition read access to a node's state without copying.
// It is valid only during the call.
type View struct{ s *state }

// Subscriptions returns the XPUB messages seen so far (do not modify).
func (v View) Subscriptions() []SubscriptionChange { return v.s.subs }

// Received returns the events received so far (do not modify).
func (v View) Received() []Message { return v.s.received }

// Malformed returns the messages dropped for their part count so far.
func (v View) Malformed() []Message { return v.s.malformed }

// NodeUps returns the node_up peers so far.
func (v View) NodeUps() []Peer { return v.s.nodeUps }

// NodeDowns returns the node_down peers so far.
func (v View) NodeDowns() []Peer { return v.s.nodeDowns }

// Warnings returns the warnings so far.
func (v View) Warnings() []string { return v.s.warnings }

// Errors returns the errors so far.
func (v View) Errors() []string { return v.s.errors }

// MsgErrors returns the count of messages with the wrong number of parts.
func (v View) MsgErrors() int { return v.s.msgErrors }

// XPubDrops returns the count of publications dropped at the high-water
// mark.
func (v View) XPubDrops() int { return v.s.xpubDrops }

// SelfFiltered returns the count of own messages dropped on receipt.
func (v View) SelfFiltered() int { return v.s.selfFiltered }

// WaitNodeUp waits until node_up was raised for the peer called name and
// returns it.
func (n *Node) WaitNodeUp(ctx context.Context, name string) (Peer, error) {
	var p Peer
	err := n.Wait(ctx, "node_up of "+strconv.Quote(name), func(v View) bool {
		return findPeer(v.NodeUps(), func(x Peer) bool { return x.Name == name }, &p)
	})
	return p, err
}

// WaitNodeDown waits until node_down was raised for the node with id and
// returns the peer.
func (n *Node) WaitNodeDown(ctx context.Context, id string) (Peer, error) {
	var p Peer
	err := n.Wait(ctx, "node_down of "+strconv.Quote(id), func(v View) bool {
		return findPeer(v.NodeDowns(), func(x Peer) bool { return x.ID == id }, &p)
	})
	return p, err
}

func findPeer(list []Peer, match func(Peer) bool, out *Peer) bool {
	for _, p := range list {
		if match(p) {
			*out = p
			return true
		}
	}
	return false
}

// WaitSubscriptionSeen waits until 01 prefix has arrived on the node's XPUB.
func (n *Node) WaitSubscriptionSeen(ctx context.Context, prefix string) error {
	return n.waitChange(ctx, SubscriptionChange{Subscribe: true, Prefix: prefix})
}

// WaitUnsubscriptionSeen waits until 00 prefix has arrived on the node's
// XPUB.
func (n *Node) WaitUnsubscriptionSeen(ctx context.Context, prefix string) error {
	return n.waitChange(ctx, SubscriptionChange{Subscribe: false, Prefix: prefix})
}

func (n *Node) waitChange(ctx context.Context, want SubscriptionChange) error {
	return n.Wait(ctx, "XPUB message "+strconv.Quote(want.String()), func(v View) bool {
		for _, c := range v.Subscriptions() {
			if c.Subscribe == want.Subscribe && c.Prefix == want.Prefix {
				return true
			}
		}
		return false
	})
}

// WaitReceived waits until at least count events have been received.
func (n *Node) WaitReceived(ctx context.Context, count int) error {
	return n.Wait(ctx, fmt.Sprintf("%d received events", count), func(v View) bool {
		return len(v.Received()) >= count
	})
}

// WaitReceivedMatching waits for a received event for which match is true
// and returns the first such event.
func (n *Node) WaitReceivedMatching(ctx context.Context, what string, match func(Message) bool) (Message, error) {
	var found Message
	checked := 0
	err := n.Wait(ctx, what, func(v View) bool {
		r := v.Received()
		for ; checked < len(r); checked++ {
			if match(r[checked]) {
				found = r[checked]
				return true
			}
		}
		return false
	})
	return found, err
}

// WaitMalformed waits until at least count messages were dropped for their
// part count.
func (n *Node) WaitMalformed(ctx context.Context, count int) error {
	return n.Wait(ctx, fmt.Sprintf("%d malformed messages", count), func(v View) bool {
		return len(v.Malformed()) >= count
	})
}

// WaitWarning waits for a warning containing substr and returns it.
func (n *Node) WaitWarning(ctx context.Context, substr string) (string, error) {
	var found string
	err := n.Wait(ctx, "warning containing "+strconv.Quote(substr), func(v View) bool {
		for _, w := range v.Warnings() {
			if strings.Contains(w, substr) {
				found = w
				return true
			}
		}
		return false
	})
	return found, err
}
