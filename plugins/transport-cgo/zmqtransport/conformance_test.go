package zmqtransport

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
		return int(sk.c.peerCount()), nil
	},
	// A receive holds the socket's mutex while it waits in C.
	Receiving: func(ts transporttest.Server, id string) (bool, error) {
		s := ts.(*Server)
		s.mu.Lock()
		sk, ok := s.sockets[id]
		if l, isLink := s.links[id]; !ok && isLink {
			sk, ok = l.tap, l.tap != nil
		}
		s.mu.Unlock()
		if !ok {
			return false, fmt.Errorf("no socket or tap %q", id)
		}
		if sk.mu.TryLock() {
			sk.mu.Unlock()
			return false, nil
		}
		return true, nil
	},
	// libzmq drops silently for a full subscriber of an xpub without nodrop.
	CountsSilentDrops: false,
	// Stalled peers are named from the kernel's view of their connection;
	// their counts are lower bounds.
	ExactPeerDrops: false,
	// An xsub queues at least 100,000 subscriptions per publisher.
	KeepsSubscriptionBursts: true,
}
