package transporttest

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/core/zeekproto"
)

// testDescribe: the description every transport gives: its name, the
// protocol version, the capabilities both have, the four socket kinds with
// their roles, valid schemas with the attributes each kind takes, each
// described, Zeek's defaults, and curve_* attributes that require the curve
// capability. (Whether a transport has that capability is its own test.)
func testDescribe(t *testing.T, x *suite) {
	d, err := x.h.New(slog.New(slog.DiscardHandler)).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != x.h.Name || d.Protocol != transport.ProtocolVersion || d.Version == "" {
		t.Fatalf("description %+v", d)
	}
	for _, c := range []string{transport.CapTCP, transport.CapIPC, transport.CapIPv6, transport.CapLink} {
		if !d.HasCapability(c) {
			t.Errorf("capability %q missing", c)
		}
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
		_, framing := sk.Schema.Lookup("framing")
		_, timeout := sk.Schema.Lookup("send_timeout_ms")
		_, nodrop := sk.Schema.Lookup("nodrop")
		if framing != (w.role == transport.RoleSource) || timeout != (w.role == transport.RoleSink) || nodrop != (kind == KindXPub) {
			t.Errorf("kind %q: framing %v, send_timeout_ms %v, nodrop %v", kind, framing, timeout, nodrop)
		}
		for _, a := range sk.Schema.Attributes {
			if strings.HasPrefix(a.Name, "curve_") && a.Capability != transport.CapCurve {
				t.Errorf("kind %q: attribute %q does not require the curve capability", kind, a.Name)
			}
			if a.Description == "" {
				t.Errorf("kind %q: attribute %q has no description", kind, a.Name)
			}
		}
	}
	// Zeek's defaults.
	xpub, _ := d.Socket(KindXPub)
	for name, def := range map[string]any{"linger_ms": 500, "sndhwm": 1000, "sndbuf": -1, "nodrop": true, "send_timeout_ms": -1, "io_threads": 1} {
		a, ok := xpub.Schema.Lookup(name)
		if !ok || a.Default != def {
			t.Errorf("default of %q: %v, want %v", name, a.Default, def)
		}
	}
	xsub, _ := d.Socket(KindXSub)
	for name, def := range map[string]any{"rcvhwm": 1000, "rcvbuf": -1, "framing": FramingZeek, "poll_max_messages": 100, "ipv6": false, "immediate": false} {
		a, ok := xsub.Schema.Lookup(name)
		if !ok || a.Default != def {
			t.Errorf("default of %q: %v, want %v", name, a.Default, def)
		}
	}
}

// BadConfig is a socket specification that Open refuses, with a part of
// the error message it must give.
type BadConfig struct {
	Kind, Config, Want string
}

// BadConfigs returns the bad specifications every transport refuses with
// the same message (CURVE settings aside, which depend on the transport).
func BadConfigs() []BadConfig {
	ok := `"bind":["tcp://127.0.0.1:*"]`
	return []BadConfig{
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
	}
}

// CheckRejected opens every one of cases on s and checks that each is
// refused with its message, and that nothing is left open.
func CheckRejected(t testing.TB, s Server, cases []BadConfig) {
	t.Helper()
	for _, c := range cases {
		err := s.Open(context.Background(), transport.SocketSpec{ID: "s", Kind: c.Kind, Config: []byte(c.Config)})
		if err == nil {
			t.Errorf("%s %s: opened", c.Kind, c.Config)
			continue
		}
		if !strings.Contains(err.Error(), c.Want) {
			t.Errorf("%s %s:\n got %v\nwant %q", c.Kind, c.Config, err, c.Want)
		}
	}
	if st, _ := s.Stats(context.Background()); len(st.Sockets) != 0 {
		t.Fatalf("sockets left open: %+v", st.Sockets)
	}
}

// testOpenRejectsBadConfig: bad kinds, attributes, values and endpoints are
// refused, naming what is wrong, and leave nothing behind.
func testOpenRejectsBadConfig(t *testing.T, x *suite) {
	CheckRejected(t, x.newServer(t), BadConfigs())
}

