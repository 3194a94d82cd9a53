package zmqtransport

import (
	"context"
	"strings"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
)

func TestDescribe(t *testing.T) {
	d, err := New().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != Name || d.Protocol != transport.ProtocolVersion {
		t.Fatalf("description %+v", d)
	}
	for _, c := range []string{transport.CapTCP, transport.CapIPC, transport.CapIPv6, transport.CapLink} {
		if !d.HasCapability(c) {
			t.Errorf("capability %q missing", c)
		}
	}
	if d.HasCapability(transport.CapCurve) != zmq.HasCurve() {
		t.Errorf("curve capability %v, libzmq has CURVE: %v", d.HasCapability(transport.CapCurve), zmq.HasCurve())
	}
	want := map[string]struct{ role, subs string }{
		KindXSub: {transport.RoleSource, transport.SubsAccepts},
		KindPull: {transport.RoleSource, ""},
		KindXPub: {transport.RoleSink, transport.SubsEmits},
		KindPush: {transport.RoleSink, ""},
	}
	if len(d.Sockets) != len(want) {
		t.Fatalf("%d socket kinds, want %d", len(d.Sockets), len(want))
	}
	for kind, w := range want {
		sk, ok := d.Socket(kind)
		if !ok || sk.Role != w.role || sk.Subscriptions != w.subs {
			t.Errorf("kind %q: %+v", kind, sk)
			continue
		}
		if err := sk.Schema.Check(); err != nil {
			t.Errorf("kind %q: schema: %v", kind, err)
		}
		_, framing := sk.Schema.Lookup(attrFraming)
		_, timeout := sk.Schema.Lookup(attrSendTimeout)
		_, nodrop := sk.Schema.Lookup(attrNoDrop)
		if framing != (w.role == transport.RoleSource) || timeout != (w.role == transport.RoleSink) || nodrop != (kind == KindXPub) {
			t.Errorf("kind %q: framing %v, send_timeout_ms %v, nodrop %v", kind, framing, timeout, nodrop)
		}
		for _, a := range sk.Schema.Attributes {
			if strings.HasPrefix(a.Name, "curve_") && a.Capability != transport.CapCurve {
				t.Errorf("kind %q: attribute %q does not require the curve capability", kind, a.Name)
			}
		}
	}
	// Zeek's defaults.
	xpub, _ := d.Socket(KindXPub)
	for name, def := range map[string]any{attrLinger: 500, attrSndHWM: 1000, attrSndBuf: -1, attrNoDrop: true, attrSendTimeout: -1, attrIOThreads: 1} {
		a, _ := xpub.Schema.Lookup(name)
		if a.Default != def {
			t.Errorf("default of %q: %v, want %v", name, a.Default, def)
		}
	}
	xsub, _ := d.Socket(KindXSub)
	for name, def := range map[string]any{attrRcvHWM: 1000, attrRcvBuf: -1, attrFraming: FramingZeek, attrPollMax: 100, attrIPv6: false, attrImmediate: false} {
		a, _ := xsub.Schema.Lookup(name)
		if a.Default != def {
			t.Errorf("default of %q: %v, want %v", name, a.Default, def)
		}
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	pub, _, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	ok := `"bind":["tcp://127.0.0.1:*"]`
	cases := []struct {
		kind, config, want string
	}{
		{"router", `{` + ok + `}`, `unknown socket kind "router"`},
		{KindPull, `{}`, `"bind" and "connect": both empty`},
		{KindPull, `[1]`, `not a JSON object`},
		{KindPull, `{` + ok + `,"colour":"red"}`, `attribute "colour": not an attribute of pull sockets`},
		{KindPush, `{` + ok + `,"framing":"raw"}`, `attribute "framing": not an attribute of push sockets`},
		{KindPull, `{` + ok + `,"verbose":true}`, `attribute "verbose": not an attribute`},
		{KindPull, `{"bind":["tcp://127.0.0.1"]}`, `endpoint "tcp://127.0.0.1": missing port`},
		{KindPull, `{"bind":["tcp://127.0.0.1:x"]}`, `invalid port "x"`},
		{KindPull, `{"bind":["tcp://127.0.0.1:70000"]}`, `invalid port "70000"`},
		{KindPull, `{"connect":["tcp://127.0.0.1:*"]}`, `wildcard port is only valid for bind`},
		{KindPull, `{"connect":["tcp://*:5555"]}`, `host * is only valid for bind`},
		{KindPull, `{"bind":["udp://127.0.0.1:5555"]}`, `unsupported transport "udp"`},
		{KindPull, `{"bind":["127.0.0.1:5555"]}`, `missing transport`},
		{KindPull, `{"bind":["tcp://[::1]:5555"]}`, `needs "ipv6" = true`},
		{KindPull, `{"bind":["tcp://::1:5555"]}`, `must be in brackets`},
		{KindPull, `{"bind":["tcp://[::1:5555"]}`, `unclosed bracket`},
		{KindPull, `{"bind":["tcp://[1.2.3.4]:5555"],"ipv6":true}`, `invalid IPv6 address`},
		{KindPull, `{"bind":["tcp://a b:5555"]}`, `invalid host "a b"`},
		{KindPull, `{"bind":["ipc://"]}`, `empty ipc path`},
		{KindPull, `{"connect":["ipc://*"]}`, `only valid for bind`},
		{KindPull, `{"bind":["ipc:///` + strings.Repeat("x", 120) + `"]}`, `the limit is 107`},
		{KindPull, `{"bind":"tcp://127.0.0.1:*"}`, `attribute "bind": value "tcp://127.0.0.1:*": want a list of strings`},
		{KindPull, `{"bind":[1]}`, `want a list of strings`},
		{KindPull, `{` + ok + `,"linger_ms":-2}`, `attribute "linger_ms": value -2: out of range [-1,`},
		{KindPull, `{` + ok + `,"sndhwm":-1}`, `attribute "sndhwm": value -1: out of range`},
		{KindPull, `{` + ok + `,"rcvhwm":1.5}`, `attribute "rcvhwm": value 1.5: want a whole number`},
		{KindPull, `{` + ok + `,"rcvbuf":"big"}`, `attribute "rcvbuf": value "big": want a number`},
		{KindPull, `{` + ok + `,"io_threads":0}`, `attribute "io_threads": value 0: out of range [1, 64]`},
		{KindPull, `{` + ok + `,"ipv6":"yes"}`, `attribute "ipv6": value "yes": want a bool`},
		{KindPull, `{` + ok + `,"framing":"json"}`, `attribute "framing": value "json": want one of zeek, raw`},
		{KindXSub, `{` + ok + `,"poll_max_messages":0}`, `attribute "poll_max_messages": value 0: out of range`},
		{KindXPub, `{` + ok + `,"send_timeout_ms":-5}`, `attribute "send_timeout_ms": value -5: out of range`},
		{KindXPub, `{` + ok + `,"nodrop":1}`, `attribute "nodrop": value 1: want a bool`},
		{KindXPub, `{` + ok + `,"curve_server":true}`, `attribute "curve_secretkey": required when "curve_server" is true`},
		{KindXPub, `{` + ok + `,"curve_server":true,"curve_secretkey":"short"}`, `attribute "curve_secretkey": a CURVE key has 5 characters, want a 40-character Z85 key`},
		{KindXPub, `{` + ok + `,"curve_server":true,"curve_secretkey":"` + strings.Repeat("~", 40) + `"}`, `not valid Z85`},
		{KindXPub, `{` + ok + `,"curve_serverkey":"` + pub + `"}`, `"curve_publickey" and "curve_secretkey": both required for a CURVE client`},
		{KindXPub, `{` + ok + `,"curve_publickey":"` + pub + `"}`, `attribute "curve_serverkey": required for a CURVE client`},
		{KindXPub, `{` + ok + `,"curve_allowed_clients":["` + pub + `"]}`, `only a CURVE server`},
		{KindXPub, `{` + ok + `,"curve_server":true,"curve_secretkey":"` + pub + `","curve_allowed_clients":["nope"]}`, `attribute "curve_allowed_clients[0]"`},
		{KindXPub, `{` + ok + `,"curve_server":true,"curve_secretkey":"` + pub + `","curve_serverkey":"` + pub + `"}`, `either a CURVE server or a client`},
	}
	s := newTestServer(t)
	for _, c := range cases {
		err := s.Open(context.Background(), transport.SocketSpec{ID: "s", Kind: c.kind, Config: []byte(c.config)})
		if err == nil {
			t.Errorf("%s %s: opened", c.kind, c.config)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s:\n got %v\nwant %q", c.kind, c.config, err, c.want)
		}
	}
	if st, _ := s.Stats(context.Background()); len(st.Sockets) != 0 {
		t.Fatalf("sockets left open: %+v", st.Sockets)
	}
	if len(s.contexts) != 0 {
		t.Fatalf("contexts left: %d", len(s.contexts))
	}
}

func TestOpenFailures(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	if err := s.Open(ctx, transport.SocketSpec{Kind: KindPull, Config: []byte(`{"bind":["tcp://127.0.0.1:*"]}`)}); err == nil {
		t.Error("open without id succeeded")
	}
	openSocket(t, s, "a", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	if err := s.Open(ctx, transport.SocketSpec{ID: "a", Kind: KindPull, Config: []byte(`{"bind":["tcp://127.0.0.1:*"]}`)}); err == nil {
		t.Error("second open with the same id succeeded")
	}
	// Binding an address in use fails with libzmq's error, naming the
	// endpoint; nothing is left behind.
	taken := boundEndpoint(t, s, "a", 0)
	err := s.Open(ctx, transport.SocketSpec{ID: "b", Kind: KindPull, Config: mustJSON(t, attrs{"bind": []string{"tcp://127.0.0.1:*", taken}})})
	if err == nil || !strings.Contains(err.Error(), "bind "+taken) {
		t.Fatalf("bind to a taken address: %v", err)
	}
	if _, err := s.BoundEndpoints("b"); err == nil {
		t.Fatal("failed socket is listed")
	}
	// The same id can be opened once the failure is cleaned up.
	openSocket(t, s, "b", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
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
