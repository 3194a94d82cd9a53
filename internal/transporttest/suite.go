package transporttest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/testutil"
)

// Server is what the suite needs from a transport beyond transport.Server.
type Server interface {
	transport.Server
	// BoundEndpoints returns the endpoints socket id is bound to, with a
	// wildcard port replaced by the port picked.
	BoundEndpoints(id string) ([]string, error)
	// CloseAll stops every link and closes every socket.
	CloseAll(ctx context.Context) error
}

// Harness connects the suite to one transport. Name and the functions
// are required.
type Harness struct {
	// Name is the transport's name, as Describe reports it: "cgo",
	// "purego".
	Name string
	// New returns a transport with no sockets that logs to log.
	New func(log *slog.Logger) Server
	// Peers returns the number of peers connected to socket id, as the
	// transport counts them for itself (internal introspection).
	Peers func(s Server, id string) (int, error)
	// Receiving reports whether a Recv is waiting at this moment on socket
	// id, or on the subscription tap of link id.
	Receiving func(s Server, id string) (bool, error)
	// CountsSilentDrops says that the transport counts, as "hwm" drops, the
	// messages an xpub without nodrop skips for a subscriber whose queue
	// is full. libzmq skips them silently, so transport-cgo cannot count
	// them; transport-purego does (a difference its README documents).
	// The suite checks either way that drops are never over-counted, and,
	// when this is set, that they are counted exactly.
	CountsSilentDrops bool
	// ExactPeerDrops says that an xpub's per-subscriber losses
	// (PeerStats.Dropped) and stall episodes are counted exactly, with
	// DroppedExact set: transport-purego owns its subscribers' queues.
	// libzmq hides its queues, so transport-cgo's per-peer counts are
	// lower bounds. The suite checks either way that they are never
	// over-counted, and, when this is set, that they are exact.
	ExactPeerDrops bool
	// KeepsSubscriptionBursts says that a burst of 100,000 subscriptions
	// through a broker link reaches the publishers without a loss
	// (transport-purego queues subscriptions beyond the HWM, up to its
	// byte bound). Either way every subscription lost must be counted as
	// "subscription_lost".
	KeepsSubscriptionBursts bool
}

// suite is one run of the conformance tests against a harness.
type suite struct {
	h Harness
}

// conformanceTests lists every test of the suite, named as the subtests
// are (the names of the transports' former Test functions, less "Test").
var conformanceTests = []struct {
	name string
	run  func(t *testing.T, x *suite)
}{
	// Describe, Open and configuration.
	{"Describe", testDescribe},
	{"OpenRejectsBadConfig", testOpenRejectsBadConfig},
	{"OpenFailures", testOpenFailures},
	{"IOThreadsAndIPv6", testIOThreadsAndIPv6},
	{"Validate", testValidate},
	// Sockets driven through Recv and Send.
	{"OpenEveryKind", testOpenEveryKind},
	{"PullRecvBatches", testPullRecvBatches},
	{"RecvLargeMessage", testRecvLargeMessage},
	{"PullFairQueue", testPullFairQueue},
	{"PushRoundRobin", testPushRoundRobin},
	{"PushNoPeer", testPushNoPeer},
	{"PushBlockingSend", testPushBlockingSend},
	{"XSubXPubRecvSend", testXSubXPubRecvSend},
	{"RecvAfterClose", testRecvAfterClose},
	{"RecvContextCancel", testRecvContextCancel},
	{"WrongDirection", testWrongDirection},
	{"XPubVerbose", testXPubVerbose},
	{"XPubVerbosity", testXPubVerbosity},
	{"XPubSlowConsumerHWM", testXPubSlowConsumerHWM},
	{"Oversize", testOversize},
	{"Quiesce", testQuiesce},
	{"ConnectFailures", testConnectFailures},
	{"HandshakeFailures", testHandshakeFailures},
	// Links.
	{"ZeekBrokerLink", testZeekBrokerLink},
	{"LinkRawFraming", testLinkRawFraming},
	{"LinkPullToSinks", testLinkPullToSinks},
	{"LinkOwnsSockets", testLinkOwnsSockets},
	{"LinkStopWhileBlocked", testLinkStopWhileBlocked},
	{"LinkManySinksOrder", testLinkManySinksOrder},
	{"SlowSubscriberBlocks", testSlowSubscriberBlocks},
	{"SlowSubscriberDrops", testSlowSubscriberDrops},
	{"SlowSubscriberDisconnect", testSlowSubscriberDisconnect},
	{"SubscriptionBurst", testSubscriptionBurst},
	// Lifetimes.
	{"NoLeaks", testNoLeaks},
	{"CloseWhileLingering", testCloseWhileLingering},
}

// Run runs every conformance test against the transport h describes, each
// as a subtest of t, one after the other.
func Run(t *testing.T, h Harness) {
	if h.Name == "" || h.New == nil || h.Peers == nil || h.Receiving == nil {
		t.Fatalf("transporttest.Run: incomplete harness %+v", h)
	}
	x := &suite{h: h}
	for _, c := range conformanceTests {
		t.Run(c.name, func(t *testing.T) { c.run(t, x) })
	}
}

// newServer returns a transport that logs to the test's output and is
// closed when the test ends.
func (x *suite) newServer(t testing.TB) Server {
	t.Helper()
	return NewServer(t, x.h.New)
}

// waitPeers waits until socket id has n connected peers.
func (x *suite) waitPeers(t testing.TB, s Server, id string, n int) {
	t.Helper()
	testutil.Eventually(t, WaitFor, fmt.Sprintf("%d peers on %q (%s)", n, id, x.h.Name), func() bool {
		got, err := x.h.Peers(s, id)
		if err != nil {
			t.Fatalf("peers of %q: %v", id, err)
		}
		return got == n
	})
}

// waitReceiving waits until a receive waits on socket id, or on the tap
// of link id.
func (x *suite) waitReceiving(t testing.TB, s Server, id string) {
	t.Helper()
	testutil.Eventually(t, WaitFor, "a receive waiting on "+id, func() bool {
		ok, err := x.h.Receiving(s, id)
		if err != nil {
			t.Fatalf("receiving on %q: %v", id, err)
		}
		return ok
	})
}
