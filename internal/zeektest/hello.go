package zeektest

import (
	"fmt"
	"sort"
	"time"
)

// Peer is another cluster node as the hello protocol knows it.
type Peer struct {
	Name string
	ID   string
}

// effectKind says what a hello-protocol step asks its node to do.
type effectKind int

const (
	effPublish  effectKind = iota // publish payload to topic
	effNodeUp                     // raise Cluster::node_up(peer)
	effNodeDown                   // raise Cluster::node_down(peer)
	effWarning                    // Reporter::warning(text)
	effError                      // Reporter::error(text)
	effLog                        // a cluster.log line
)

type effect struct {
	kind    effectKind
	topic   string
	payload []byte
	peer    Peer
	text    string
}

// helloProtocol is the node-side hello protocol of Zeek's ZeroMQ backend
// and cluster framework (docs/zeek-wire.md#hello-protocol), without any
// I/O: each input returns the effects the node must carry out, in order.
type helloProtocol struct {
	name, id   string
	expiration time.Duration
	// known holds the names of Cluster::nodes; nil accepts every name.
	known map[string]bool
	// ids is Cluster::nodes[name]$id: the id a node said Cluster::hello with.
	ids map[string]string
	// subscriptions and hellos are nodeid_subscriptions and nodeid_hellos:
	// node ids mapped to when they were inserted.
	subscriptions map[string]time.Time
	hellos        map[string]time.Time
}

func newHelloProtocol(name, id string, known []string, expiration time.Duration) *helloProtocol {
	h := &helloProtocol{
		name:          name,
		id:            id,
		expiration:    expiration,
		ids:           map[string]string{},
		subscriptions: map[string]time.Time{},
		hellos:        map[string]time.Time{},
	}
	if len(known) > 0 {
		h.known = map[string]bool{}
		for _, k := range known {
			h.known[k] = true
		}
	}
	return h
}

func (h *helloProtocol) isKnown(name string) bool { return h.known == nil || h.known[name] }

func (h *helloProtocol) publish(topic, event string) (effect, error) {
	payload, err := EncodeEvent(event, h.name, h.id)
	if err != nil {
		return effect{}, fmt.Errorf("encode %s: %w", event, err)
	}
	return effect{kind: effPublish, topic: topic, payload: payload}, nil
}

// onSubscription handles Cluster::Backend::ZeroMQ::subscription(topic),
// raised the first time a topic is seen on the node's XPUB.
func (h *helloProtocol) onSubscription(topic string, now time.Time) ([]effect, error) {
	id, ok := NodeIDFromTopic(topic)
	if !ok || id == h.id {
		return nil, nil
	}
	hello, err := h.publish(topic, ZeroMQHelloEvent)
	if err != nil {
		return nil, err
	}
	out := []effect{hello}
	if _, ok := h.hellos[id]; ok {
		delete(h.hellos, id)
		ch, err := h.publish(topic, ClusterHelloEvent)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	} else {
		h.subscriptions[id] = now
	}
	return out, nil
}

// onUnsubscription handles Cluster::Backend::ZeroMQ::unsubscription(topic).
func (h *helloProtocol) onUnsubscription(topic string) []effect {
	id, ok := NodeIDFromTopic(topic)
	if !ok || id == h.id {
		return nil
	}
	for _, name := range sortedKeys(h.ids) {
		if h.ids[name] == id {
			return h.nodeDown(Peer{Name: name, ID: id})
		}
	}
	return []effect{{kind: effWarning, text: fmt.Sprintf("unsubscription of unknown node with id '%s'", id)}}
}

func (h *helloProtocol) nodeDown(p Peer) []effect {
	delete(h.ids, p.Name)
	return []effect{
		{kind: effNodeDown, peer: p},
		{kind: effLog, text: "node down: " + p.Name},
	}
}

// onEvent handles a received event; only the two hello events matter.
func (h *helloProtocol) onEvent(ev Event, now time.Time) ([]effect, error) {
	if ev.Name != ZeroMQHelloEvent && ev.Name != ClusterHelloEvent {
		return nil, nil
	}
	if len(ev.Args) != 2 {
		return []effect{{kind: effError, text: fmt.Sprintf("Unserialize error '%s' arg_types.size()=2 and args.size()=%d", ev.Name, len(ev.Args))}}, nil
	}
	args, ok := ev.StringArgs()
	if !ok {
		return []effect{{kind: effError, text: fmt.Sprintf("Unserialize error for event '%s': arguments %v are not two strings", ev.Name, ev.Args)}}, nil
	}
	p := Peer{Name: args[0], ID: args[1]}
	if ev.Name == ZeroMQHelloEvent {
		return h.onZeroMQHello(p, now)
	}
	return h.onClusterHello(p), nil
}

func (h *helloProtocol) onZeroMQHello(p Peer, now time.Time) ([]effect, error) {
	var out []effect
	if old, ok := h.ids[p.Name]; ok && h.isKnown(p.Name) {
		if old == p.ID {
			return []effect{{kind: effWarning, text: fmt.Sprintf("node '%s' sends ZeroMQ::hello twice (id:%s)", p.Name, p.ID)}}, nil
		}
		// The missing parenthesis is Zeek's.
		out = append(out, effect{kind: effWarning, text: fmt.Sprintf("node '%s' never said goodbye (old id:%s new id:%s", p.Name, old, p.ID)})
		out = append(out, h.nodeDown(Peer{Name: p.Name, ID: old})...)
	}
	if _, ok := h.subscriptions[p.ID]; ok {
		delete(h.subscriptions, p.ID)
		ch, err := h.publish(NodeIDTopic(p.ID), ClusterHelloEvent)
		if err != nil {
			return nil, err
		}
		return append(out, ch), nil
	}
	h.hellos[p.ID] = now
	return out, nil
}

func (h *helloProtocol) onClusterHello(p Peer) []effect {
	if !h.isKnown(p.Name) {
		return []effect{{kind: effError, text: "Got Cluster::hello msg from unexpected node: " + p.Name}}
	}
	var out []effect
	old, ok := h.ids[p.Name]
	switch {
	case ok && old != p.ID:
		out = append(out, effect{kind: effError, text: "Got Cluster::hello msg from duplicate node:" + p.Name})
	case !ok:
		out = append(out, effect{kind: effNodeUp, peer: p})
	}
	h.ids[p.Name] = p.ID
	return append(out, effect{kind: effLog, text: fmt.Sprintf("got hello from %s (%s)", p.Name, p.ID)})
}

// expire drops half-finished handshakes older than the expiration and
// returns Zeek's warnings for them.
func (h *helloProtocol) expire(now time.Time) []effect {
	var out []effect
	for _, id := range sortedKeys(h.subscriptions) {
		if now.Sub(h.subscriptions[id]) >= h.expiration {
			delete(h.subscriptions, id)
			out = append(out, effect{kind: effWarning, text: "Expired subscription from nodeid " + id})
		}
	}
	for _, id := range sortedKeys(h.hellos) {
		if now.Sub(h.hellos[id]) >= h.expiration {
			delete(h.hellos, id)
			out = append(out, effect{kind: effWarning, text: "Expired hello from nodeid " + id})
		}
	}
	return out
}

// nextExpiry returns when the oldest pending entry expires.
func (h *helloProtocol) nextExpiry() (time.Time, bool) {
	var next time.Time
	found := false
	for _, m := range []map[string]time.Time{h.subscriptions, h.hellos} {
		for _, t := range m {
			if exp := t.Add(h.expiration); !found || exp.Before(next) {
				next, found = exp, true
			}
		}
	}
	return next, found
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