// testOpenFailures: Open refuses an empty or taken id and a taken address,
// leaving nothing behind.
func testOpenFailures(t *testing.T, x *suite) {
	s := x.newServer(t)
	ctx := context.Background()
	if err := s.Open(ctx, transport.SocketSpec{Kind: KindPull, Config: []byte(`{"bind":["tcp://127.0.0.1:*"]}`)}); err == nil {
		t.Error("open without id succeeded")
	}
	OpenSocket(t, s, "a", KindPull, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	if err := s.Open(ctx, transport.SocketSpec{ID: "a", Kind: KindPull, Config: []byte(`{"bind":["tcp://127.0.0.1:*"]}`)}); err == nil {
		t.Error("second open with the same id succeeded")
	}
	// Binding an address in use fails with an error naming the endpoint;
	// nothing is left behind.
	taken := BoundEndpoint(t, s, "a", 0)
	err := s.Open(ctx, transport.SocketSpec{ID: "b", Kind: KindPull, Config: MustJSON(t, Attrs{"bind": []string{"tcp://127.0.0.1:*", taken}})})
	if err == nil || !strings.Contains(err.Error(), "bind "+taken) {
		t.Fatalf("bind to a taken address: %v", err)
	}
	if _, err := s.BoundEndpoints("b"); err == nil {
		t.Fatal("failed socket is listed")
	}
	// The same id can be opened once the failure is cleaned up.
	OpenSocket(t, s, "b", KindPull, Attrs{"bind": []string{"tcp://127.0.0.1:*"}})
}

// testIOThreadsAndIPv6: io_threads is accepted (transport-purego ignores
// it) and data flows; IPv6 endpoints work with ipv6, against a libzmq peer.
func testIOThreadsAndIPv6(t *testing.T, x *suite) {
	s := x.newServer(t)
	OpenSocket(t, s, "a", KindPull, Attrs{"bind": []string{"tcp://127.0.0.1:*"}, "io_threads": 2})
	OpenSocket(t, s, "b", KindPush, Attrs{"connect": []string{BoundEndpoint(t, s, "a", 0)}, "io_threads": 2})
	var b message.Batch
	b.Append(Event(zeekproto.LogWriteTopic, "b", []byte("x"))...)
	if res, err := s.Send(TestCtx(t), "b", &b); err != nil || res.Sent != 1 {
		t.Fatalf("send: %+v, %v", res, err)
	}
	if got := RecvAll(t, s, "a", 1, transport.Limits{}); string(got[0][1]) != "b" {
		t.Fatalf("got %s", ShowFrames(got[0]))
	}
	if !haveIPv6Loopback() {
		err := s.Open(context.Background(), transport.SocketSpec{ID: "c", Kind: KindPull, Config: []byte(`{"bind":["tcp://[::1]:*"],"ipv6":true}`)})
		if err == nil || !strings.Contains(err.Error(), "[::1]") {
			t.Fatalf("bind to [::1] without an IPv6 loopback: %v", err)
		}
		t.Logf("no IPv6 loopback here; bind fails as it should: %v", err)
		return
	}
	OpenSocket(t, s, "c", KindPull, Attrs{"bind": []string{"tcp://[::1]:*"}, "ipv6": true})
	ep := BoundEndpoint(t, s, "c", 0)
	if !strings.HasPrefix(ep, "tcp://[::1]:") {
		t.Fatalf("ipv6 endpoint %q", ep)
	}
	push := PeerSocket(t, PeerContext(t), zmq.PUSH, func(p *zmq.Socket) error {
		if err := p.SetIpv6(true); err != nil {
			return err
		}
		return p.Connect(ep)
	})
	SendMessage(t, push, Event(zeekproto.LogWriteTopic, "v6", []byte("x"))...)
	if got := RecvAll(t, s, "c", 1, transport.Limits{}); string(got[0][1]) != "v6" {
		t.Fatalf("got %s", ShowFrames(got[0]))
	}
}

// haveIPv6Loopback reports whether [::1] can be bound here.
func haveIPv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
