package puretransport

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/transporttest"
)

// TestDescribe: the description names this transport and go-zeromq's
// version, declares no curve capability and declares hwm_bytes, which the
// byte bounds need, so that a libzmq pipeline setting them is refused by
// name. (The conformance suite's Describe checks what both transports
// describe alike; zmqopts' tests the schema.)
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
	if !d.HasCapability(transport.CapHWMBytes) {
		t.Errorf("capability %q missing", transport.CapHWMBytes)
	}
	if !strings.HasPrefix(d.Version, Version+" (go-zeromq/zmq4") {
		t.Errorf("version %q does not name go-zeromq's", d.Version)
	}
}

// TestOpenRejectsBadConfig: every refusal, the cases every transport
// refuses and a curve_* attribute (this transport has no CURVE) included,
// matches plugin.ErrInvalidArgument. (The conformance suite's
// OpenRejectsBadConfig checks those cases' messages; zmqopts' tests the
// refusal of each curve_* attribute.)
func TestOpenRejectsBadConfig(t *testing.T) {
	cases := []transporttest.BadConfig{{Kind: KindXPub, Config: `{"bind":["tcp://127.0.0.1:*"],"curve_server":true}`,
		Want: `attribute "curve_server": needs the "curve" capability, which transport "purego" does not have`}}
	s := newTestServer(t)
	transporttest.CheckRejected(t, s, cases)
	for _, c := range append(transporttest.BadConfigs(), cases...) {
		err := s.Open(context.Background(), transport.SocketSpec{ID: "s", Kind: c.Kind, Config: []byte(c.Config)})
		if !errors.Is(err, plugin.ErrInvalidArgument) {
			t.Errorf("%s %s: error %v does not match plugin.ErrInvalidArgument", c.Kind, c.Config, err)
		}
	}
}
