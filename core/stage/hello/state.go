package hello

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/zpipe/zpipe/core/zeekproto"
)

// maxRetired bounds the replaced ids remembered until their
// unsubscription (normally it arrives within moments).
const maxRetired = 1024

// The methods below change the membership state; s.mu is held.

// onSubscription handles the node-id subscription of id, on topic
// (docs/zeek-wire.md#hello-protocol, step 1).
func (s *Stage) onSubscription(id, topic string, now time.Time, fx *effects) {
	if _, ok := s.subscribed[id]; ok {
		return // a repeat: Zeek raises subscription() once per topic
	}
	if _, ok := s.retired[id]; ok {
		return // an incarnation replaced by a newer one
	}
	s.subscribed[id] = struct{}{}
	if s.mode == ModeParticipate {
		fx.publish(topic, false)
	}
	if _, up := s.byID[id]; up {
		return
	}
	if h, ok := s.pendingHellos[id]; ok {
		delete(s.pendingHellos, id)
		s.nodeUp(h.name, id, now, fx)
		return
	}
	if _, ok := s.pendingSubs[id]; !ok {
		s.pendingSubs[id] = now
		fx.wake = true
	}
}

// onUnsubscription handles the node-id unsubscription of id
// (docs/zeek-wire.md#hello-protocol, step 5).
func (s *Stage) onUnsubscription(id string, fx *effects) {
	delete(s.subscribed, id)
	delete(s.pendingSubs, id)
	delete(s.pendingHellos, id)
	if _, ok := s.retired[id]; ok {
		delete(s.retired, id)
		return // its departure was already recorded
	}
	name, ok := s.byID[id]
	if !ok {
		fx.logf(slog.LevelDebug, fmt.Sprintf("unsubscription of unknown node with id '%s'", id), "id", id)
		return
	}
	s.nodeDown(s.members[name], fx)
}

// onHello handles a ZeroMQ::hello or Cluster::hello
// (docs/zeek-wire.md#hello-protocol, steps 2 and 3).
func (s *Stage) onHello(h helloEvent, now time.Time, fx *effects) {
	if s.mode == ModeParticipate && h.id == s.id {
		return // our own
	}
	if name, up := s.byID[h.id]; up {
		if name != h.name {
			s.malformed("hello names a node id that is up under another name", "id", h.id, "name", h.name, "up_as", name)
		}
		return // the same node again: an observer sees its hello to every node
	}
	if _, ok := s.retired[h.id]; ok {
		return // a late hello of an incarnation replaced by a newer one
	}
	_, subscribed := s.subscribed[h.id]
	if h.cluster {
		// Only fills in a missed ZeroMQ::hello.
		if subscribed {
			delete(s.pendingSubs, h.id)
			s.nodeUp(h.name, h.id, now, fx)
		}
		return
	}
	s.replaced(h.name, h.id, fx)
	if subscribed {
		delete(s.pendingSubs, h.id)
		delete(s.pendingHellos, h.id)
		s.nodeUp(h.name, h.id, now, fx)
		return
	}
	if p, ok := s.pendingHellos[h.id]; ok {
		p.name = h.name // keep the time of the first: the entry is not renewed
		s.pendingHellos[h.id] = p
		return
	}
	s.pendingHellos[h.id] = pendingHello{name: h.name, at: now}
	fx.wake = true
}

// replaced takes down the node called name if it is up with an id other
// than id: it restarted without its unsubscription having been seen.
func (s *Stage) replaced(name, id string, fx *effects) {
	old, ok := s.members[name]
	if !ok || old.ID == id {
		return
	}
	// The missing parenthesis is Zeek's.
	fx.logf(slog.LevelWarn, fmt.Sprintf("node '%s' never said goodbye (old id:%s new id:%s", name, old.ID, id),
		"name", name, "old_id", old.ID, "new_id", id)
	s.counts.reincarnations.Add(1)
	s.nodeDown(old, fx)
	// Until its unsubscription arrives, the old id is ignored, so that a
	// late hello of the old process cannot take the new one down again.
	delete(s.subscribed, old.ID)
	delete(s.pendingSubs, old.ID)
	if len(s.retired) >= maxRetired {
		clear(s.retired)
	}
	s.retired[old.ID] = struct{}{}
}

// nodeUp records the node as up; in participate mode with cluster_hello
// the handshake completes with Cluster::hello to it.
func (s *Stage) nodeUp(name, id string, now time.Time, fx *effects) {
	s.replaced(name, id, fx)
	m := Member{Name: name, ID: id, Role: zeekproto.RoleOf(name), Since: now}
	s.members[name] = m
	s.byID[id] = name
	s.counts.up.Add(1)
	fx.logf(slog.LevelInfo, "node up", "name", m.Name, "id", m.ID, "role", m.Role)
	if s.membershipTopic != "" {
		fx.changes = append(fx.changes, membershipChange{up: true, m: m})
	}
	if s.mode == ModeParticipate && s.sendCluster {
		fx.publish(zeekproto.NodeIDTopic(id), true)
	}
}

// nodeDown records the node as down.
func (s *Stage) nodeDown(m Member, fx *effects) {
	delete(s.members, m.Name)
	delete(s.byID, m.ID)
	s.counts.down.Add(1)
	fx.logf(slog.LevelInfo, "node down", "name", m.Name, "id", m.ID, "role", m.Role)
	if s.membershipTopic != "" {
		fx.changes = append(fx.changes, membershipChange{m: m})
	}
}

// expire drops the half handshakes whose time is up, with Zeek's
// warnings, and returns how long until the next one is due (ok false when
// none is pending).
func (s *Stage) expire() (next time.Duration, ok bool) {
	var logs []string
	subs := 0 // the first logs are for subscriptions
	s.mu.Lock()
	now := s.now()
	var earliest time.Time
	due := func(at time.Time) bool {
		deadline := at.Add(s.expiration)
		if !now.Before(deadline) {
			return true
		}
		if !ok || deadline.Before(earliest) {
			earliest, ok = deadline, true
		}
		return false
	}
	for _, id := range slices.Sorted(maps.Keys(s.pendingSubs)) {
		if due(s.pendingSubs[id]) {
			delete(s.pendingSubs, id)
			logs = append(logs, "Expired subscription from nodeid "+id)
			subs++
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.pendingHellos)) {
		if due(s.pendingHellos[id].at) {
			delete(s.pendingHellos, id)
			logs = append(logs, "Expired hello from nodeid "+id)
		}
	}
	s.mu.Unlock()
	// Logged before counted, so that whoever sees the count finds the
	// warning.
	for i, l := range logs {
		s.log.Warn(l)
		if i < subs {
			s.counts.expiredSubs.Add(1)
		} else {
			s.counts.expiredHellos.Add(1)
		}
	}
	if !ok {
		return 0, false
	}
	return earliest.Sub(now), true
}

func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
}
