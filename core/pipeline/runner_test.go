package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/zmqtest"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/core/transport"
)

// These tests run pipelines on the real libzmq transport plugin, with
// libzmq sockets in the test as the peers.

var cgoPlugin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "zpipe-pipeline-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cgoPlugin = filepath.Join(dir, "zpipe-transport-cgo")
	if out, err := exec.Command("go", "build", "-o", cgoPlugin, "../../plugins/transport-cgo").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build transport-cgo: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

const waitFor = 20 * time.Second

func startCgo(t *testing.T) *plugin.TransportHost {
	t.Helper()
	h, err := plugin.StartTransport(context.Background(), plugin.HostConfig{
		Path:   cgoPlugin,
		Name:   "transport-cgo",
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown() })
	return h
}

// peer binds a libzmq socket of type typ on a free loopback port.
func peer(t *testing.T, zctx *zmq.Context, typ zmq.Type) (*zmq.Socket, string) {
	t.Helper()
	s, err := zctx.NewSocket(typ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRcvhwm(0); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	ep, err := s.GetLastEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	return s, ep
}

func newContext(t *testing.T) *zmq.Context {
	t.Helper()
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = zctx.Term() })
	return zctx
}

func cfgJSON(t *testing.T, v map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func startPipeline(t *testing.T, h *plugin.TransportHost, p *config.Pipeline) *Instance {
	t.Helper()
	r := &Runner{Transports: map[string]transport.Client{"cgo": h}, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	inst, err := r.Start(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := inst.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return inst
}

// TestBrokerThroughCore runs the broker shape with passthrough off: data
// and subscriptions both cross into the core and back.
func TestBrokerThroughCore(t *testing.T) {
	for _, passthrough := range []bool{false, true} {
		t.Run(fmt.Sprintf("passthrough=%v", passthrough), func(t *testing.T) {
			h := startCgo(t)
			zctx := newContext(t)
			pub, pubEP := peer(t, zctx, zmq.XPUB)           // a node's XPUB; the pipeline's xsub connects
			if err := pub.SetXpubNodrop(true); err != nil { // lossless: block when full
				t.Fatal(err)
			}
			sub, subEP := peer(t, zctx, zmq.XSUB) // a node's XSUB; the pipeline's xpub connects
			xsub := node(config.ClassSource, "xsub", "publishers", transport.SubsAccepts)
			xsub.Config = cfgJSON(t, map[string]any{"connect": []string{pubEP}, "rcvhwm": 0})
			xpub := node(config.ClassSink, "xpub", "subscribers", transport.SubsEmits, xsub)
			xpub.Config = cfgJSON(t, map[string]any{"connect": []string{subEP}, "verboser": true, "sndhwm": 0})
			p := &config.Pipeline{Name: "p", Transport: "cgo", Passthrough: passthrough, ForwardSubscriptions: true, Nodes: []*config.Node{xsub, xpub}}
			inst := startPipeline(t, h, p)
			if wantLinks := map[bool]int{false: 0, true: 1}[passthrough]; len(inst.Plan().Links) != wantLinks {
				t.Fatalf("plan has %d links, want %d", len(inst.Plan().Links), wantLinks)
			}

			sub1 := []byte("\x01zeek.cluster.worker")
			if _, err := sub.SendBytes(sub1, 0); err != nil {
				t.Fatal(err)
			}
			if got := zmqtest.Recv(t, waitFor, pub, sub); !bytes.Equal(got[0], sub1) {
				t.Fatalf("subscription arrived as %q", got)
			}
			const n = 5000
			for i := range n {
				ev := [][]byte{[]byte("zeek.cluster.worker"), []byte("node-1"), []byte("broker-bin-v1"), fmt.Appendf(nil, "payload-%06d", i)}
				if _, err := pub.SendMessage(ev); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				got := zmqtest.Recv(t, waitFor, sub, pub)
				want := [][]byte{[]byte("zeek.cluster.worker"), []byte("node-1"), []byte("broker-bin-v1"), fmt.Appendf(nil, "payload-%06d", i)}
				if !slices.EqualFunc(got, want, bytes.Equal) {
					t.Fatalf("message %d arrived as %q", i, got)
				}
			}
			// Wrong frame count: dropped under zeek framing, later messages flow.
			if _, err := pub.SendMessage("zeek.cluster.worker", "three", "frames"); err != nil {
				t.Fatal(err)
			}
			last := [][]byte{[]byte("zeek.cluster.worker"), []byte("node-1"), []byte("broker-bin-v1"), []byte("last")}
			if _, err := pub.SendMessage(last); err != nil {
				t.Fatal(err)
			}
			if got := zmqtest.Recv(t, waitFor, sub, pub); !slices.EqualFunc(got, last, bytes.Equal) {
				t.Fatalf("after a malformed message, got %q", got)
			}
			st, err := h.Stats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st.Sockets {
				if s.ID == xsub.ID && (s.Drops["malformed"] != 1 || s.MessagesReceived < n+1) {
					t.Errorf("xsub stats: %+v", s)
				}
			}
		})
	}
}

// TestFanInThroughCore feeds two PULL sources into one PUSH sink, which
// the planner must route through the core.
func TestFanInThroughCore(t *testing.T) {
	h := startCgo(t)
	zctx := newContext(t)
	in1, ep1 := peer(t, zctx, zmq.PUSH)
	in2, ep2 := peer(t, zctx, zmq.PUSH)
	out, epOut := peer(t, zctx, zmq.PULL)
	a := node(config.ClassSource, "pull", "a", "")
	a.Config = cfgJSON(t, map[string]any{"connect": []string{ep1}, "framing": "raw"})
	b := node(config.ClassSource, "pull", "b", "")
	b.Config = cfgJSON(t, map[string]any{"connect": []string{ep2}, "framing": "raw"})
	push := node(config.ClassSink, "push", "out", "", a, b)
	push.Config = cfgJSON(t, map[string]any{"connect": []string{epOut}})
	p := &config.Pipeline{Name: "p", Transport: "cgo", Passthrough: true, Nodes: []*config.Node{a, b, push}}
	inst := startPipeline(t, h, p)
	if len(inst.Plan().Paths) != 2 {
		t.Fatalf("want two core paths, plan %+v", inst.Plan())
	}
	const n = 2000
	for i := range n {
		if _, err := in1.SendMessage("a", i); err != nil {
			t.Fatal(err)
		}
		if _, err := in2.SendMessage("b", i); err != nil {
			t.Fatal(err)
		}
	}
	next := map[string]int{"a": 0, "b": 0}
	for range 2 * n {
		msg := zmqtest.Recv(t, waitFor, out, in1, in2)
		src := string(msg[0])
		if want := fmt.Sprint(next[src]); string(msg[1]) != want {
			t.Fatalf("from %s: got %q, want %s (order per source must hold)", src, msg[1], want)
		}
		next[src]++
	}
}

// TestStopReleasesEndpoints checks that Stop closes every socket: the
// pipeline's bound endpoint can be bound again right after.
func TestStopReleasesEndpoints(t *testing.T) {
	h := startCgo(t)
	zctx := newContext(t)
	// A free port: a Go listener closes at once, where libzmq closes its
	// listeners later, in its I/O thread.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://" + probe.Addr().String()
	if err := probe.Close(); err != nil {
		t.Fatal(err)
	}
	src := node(config.ClassSource, "pull", "in", "")
	src.Config = cfgJSON(t, map[string]any{"bind": []string{ep}})
	_, outEP := peer(t, zctx, zmq.PULL)
	sink := node(config.ClassSink, "push", "out", "", src)
	sink.Config = cfgJSON(t, map[string]any{"connect": []string{outEP}})
	r := &Runner{Transports: map[string]transport.Client{"cgo": h}}
	inst, err := r.Start(context.Background(), &config.Pipeline{Name: "p", Transport: "cgo", Passthrough: true, Nodes: []*config.Node{src, sink}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := inst.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := zctx.NewSocket(zmq.PULL)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := again.Bind(ep); err != nil {
		t.Fatalf("endpoint still held after Stop: %v", err)
	}
}

func TestStartFailsCleanlyOnBindConflict(t *testing.T) {
	h := startCgo(t)
	zctx := newContext(t)
	_, taken := peer(t, zctx, zmq.PULL)
	src := node(config.ClassSource, "pull", "in", "")
	src.Config = cfgJSON(t, map[string]any{"bind": []string{taken}})
	sink := node(config.ClassSink, "push", "out", "", src)
	sink.Config = cfgJSON(t, map[string]any{"connect": []string{"tcp://127.0.0.1:1"}})
	r := &Runner{Transports: map[string]transport.Client{"cgo": h}}
	_, err := r.Start(context.Background(), &config.Pipeline{Name: "p", Transport: "cgo", Passthrough: true, Nodes: []*config.Node{src, sink}})
	if err == nil {
		t.Fatal("start succeeded on an endpoint already bound")
	}
	st, err2 := h.Stats(context.Background())
	if err2 != nil {
		t.Fatal(err2)
	}
	if len(st.Sockets) != 0 {
		t.Fatalf("a failed start left sockets open: %+v", st.Sockets)
	}
	t.Logf("error: %v", err)
}
