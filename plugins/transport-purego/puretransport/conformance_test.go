package puretransport

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/zpipe/zpipe/internal/transporttest"
)

// TestConformance runs the transports' conformance suite against this
// transport.
func TestConformance(t *testing.T) {
	transporttest.Run(t, harness)
}

// harness connects the conformance suite to this transport; Peers and
// Receiving look at its internals.
var harness = transporttest.Harness{
	Name: Name,
	New:  func(log *slog.Logger) transporttest.Server { return New(WithLogger(log)) },
	Peers: func(ts transporttest.Server, id string) (int, error) {
		s := ts.(*Server)
		s.mu.Lock()
		sk, ok := s.sockets[id]
		s.mu.Unlock()
		if !ok {
			return 0, fmt.Errorf("no socket %q", id)
		}
		return sk.zs.Peers(), nil
	},
	Receiving: func(ts transporttest.Server, id string) (bool, error) {
		s := ts.(*Server)
		s.mu.Lock()
		sk, isSock := s.sockets[id]
		l, isLink := s.links[id]
		s.mu.Unlock()
		switch {
		case isSock:
			sk.mu.Lock()
			defer sk.mu.Unlock()
			return sk.users > 0, nil
		case isLink && l.tap != nil:
			return l.tap.waiting.Load() > 0, nil
		}
		return false, fmt.Errorf("no socket or tap %q", id)
	},
	// An xpub without nodrop counts the messages a full subscriber misses
	// (README: "Losses libzmq cannot see are counted").
	CountsSilentDrops: true,
	// The pipes are ours: per-subscriber losses are exact.
	ExactPeerDrops: true,
	// Subscriptions are queued beyond sndhwm, up to sndhwm_bytes.
	KeepsSubscriptionBursts: true,
}
