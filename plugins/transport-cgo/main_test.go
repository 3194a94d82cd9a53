package main

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/zmqtest"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/core/transport"
)

// TestPluginBroker builds the plugin, starts it through zpipe's plugin host
// and runs a Zeek-style broker link in it, with ZeroMQ peers in this
// process: subscriptions travel up, events down, the tap and the counters
// come back over the plugin protocol.
func TestPluginBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host := startPlugin(t, ctx)

	d, err := host.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "cgo" || !d.HasCapability(transport.CapLink) {
		t.Fatalf("description %+v", d)
	}
	// The peers bind; the plugin's sockets connect to them.
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer zctx.Term()
	pub, xsubEP := peer(t, zctx, zmq.XPUB)
	defer pub.Close()
	sub, xpubEP := peer(t, zctx, zmq.XSUB)
	defer sub.Close()
	for _, spec := range []transport.SocketSpec{
		{ID: "xsub", Kind: "xsub", Config: []byte(`{"connect":["` + xsubEP + `"]}`)},
		{ID: "xpub", Kind: "xpub", Config: []byte(`{"connect":["` + xpubEP + `"],"verboser":true}`)},
	} {
		if err := host.Open(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := host.StartLink(ctx, transport.LinkSpec{ID: "broker", Source: "xsub", Sinks: []string{"xpub"}, TapSubscriptions: true}); err != nil {
		t.Fatal(err)
	}

	if _, err := sub.SendBytes([]byte("\x01zeek.cluster.worker"), 0); err != nil {
		t.Fatal(err)
	}
	if got := zmqtest.Recv(t, 20*time.Second, pub, sub); !bytes.Equal(got[0], []byte("\x01zeek.cluster.worker")) {
		t.Fatalf("publisher got %q", got)
	}
	ev := [][]byte{[]byte("zeek.cluster.worker"), []byte("node-1"), []byte("broker-bin-v1"), []byte("payload")}
	if _, err := pub.SendMessage(ev); err != nil {
		t.Fatal(err)
	}
	if got := zmqtest.Recv(t, 20*time.Second, sub, pub); !slices.EqualFunc(got, ev, bytes.Equal) {
		t.Fatalf("subscriber got %q", got)
	}

	rctx, stop := context.WithCancel(ctx)
	var tapped []byte
	err = host.Receive(rctx, "broker", transport.ReceiveOptions{}, func(b *message.Batch) error {
		it := b.Iter()
		it.Next()
		tapped = bytes.Clone(it.Frame(0))
		stop()
		return nil
	})
	if tapped == nil {
		t.Fatalf("tap: %v", err)
	}
	if !bytes.Equal(tapped, []byte("\x01zeek.cluster.worker")) {
		t.Fatalf("tap got %q", tapped)
	}

	st, err := host.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]transport.SocketStats{}
	for _, s := range st.Sockets {
		byID[s.ID] = s
	}
	if s := byID["xpub"]; s.FramesSent != 4 || s.SubscriptionsReceived != 1 {
		t.Errorf("xpub stats %+v", s)
	}
	if s := byID["xsub"]; s.FramesReceived != 4 || s.SubscriptionsSent != 1 {
		t.Errorf("xsub stats %+v", s)
	}
	if s := byID["broker"]; s.SubscriptionsSent != 1 {
		t.Errorf("tap stats %+v", s)
	}
}

// startPlugin builds the plugin and starts it through zpipe's plugin host;
// it is shut down when the test ends.
func startPlugin(t *testing.T, ctx context.Context) *plugin.TransportHost {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "zpipe-transport-cgo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	host, err := plugin.StartTransport(ctx, plugin.HostConfig{
		Path:   bin,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Shutdown() })
	return host
}

