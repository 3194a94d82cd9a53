package puretransport

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/transporttest"
	"github.com/zpipe/zpipe/plugins/transport-cgo/zmqtransport"
)

// TestDescribe: the description names this transport and go-zeromq's
// version and declares no curve capability; the attribute constants the
// code uses name the attributes of the schema, and the constants are the
// conformance suite's. (The suite's Describe checks what both transports
// describe alike; TestSchemaMatchesCgo compares the schemas.)
func TestDescribe(t *testing.T) {
	d, err := New().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != Name || d.Protocol != transport.ProtocolVersion {
		t.Fatalf("description %+v", d)
	}
	if d.HasCapability(transport.CapCurve) {
		t.Error("the pure-Go transport declares the curve capability")
	}
	if !strings.HasPrefix(d.Version, Version+" (go-zeromq/zmq4") {
		t.Errorf("version %q does not name go-zeromq's", d.Version)
	}
	for kind, names := range map[string][]string{
		KindXPub: {attrLinger, attrSndHWM, attrSndBuf, attrNoDrop, attrSendTimeout, attrIOThreads},
		KindXSub: {attrRcvHWM, attrRcvBuf, attrFraming, attrPollMax, attrIPv6, attrImmediate},
	} {
		sk, ok := d.Socket(kind)
		if !ok {
			t.Fatalf("no kind %q", kind)
		}
		for _, name := range names {
			if _, ok := sk.Schema.Lookup(name); !ok {
				t.Errorf("kind %q: no attribute %q", kind, name)
			}
		}
	}
	// The byte bounds need a capability libzmq lacks, so that a cgo
	// pipeline setting them is refused by name.
	if !d.HasCapability(transport.CapHWMBytes) {
		t.Errorf("capability %q missing", transport.CapHWMBytes)
	}
	for _, sk := range d.Sockets {
		for _, name := range []string{attrSndHWMBytes, attrRcvHWMBytes} {
			if a, ok := sk.Schema.Lookup(name); !ok || a.Capability != transport.CapHWMBytes {
				t.Errorf("kind %q: attribute %q %+v, want one that needs %q", sk.Kind, name, a, transport.CapHWMBytes)
			}
		}
		_, limits := sk.Schema.Lookup(attrMaxMsgBytes)
		if limits == (sk.Kind == KindPush) {
			t.Errorf("kind %q: max_message_bytes %v; every kind that reads from peers has it", sk.Kind, limits)
		}
	}
	for _, c := range []struct{ ours, suite string }{
		{KindXSub, transporttest.KindXSub}, {KindXPub, transporttest.KindXPub},
		{KindPull, transporttest.KindPull}, {KindPush, transporttest.KindPush},
		{FramingZeek, transporttest.FramingZeek}, {FramingRaw, transporttest.FramingRaw},
	} {
		if c.ours != c.suite {
			t.Errorf("constant %q, the conformance suite says %q", c.ours, c.suite)
		}
	}
}

// TestOpenRejectsBadConfig: the curve_* attributes are refused, naming the
// attribute, the capability and this transport; and every refusal, the
// cases every transport refuses included, matches
// plugin.ErrInvalidArgument. (The conformance suite's
// OpenRejectsBadConfig checks those cases' messages.)
func TestOpenRejectsBadConfig(t *testing.T) {
	const pub = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
	ok := `"bind":["tcp://127.0.0.1:*"]`
	cases := []transporttest.BadConfig{
		// CURVE needs a capability this transport does not have.
		{Kind: KindXPub, Config: `{` + ok + `,"curve_server":true}`, Want: `attribute "curve_server": needs the "curve" capability, which transport "purego" does not have`},
		{Kind: KindPull, Config: `{` + ok + `,"curve_secretkey":"` + pub + `"}`, Want: `attribute "curve_secretkey": needs the "curve" capability`},
		{Kind: KindPush, Config: `{` + ok + `,"curve_publickey":"` + pub + `"}`, Want: `attribute "curve_publickey": needs the "curve" capability`},
		{Kind: KindXSub, Config: `{` + ok + `,"curve_serverkey":"` + pub + `"}`, Want: `attribute "curve_serverkey": needs the "curve" capability`},
		{Kind: KindXPub, Config: `{` + ok + `,"curve_allowed_clients":["` + pub + `"]}`, Want: `attribute "curve_allowed_clients": needs the "curve" capability`},
	}
	s := newTestServer(t)
	transporttest.CheckRejected(t, s, cases)
	for _, c := range append(transporttest.BadConfigs(), cases...) {
		err := s.Open(context.Background(), transport.SocketSpec{ID: "s", Kind: c.Kind, Config: []byte(c.Config)})
		if !errors.Is(err, plugin.ErrInvalidArgument) {
			t.Errorf("%s %s: error %v does not match plugin.ErrInvalidArgument", c.Kind, c.Config, err)
		}
	}
}

// TestSchemaMatchesCgo: every socket kind has the same attributes as in
// the libzmq transport (names, types, defaults, allowed values, required
// capabilities), so a pipeline validates the same way on both.
func TestSchemaMatchesCgo(t *testing.T) {
	ours, err := New().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := zmqtransport.New().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ours.Sockets) != len(theirs.Sockets) {
		t.Fatalf("%d socket kinds, cgo has %d", len(ours.Sockets), len(theirs.Sockets))
	}
	for _, want := range theirs.Sockets {
		got, ok := ours.Socket(want.Kind)
		if !ok {
			t.Errorf("kind %q missing", want.Kind)
			continue
		}
		if got.Role != want.Role || got.Subscriptions != want.Subscriptions {
			t.Errorf("kind %q: role %q, subscriptions %q; cgo: %q, %q", want.Kind, got.Role, got.Subscriptions, want.Role, want.Subscriptions)
		}
		for _, wa := range want.Schema.Attributes {
			ga, ok := got.Schema.Lookup(wa.Name)
			if !ok {
				t.Errorf("kind %q: attribute %q of the cgo transport missing", want.Kind, wa.Name)
				continue
			}
			if ga.Type != wa.Type || ga.Required != wa.Required || fmt.Sprint(ga.Default) != fmt.Sprint(wa.Default) ||
				!reflect.DeepEqual(ga.OneOf, wa.OneOf) || ga.Capability != wa.Capability {
				t.Errorf("kind %q, attribute %q:\n ours %+v\n cgo  %+v", want.Kind, wa.Name, ga, wa)
			}
		}
		for _, ga := range got.Schema.Attributes {
			if _, ok := want.Schema.Lookup(ga.Name); ok {
				continue
			}
			t.Errorf("kind %q: attribute %q is not in the cgo transport's schema", want.Kind, ga.Name)
		}
	}
	for _, c := range theirs.Capabilities {
		if c != transport.CapCurve && !ours.HasCapability(c) {
			t.Errorf("capability %q of the cgo transport missing", c)
		}
	}
}
