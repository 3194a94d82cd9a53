package zmqtransport

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/transporttest"
	"github.com/zpipe/zpipe/internal/zmqopts"
)

// TestDescribe: the description's name and curve capability (present as
// libzmq has CURVE), and the constants of the socket kinds, framings and
// drop reasons are the conformance suite's. (The conformance suite's
// Describe checks what both transports describe alike; zmqopts' tests the
// schema.)
func TestDescribe(t *testing.T) {
	d, err := New().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != Name || d.Protocol != transport.ProtocolVersion {
		t.Fatalf("description %+v", d)
	}
	if d.HasCapability(transport.CapCurve) != zmq.HasCurve() {
		t.Errorf("curve capability %v, libzmq has CURVE: %v", d.HasCapability(transport.CapCurve), zmq.HasCurve())
	}
	for _, c := range []struct{ ours, suite string }{
		{KindXSub, transporttest.KindXSub}, {KindXPub, transporttest.KindXPub},
		{KindPull, transporttest.KindPull}, {KindPush, transporttest.KindPush},
		{FramingZeek, transporttest.FramingZeek}, {FramingRaw, transporttest.FramingRaw},
		{DropHWM, transporttest.DropHWM}, {DropNoPeer, transporttest.DropNoPeer}, {DropMalformed, transporttest.DropMalformed},
	} {
		if c.ours != c.suite {
			t.Errorf("constant %q, the conformance suite says %q", c.ours, c.suite)
		}
	}
}

// TestOpenRejectsBadConfig: no refused Open leaves a libzmq context
// behind: the cases every transport refuses, and CURVE settings (zmqopts'
// tests check every CURVE problem). (The conformance suite's
// OpenRejectsBadConfig checks those cases' messages.)
func TestOpenRejectsBadConfig(t *testing.T) {
	pub, _, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	ok := `"bind":["tcp://127.0.0.1:*"]`
	cases := []transporttest.BadConfig{
		{Kind: KindXPub, Config: `{` + ok + `,"curve_server":true}`, Want: `attribute "curve_secretkey": required when "curve_server" is true`},
		{Kind: KindXPub, Config: `{` + ok + `,"curve_server":true,"curve_secretkey":"` + pub + `","curve_allowed_clients":["nope"]}`,
			Want: `attribute "curve_allowed_clients[0]": a CURVE key has 4 characters`},
	}
	s := newTestServer(t)
	transporttest.CheckRejected(t, s, append(transporttest.BadConfigs(), cases...))
	if len(s.contexts) != 0 {
		t.Fatalf("contexts left: %d", len(s.contexts))
	}
}

// TestIOThreadsShareContexts: sockets asking for the same io_threads share a
// context, which ends with its last socket; IPv6 endpoints work with ipv6.
func TestIOThreadsShareContexts(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	openSocket(t, s, "a", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "io_threads": 2})
	openSocket(t, s, "b", KindPush, attrs{"connect": []string{boundEndpoint(t, s, "a", 0)}, "io_threads": 2})
	openSocket(t, s, "c", KindPull, attrs{"bind": []string{"tcp://[::1]:*"}, "ipv6": true})
	if n := len(s.contexts); n != 2 {
		t.Fatalf("%d contexts, want 2", n)
	}
	if n, err := s.contexts[2].ctx.GetIoThreads(); err != nil || n != 2 {
		t.Fatalf("io threads %d, %v", n, err)
	}
	if ep := boundEndpoint(t, s, "c", 0); !strings.HasPrefix(ep, "tcp://[::1]:") {
		t.Fatalf("ipv6 endpoint %q", ep)
	}
	if err := s.Close(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if len(s.contexts) != 2 {
		t.Fatal("context ended while a socket still uses it")
	}
	if err := s.Close(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.contexts[2]; ok {
		t.Fatal("context outlived its last socket")
	}
}

// TestZ85KeysAsLibzmq: a CURVE key is accepted exactly when libzmq's
// setsockopt accepts it, as the same 32 bytes: random keys, keys with a
// digit outside the alphabet, and groups of five at and beyond 32 bits.
func TestZ85KeysAsLibzmq(t *testing.T) {
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer zctx.Term()
	zs, err := zctx.NewSocket(zmq.PUSH)
	if err != nil {
		t.Fatal(err)
	}
	defer zs.Close()
	keys := []string{
		strings.Repeat("0", 40),
		strings.Repeat("%nSc0", 8), // 0xffffffff, the largest group
		strings.Repeat("%nSc1", 8), // 2^32
		strings.Repeat("#", 40),
		strings.Repeat("~", 40),
		strings.Repeat("0", 35) + "0000\"",
		strings.Repeat("0", 35) + "0000é"[:5],
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		pub, _, err := zmq.NewCurveKeypair()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, pub)
		// One character changed to any printable ASCII character.
		b := []byte(pub)
		b[rng.IntN(len(b))] = byte(' ' + rng.IntN(95))
		keys = append(keys, string(b))
	}
	for _, k := range keys {
		got, err := zmqopts.DecodeZ85Key(k)
		zerr := zs.SetCurvePublickey(k)
		if (err == nil) != (zerr == nil) {
			t.Fatalf("key %q: ours %v, libzmq %v", k, err, zerr)
		}
		if err != nil {
			continue
		}
		want, zerr := zs.GetCurvePublickeyRaw()
		if zerr != nil {
			t.Fatal(zerr)
		}
		if string(got) != want {
			t.Fatalf("key %q: ours %x, libzmq %x", k, got, want)
		}
	}
}