// TestPluginStalledSubscriber: in the plugin process, a broker link whose
// xpub serves a subscriber that never reads and one that reads: the
// healthy one gets every event, and the stall (node id, address, losses,
// episode) comes back through the plugin protocol.
func TestPluginStalledSubscriber(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	host := startPlugin(t, ctx)
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer zctx.Term()
	pub, xsubEP := peer(t, zctx, zmq.XPUB)
	defer pub.Close()
	stalled, stalledEP := peer(t, zctx, zmq.XSUB)
	defer stalled.Close()
	healthy, healthyEP := peer(t, zctx, zmq.XSUB)
	defer healthy.Close()
	for _, err := range []error{pub.SetXpubNodrop(true), stalled.SetRcvhwm(100), stalled.SetRcvbuf(65536)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, spec := range []transport.SocketSpec{
		{ID: "xsub", Kind: "xsub", Config: []byte(`{"connect":["` + xsubEP + `"]}`)},
		{ID: "xpub", Kind: "xpub", Config: []byte(`{"connect":["` + stalledEP + `","` + healthyEP + `"],` +
			`"verboser":true,"sndhwm":100,"send_timeout_ms":1000}`)},
	} {
		if err := host.Open(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := host.StartLink(ctx, transport.LinkSpec{ID: "broker", Source: "xsub", Sinks: []string{"xpub"}}); err != nil {
		t.Fatal(err)
	}
	// Subscribe once the plugin's xpub is connected to both.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := host.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(st.Sockets, func(s transport.SocketStats) bool { return s.ID == "xpub" && len(s.Peers) == 2 }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the xpub did not connect: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for node, s := range map[string]*zmq.Socket{"stuck-node": stalled, "good-node": healthy} {
		for _, topic := range []string{"zeek.cluster.nodeid." + node + ".", "zeek/event/"} {
			if _, err := s.SendBytes(append([]byte{1}, topic...), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The publisher's XPUB passes each topic on once.
	want := map[string]bool{"\x01zeek.cluster.nodeid.stuck-node.": true, "\x01zeek.cluster.nodeid.good-node.": true, "\x01zeek/event/": true}
	for len(want) > 0 {
		got, err := pub.RecvBytes(0)
		if err != nil {
			st, _ := host.Stats(ctx)
			t.Fatalf("publisher: %v; still missing %v; stats %+v", err, want, st)
		}
		delete(want, string(got))
	}
	const n = 20000
	got := make(chan int)
	go func() {
		count := 0
		for count < n {
			msg, err := healthy.RecvMessageBytes(0)
			if err != nil {
				break // receive timeout: nothing more comes
			}
			if len(msg) == 4 {
				count++
			}
		}
		got <- count
	}()
	payload := bytes.Repeat([]byte{'x'}, 1024)
	for i := range n {
		if _, err := pub.SendMessage("zeek/event/x", "pub", "broker-bin-v1", payload); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if c := <-got; c != n {
		t.Fatalf("the healthy subscriber got %d of %d events", c, n)
	}
	st, err := host.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var xpub transport.SocketStats
	for _, s := range st.Sockets {
		if s.ID == "xpub" {
			xpub = s
		}
	}
	if xpub.Drops[transport.DropStalledPeer] == 0 || xpub.Events[transport.EventPeerStalled] != 1 {
		t.Errorf("xpub drops %v, events %v", xpub.Drops, xpub.Events)
	}
	var stuck *transport.PeerStats
	for i, p := range xpub.Peers {
		if p.NodeID == "stuck-node" {
			stuck = &xpub.Peers[i]
		}
	}
	// The peer's count is a lower bound of the xpub's: the first message
	// missed may go before the connection shows full.
	if stuck == nil || !stuck.Stalled || stuck.Stalls != 1 || stuck.Dropped == 0 || stuck.Dropped > xpub.Drops[transport.DropStalledPeer] ||
		stuck.Address != strings.TrimPrefix(stalledEP, "tcp://") {
		t.Errorf("stalled peer %+v (endpoint %s); peers %+v", stuck, stalledEP, xpub.Peers)
	}
}

// peer binds a ZeroMQ socket to a free port and returns its endpoint.
func peer(t *testing.T, zctx *zmq.Context, typ zmq.Type) (*zmq.Socket, string) {
	t.Helper()
	s, err := zctx.NewSocket(typ)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{s.SetLinger(0), s.SetRcvtimeo(20 * time.Second), s.Bind("tcp://127.0.0.1:*")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	ep, err := s.GetLastEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	return s, ep
}
