package zmqtransport

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/transport"
)

// TestValidate: Validate reports the problems Open would find, CURVE
// keys among them, and binds nothing: no socket, no libzmq context.
// (zmqopts' tests check the problems and the normalized binds; the
// conformance suite's Validate checks them through this transport.)
func TestValidate(t *testing.T) {
	s := New()
	v, err := s.Validate(context.Background(), KindXPub, mustJSON(t, attrs{"bind": []string{"tcp://127.0.0.1:1", "tcp://localhost:2"},
		"sndhwm": -1, "curve_server": true, "curve_secretkey": "short"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []transport.Problem{
		{Attribute: "sndhwm", Index: -1, Message: "value -1: out of range [0, 2147483647]"},
		{Attribute: "curve_secretkey", Index: -1, Message: "a CURVE key has 5 characters, want a 40-character Z85 key"},
	}
	if !slices.Equal(v.Problems, want) || !slices.Equal(v.Binds, []string{"tcp://127.0.0.1:1", "tcp://localhost:2"}) {
		t.Errorf("problems %+v, binds %q", v.Problems, v.Binds)
	}
	if st, _ := s.Stats(context.Background()); len(st.Sockets) != 0 || len(s.contexts) != 0 {
		t.Errorf("validate left sockets or contexts: %+v", st)
	}
}

// TestBindHostName: libzmq binds to addresses and interfaces only; a host
// name is resolved first.
func TestBindHostName(t *testing.T) {
	s := newTestServer(t)
	openSocket(t, s, "pull", KindPull, attrs{"bind": []string{"tcp://localhost:*"}})
	if ep := boundEndpoint(t, s, "pull", 0); !strings.HasPrefix(ep, "tcp://127.0.0.1:") {
		t.Errorf("bound to %s", ep)
	}
}
