package main

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/core/transport"
)

// buildPlugin builds the plugin with CGO_ENABLED=0 into a temporary
// directory.
func buildPlugin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "zpipe-transport-purego")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	return bin
}

// TestStaticBuild: the plugin builds without cgo into a static binary that
// needs no shared library (libzmq or libc), and links neither cgo nor a
// libzmq binding.
func TestStaticBuild(t *testing.T) {
	bin := buildPlugin(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("read the plugin binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the plugin binary has a program interpreter: it is dynamically linked")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the plugin binary needs shared libraries %q (%v)", libs, err)
	}
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, bad := range []string{"runtime/cgo", "github.com/pebbe/zmq4", "github.com/zpipe/zpipe/plugins/transport-cgo/zmqtransport"} {
		if slices.Contains(deps, bad) {
			t.Errorf("the plugin depends on %s", bad)
		}
	}
	if !slices.Contains(deps, "github.com/go-zeromq/zmq4") {
		t.Error("the plugin does not use go-zeromq/zmq4")
	}
}

// TestPluginBroker starts the CGO_ENABLED=0 plugin through zpipe's plugin
// host and runs a Zeek-style broker link in it, with libzmq peers in this
// process: subscriptions travel up, events down, the tap and the counters
// come back over the plugin protocol, and CURVE is refused by name.
func TestPluginBroker(t *testing.T) {
	bin := buildPlugin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host, err := plugin.StartTransport(ctx, plugin.HostConfig{
		Path:   bin,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Shutdown()

	d, err := host.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "purego" || !d.HasCapability(transport.CapLink) || d.HasCapability(transport.CapCurve) {
		t.Fatalf("description %+v", d)
	}
	want, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/go-zeromq/zmq4").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.Version, "go-zeromq/zmq4 "+strings.TrimSpace(string(want))) {
		t.Errorf("version %q does not name go-zeromq/zmq4 %s", d.Version, want)
	}

	// CURVE options are refused, naming the option and the transport.
	err = host.Open(ctx, transport.SocketSpec{ID: "curvy", Kind: "xpub", Config: []byte(`{"bind":["tcp://127.0.0.1:*"],"curve_server":true}`)})
	if err == nil || !strings.Contains(err.Error(), `"curve_server"`) || !strings.Contains(err.Error(), `"purego"`) {
		t.Fatalf("open with CURVE: %v", err)
	}

	// The peers bind; the plugin's sockets connect to them.
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	// Terminated after the peers and their monitors are closed.
	t.Cleanup(func() { _ = zctx.Term() })
	pub, xsubEP, _ := peer(t, zctx, zmq.XPUB)
	defer pub.Close()
	sub, xpubEP, subConnected := peer(t, zctx, zmq.XSUB)
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

	// A bound libzmq XSUB sends the subscriptions it holds to a peer that
	// connects later only with its next message, so subscribe once the
	// plugin's xpub is connected.
	subConnected()
	if _, err := sub.SendBytes([]byte("\x01zeek.cluster.worker"), 0); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, pub); !bytes.Equal(got[0], []byte("\x01zeek.cluster.worker")) {
		t.Fatalf("publisher got %q", got)
	}
	ev := [][]byte{[]byte("zeek.cluster.worker"), []byte("node-1"), []byte("broker-bin-v1"), []byte("payload")}
	if _, err := pub.SendMessage(ev); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, sub); !slices.EqualFunc(got, ev, bytes.Equal) {
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

// TestPluginValidateAndDrain: over the plugin protocol, Validate reports
// problems by attribute and index and the normalized bind endpoints, and a
// receive stream that is drained delivers what the pull socket had taken
// in, in order, and ends; the peer keeps the rest for the next socket on
// the endpoint.
func TestPluginValidateAndDrain(t *testing.T) {
	bin := buildPlugin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host, err := plugin.StartTransport(ctx, plugin.HostConfig{
		Path:   bin,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Shutdown()

	v, err := host.Validate(ctx, "pull", []byte(`{"bind":["tcp://LocalHost:5555","tcp://127.0.0.1:*"],"connect":["tcp://127.0.0.1:1","tcp://999.1.1.1:5"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Problems) != 1 || v.Problems[0].Attribute != "connect" || v.Problems[0].Index != 1 ||
		!strings.Contains(v.Problems[0].Message, "999.1.1.1") || !slices.Equal(v.Binds, []string{"tcp://localhost:5555"}) {
		t.Fatalf("validation %+v", v)
	}

	// The plugin protocol does not say which port a wildcard bind picked:
	// bind a port found free.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://" + ln.Addr().String()
	ln.Close()
	if err := host.Open(ctx, transport.SocketSpec{ID: "pull", Kind: "pull", Config: []byte(`{"bind":["` + ep + `"],"rcvhwm":100}`)}); err != nil {
		t.Fatal(err)
	}
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = zctx.Term() })
	push, err := zctx.NewSocket(zmq.PUSH)
	if err != nil {
		t.Fatal(err)
	}
	defer push.Close()
	for _, err := range []error{push.SetLinger(0), push.Connect(ep)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	const n = 5000
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := push.SendMessage("topic", strconv.Itoa(i), "broker-bin-v1", bytes.Repeat([]byte{'p'}, 1000)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	next := 0
	take := func(b *message.Batch) error {
		for it := b.Iter(); it.Next(); {
			if got := string(it.Frame(1)); got != strconv.Itoa(next) {
				return fmt.Errorf("got message %s, want %d", got, next)
			}
			next++
		}
		return nil
	}
	drain := make(chan struct{})
	err = host.Receive(ctx, "pull", transport.ReceiveOptions{Drain: drain}, func(b *message.Batch) error {
		if next == 0 {
			close(drain)
		}
		return take(b)
	})
	if err != nil {
		t.Fatalf("drained receive: %v (after %d messages)", err, next)
	}
	drained, resumed := next, -1
	if err := host.Open(ctx, transport.SocketSpec{ID: "pull2", Kind: "pull", Config: []byte(`{"bind":["` + ep + `"]}`)}); err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	err = host.Receive(rctx, "pull2", transport.ReceiveOptions{}, func(b *message.Batch) error {
		if next == drained {
			// The peer goes on where it was, less what its connection was
			// writing when it saw the end (libzmq writes up to 8 KiB at a
			// time: at most 9 of these messages).
			it := b.Iter()
			it.Next()
			first, _ := strconv.Atoi(string(it.Frame(1)))
			if first < drained || first-drained > 9 {
				return fmt.Errorf("after draining %d messages, the peer went on at %d", drained, first)
			}
			next, resumed = first, first
		}
		if err := take(b); err != nil {
			return err
		}
		if next == n {
			stop()
		}
		return nil
	})
	if next != n {
		t.Fatalf("after draining %d messages, the next socket got up to %d of %d: %v", drained, next, n, err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("drained %d of %d messages; the next socket got the rest from %d on", drained, n, resumed)
}

// peer binds a libzmq socket to a free port and returns it, its endpoint,
// and a function that waits until a peer completed its handshake with it.
func peer(t *testing.T, zctx *zmq.Context, typ zmq.Type) (*zmq.Socket, string, func()) {
	t.Helper()
	s, err := zctx.NewSocket(typ)
	if err != nil {
		t.Fatal(err)
	}
	monitor := fmt.Sprintf("inproc://monitor-%s", typ)
	for _, err := range []error{
		s.SetLinger(0), s.SetRcvtimeo(20 * time.Second),
		s.Monitor(monitor, zmq.EVENT_HANDSHAKE_SUCCEEDED), s.Bind("tcp://127.0.0.1:*"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	mon, err := zctx.NewSocket(zmq.PAIR)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	for _, err := range []error{mon.SetLinger(0), mon.SetRcvtimeo(20 * time.Second), mon.Connect(monitor)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	ep, err := s.GetLastEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	return s, ep, func() {
		t.Helper()
		if ev, _, _, err := mon.RecvEvent(0); err != nil || ev != zmq.EVENT_HANDSHAKE_SUCCEEDED {
			t.Fatalf("waiting for the plugin to connect to the %s peer: event %v, %v", typ, ev, err)
		}
	}
}

func recv(t *testing.T, s *zmq.Socket) [][]byte {
	t.Helper()
	msg, err := s.RecvMessageBytes(0)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return msg
}
