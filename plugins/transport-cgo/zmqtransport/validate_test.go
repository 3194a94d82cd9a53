package zmqtransport

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/transport"
)

// TestValidate: Validate reports every problem Open would find, naming the
// attribute and, for lists, the index, without opening anything; Binds
// lists the bind endpoints normalized.
func TestValidate(t *testing.T) {
	s := New()
	check := func(kind string, a attrs, wantBinds []string, want ...transport.Problem) {
		t.Helper()
		v, err := s.Validate(context.Background(), kind, mustJSON(t, a))
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Problems) != len(want) {
			t.Fatalf("%s %v: problems %+v, want %d", kind, a, v.Problems, len(want))
		}
		for i, w := range want {
			got := v.Problems[i]
			if got.Attribute != w.Attribute || got.Index != w.Index || !strings.Contains(got.Message, w.Message) {
				t.Errorf("%s %v: problem %d is %+v, want %+v", kind, a, i, got, w)
			}
		}
		if wantBinds != nil && !slices.Equal(v.Binds, wantBinds) {
			t.Errorf("%s %v: binds %q, want %q", kind, a, v.Binds, wantBinds)
		}
	}
	check(KindXPub, attrs{"bind": []string{"tcp://127.0.0.1:5555", "tcp://*:*", "ipc:///tmp/x", "ipc://*", "tcp://[FE80::1]:7", "tcp://lo:0010"}, "ipv6": true},
		[]string{"tcp://127.0.0.1:5555", "ipc:///tmp/x", "tcp://[fe80::1]:7", "tcp://lo:10"})
	check(KindXSub, attrs{"bind": []string{"foo://x", "tcp://127.0.0.1:99999", "tcp://127.0.0.1:5"}, "connect": []string{"tcp://999.1.1.1:5", "tcp://zeek-manager:5"}},
		[]string{"tcp://127.0.0.1:5"},
		transport.Problem{Attribute: "bind", Index: 0, Message: `unsupported transport "foo"`},
		transport.Problem{Attribute: "bind", Index: 1, Message: `invalid port "99999"`},
		transport.Problem{Attribute: "connect", Index: 0, Message: `invalid IPv4 address "999.1.1.1"`})
	// A host name to bind to is resolved when the socket opens.
	check(KindXSub, attrs{"bind": []string{"tcp://Example.COM:5", "tcp://-x:5"}}, []string{"tcp://example.com:5"},
		transport.Problem{Attribute: "bind", Index: 1, Message: "invalid host name"})
	check(KindPull, attrs{"connect": []string{"tcp://a..b:5"}, "sndhwm": -1, "linger_ms": "x", "nope": 1},
		nil,
		transport.Problem{Attribute: "nope", Index: -1, Message: "not an attribute of pull sockets"},
		transport.Problem{Attribute: "linger_ms", Index: -1, Message: "want a number"},
		transport.Problem{Attribute: "sndhwm", Index: -1, Message: "out of range"},
		transport.Problem{Attribute: "connect", Index: 0, Message: "invalid host name"})
	check(KindPush, attrs{}, nil, transport.Problem{Attribute: "bind", Index: -1, Message: "both empty"})
	check(KindXPub, attrs{"bind": []string{"tcp://127.0.0.1:1"}, "curve_server": true, "curve_secretkey": "short",
		"curve_allowed_clients": []string{strings.Repeat("a", 40), "x"}}, nil,
		transport.Problem{Attribute: "curve_secretkey", Index: -1, Message: "40-character"},
		transport.Problem{Attribute: "curve_allowed_clients", Index: 1, Message: "40-character"})
	check("dealer", attrs{}, nil, transport.Problem{Index: -1, Message: "unknown socket kind"})
	// Nothing was opened.
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
