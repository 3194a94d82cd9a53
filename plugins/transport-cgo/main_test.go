package main

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
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
	bin := filepath.Join(t.TempDir(), "zpipe-transport-cgo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host, err := plugin.StartTransport(ctx, plugin.HostConfig{
		Path:   bin,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Shutdown()

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
