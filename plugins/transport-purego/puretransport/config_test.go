package puretransport

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/transporttest"
	"github.com/zpipe/zpipe/internal/zmqopts"
)

// TestDescribe: the description names this transport and go-zeromq's
// version and declares no curve capability; the attribute constants the
// code uses name the attributes of the schema, and the constants are the
// conformance suite's. (The suite's Describe checks what both transports
// describe alike.)
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
		KindXPub: {zmqopts.AttrLinger, zmqopts.AttrSndHWM, zmqopts.AttrSndBuf, zmqopts.AttrNoDrop, zmqopts.AttrSendTimeout, zmqopts.AttrIOThreads},
		KindXSub: {zmqopts.AttrRcvHWM, zmqopts.AttrRcvBuf, zmqopts.AttrFraming, zmqopts.AttrPollMax, zmqopts.AttrIPv6, zmqopts.AttrImmediate},
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
		for _, name := range []string{zmqopts.AttrSndHWMBytes, zmqopts.AttrRcvHWMBytes} {
			if a, ok := sk.Schema.Lookup(name); !ok || a.Capability != transport.CapHWMBytes {
				t.Errorf("kind %q: attribute %q %+v, want one that needs %q", sk.Kind, name, a, transport.CapHWMBytes)
			}
		}
		_, limits := sk.Schema.Lookup(zmqopts.AttrMaxMsgBytes)
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
