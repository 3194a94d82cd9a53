package transporttest

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/transport"
)

// validator returns the transport's transport.Validator, failing the
// test if it has none.
func (x *suite) validator(t *testing.T) transport.Validator {
	t.Helper()
	v, ok := x.h.New(slog.New(slog.DiscardHandler)).(transport.Validator)
	if !ok {
		t.Fatalf("transport %q does not implement transport.Validator", x.h.Name)
	}
	return v
}

// testValidate: Validate finds every problem Open refuses (BadConfigs),
// with the same message, without opening anything; it reports all the
// problems of a configuration, each naming its attribute and, in a list,
// the element's index; it refuses endpoints that could never work (an
// all-numeric host that is not an IPv4 address, a port out of range, an
// unknown scheme); and it lists the bind endpoints normalized, so that
// two sockets binding one endpoint can be found.
func testValidate(t *testing.T, x *suite) {
	v := x.validator(t)
	ctx := context.Background()
	validate := func(kind, config string) *transport.Validation {
		t.Helper()
		res, err := v.Validate(ctx, kind, []byte(config))
		if err != nil {
			t.Fatalf("validate %s %s: %v", kind, config, err)
		}
		return res
	}
	for _, c := range BadConfigs() {
		res := validate(c.Kind, c.Config)
		found := slices.ContainsFunc(res.Problems, func(p transport.Problem) bool {
			return strings.Contains(problemText(p), c.Want)
		})
		if !found {
			t.Errorf("%s %s: problems %+v, want one saying %q", c.Kind, c.Config, res.Problems, c.Want)
		}
	}

	// Every problem of one configuration, each with its attribute and
	// index.
	res := validate(KindXSub, `{"bind":["tcp://127.0.0.1:5555","foo://x","tcp://127.0.0.1:99999"],`+
		`"connect":["tcp://999.1.1.1:5","tcp://10.0.0.1:5"],"rcvhwm":-1,"linger_ms":"long","colour":"red"}`)
	want := []transport.Problem{
		{Attribute: "bind", Index: 1, Message: `unsupported transport "foo"`},
		{Attribute: "bind", Index: 2, Message: `invalid port "99999"`},
		{Attribute: "connect", Index: 0, Message: `"999.1.1.1"`},
		{Attribute: "rcvhwm", Index: -1, Message: "out of range"},
		{Attribute: "linger_ms", Index: -1, Message: "want a number"},
		{Attribute: "colour", Index: -1, Message: "not an attribute"},
	}
	for _, w := range want {
		if !slices.ContainsFunc(res.Problems, func(p transport.Problem) bool {
			return p.Attribute == w.Attribute && p.Index == w.Index && strings.Contains(p.Message, w.Message)
		}) {
			t.Errorf("no problem %+v among %+v", w, res.Problems)
		}
	}
	if len(res.Problems) != len(want) {
		t.Errorf("%d problems, want %d: %+v", len(res.Problems), len(want), res.Problems)
	}

	// A dotted all-numeric host that is not an IPv4 address is refused,
	// for bind and connect; Open refuses it too.
	for _, attr := range []string{"bind", "connect"} {
		res := validate(KindPush, `{"`+attr+`":["tcp://999.1.1.1:5555"]}`)
		if len(res.Problems) != 1 || res.Problems[0].Attribute != attr || res.Problems[0].Index != 0 {
			t.Errorf("%s 999.1.1.1: problems %+v", attr, res.Problems)
		}
	}
	s := x.newServer(t)
	if err := s.Open(ctx, transport.SocketSpec{ID: "s", Kind: KindPush, Config: []byte(`{"connect":["tcp://999.1.1.1:5"]}`)}); err == nil ||
		!strings.Contains(err.Error(), `"999.1.1.1"`) {
		t.Errorf("open connecting to 999.1.1.1: %v", err)
	}

	// A valid configuration: no problems, and the bind endpoints
	// normalized (host lower-cased as given, IPv6 in brackets, "*" for
	// every interface, plain port numbers); endpoints that pick a free
	// port or path, and connect endpoints, are not listed. Nothing was
	// opened.
	res = validate(KindXPub, `{"bind":["tcp://LocalHost:05555","tcp://*:5556","tcp://[::1]:5557","tcp://127.0.0.1:*",`+
		`"tcp://127.0.0.1:0","ipc:///tmp/zpipe-validate.sock","ipc://*","tcp://[FE80::1]:5558"],"connect":["tcp://127.0.0.1:6000"],"ipv6":true}`)
	if len(res.Problems) != 0 {
		t.Errorf("problems %+v", res.Problems)
	}
	wantBinds := []string{"tcp://localhost:5555", "tcp://*:5556", "tcp://[::1]:5557", "ipc:///tmp/zpipe-validate.sock", "tcp://[fe80::1]:5558"}
	if !slices.Equal(res.Binds, wantBinds) {
		t.Errorf("binds %q, want %q", res.Binds, wantBinds)
	}
	if st, _ := s.Stats(ctx); len(st.Sockets) != 0 {
		t.Errorf("sockets open after validation: %+v", st.Sockets)
	}
}

// problemText renders a problem as Open's error names it.
func problemText(p transport.Problem) string {
	if p.Attribute == "" {
		return p.Message
	}
	return `attribute "` + p.Attribute + `": ` + p.Message
}
