package zmqopts

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/transport"
)

const okBind = `"bind":["tcp://127.0.0.1:*"]`

// decodeOK decodes body for kind, failing the test on any problem.
func decodeOK(t *testing.T, v *Variant, kind, body string) *Config {
	t.Helper()
	c, problems := v.Decode(kind, []byte(body))
	if len(problems) > 0 {
		t.Fatalf("%s %s: problems %+v", kind, body, problems)
	}
	return c
}

// TestDecodeDefaults: attributes left out take their defaults; those a
// kind does not have stay zero (a sink's framing is raw).
func TestDecodeDefaults(t *testing.T) {
	common := Config{
		Bind: []string{"tcp://127.0.0.1:*"}, Connect: []string{},
		LingerMs: 500, SndHWM: 1000, RcvHWM: 1000, SndHWMBytes: 64 << 20, RcvHWMBytes: 64 << 20,
		SndBuf: -1, RcvBuf: -1, IOThreads: 1, CurveAllowedClients: []string{}, Framing: FramingRaw,
	}
	source, xpub, push := common, common, common
	source.Framing, source.PollMaxMessages = FramingZeek, 100
	source.MaxMessageBytes, source.MaxMessageFrames = 64<<20, 1024
	xpub.NoDrop, xpub.SendTimeoutMs = true, -1
	xpub.MaxMessageBytes, xpub.MaxMessageFrames = 64<<20, 1024
	push.SendTimeoutMs = -1
	for kind, want := range map[string]Config{KindXSub: source, KindPull: source, KindXPub: xpub, KindPush: push} {
		if got := decodeOK(t, testVariant(true), kind, `{`+okBind+`}`); !reflect.DeepEqual(*got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", kind, *got, want)
		}
	}
	// An empty body takes every default.
	c, problems := testVariant(true).Decode(KindPull, []byte(" "))
	if c == nil || len(problems) != 1 || problems[0].Message != `"bind" and "connect": both empty; give at least one endpoint` {
		t.Errorf("empty body: %+v, %+v", c, problems)
	}
}

// TestDecodeValues: every attribute takes the value given, null meaning
// the default.
func TestDecodeValues(t *testing.T) {
	c := decodeOK(t, testVariant(true), KindXPub, `{"bind":["tcp://*:1"],"connect":["ipc://@x"],"linger_ms":-1,"sndhwm":0,"rcvhwm":7,`+
		`"sndhwm_bytes":0,"rcvhwm_bytes":9,"sndbuf":4096,"rcvbuf":8192,"ipv6":true,"io_threads":64,"immediate":true,`+
		`"verbose":true,"verboser":true,"nodrop":false,"send_timeout_ms":0,"stall_disconnect_ms":2500,`+
		`"max_message_bytes":1000,"max_message_frames":10,"curve_server":null}`)
	want := Config{Bind: []string{"tcp://*:1"}, Connect: []string{"ipc://@x"}, LingerMs: -1, SndHWM: 0, RcvHWM: 7,
		SndHWMBytes: 0, RcvHWMBytes: 9, SndBuf: 4096, RcvBuf: 8192, IPv6: true, IOThreads: 64, Immediate: true,
		Framing: FramingRaw, Verbose: true, Verboser: true, NoDrop: false, SendTimeoutMs: 0, StallDisconnectMs: 2500,
		MaxMessageBytes: 1000, MaxMessageFrames: 10, CurveAllowedClients: []string{}}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("\n got %+v\nwant %+v", *c, want)
	}
	c = decodeOK(t, testVariant(true), KindXSub, `{`+okBind+`,"framing":"raw","poll_max_messages":1048576}`)
	if c.Framing != FramingRaw || c.PollMaxMessages != 1<<20 {
		t.Errorf("xsub: framing %q, poll_max_messages %d", c.Framing, c.PollMaxMessages)
	}
}

// TestDecodeRanges: every number is taken at both ends of its range and
// refused just beyond them, naming the range.
func TestDecodeRanges(t *testing.T) {
	for _, c := range []struct {
		kind, attr string
		lo, hi     int
	}{
		{KindPull, AttrLinger, -1, math.MaxInt32},
		{KindPull, AttrSndHWM, 0, math.MaxInt32},
		{KindPull, AttrRcvHWM, 0, math.MaxInt32},
		{KindPull, AttrSndHWMBytes, 0, math.MaxInt32},
		{KindPull, AttrRcvHWMBytes, 0, math.MaxInt32},
		{KindPull, AttrSndBuf, -1, math.MaxInt32},
		{KindPull, AttrRcvBuf, -1, math.MaxInt32},
		{KindPull, AttrIOThreads, 1, 64},
		{KindXSub, AttrPollMax, 1, 1 << 20},
		{KindXPub, AttrSendTimeout, -1, math.MaxInt32},
		{KindPush, AttrSendTimeout, -1, math.MaxInt32},
		{KindXPub, AttrStallDisc, 0, math.MaxInt32},
		{KindXSub, AttrMaxMsgBytes, 1, 100 << 20}, // the Variant's bounds
		{KindXPub, AttrMaxMsgFrames, 1, 2048},
	} {
		for _, n := range []int{c.lo, c.hi} {
			decodeOK(t, testVariant(true), c.kind, fmt.Sprintf(`{%s,%q:%d}`, okBind, c.attr, n))
		}
		for _, n := range []int{c.lo - 1, c.hi + 1} {
			_, problems := testVariant(true).Decode(c.kind, []byte(fmt.Sprintf(`{%s,%q:%d}`, okBind, c.attr, n)))
			want := transport.Problem{Attribute: c.attr, Index: -1, Message: fmt.Sprintf("value %d: out of range [%d, %d]", n, c.lo, c.hi)}
			if len(problems) != 1 || problems[0] != want {
				t.Errorf("%s %s = %d: problems %+v, want %+v", c.kind, c.attr, n, problems, want)
			}
		}
	}
}

// TestDecodeProblems: each problem names its attribute (and, in a list,
// the element) and says what is wrong; a body's problems come in the
// order of its attributes, endpoints after the values.
func TestDecodeProblems(t *testing.T) {
	p := func(attr string, index int, msg string) transport.Problem {
		return transport.Problem{Attribute: attr, Index: index, Message: msg}
	}
	for _, c := range []struct {
		kind, body string
		want       []transport.Problem
	}{
		{"router", `{}`, []transport.Problem{p("", -1, `unknown socket kind "router" (want one of xsub, pull, xpub, push)`)}},
		{KindPull, `[1]`, []transport.Problem{p("", -1, "config is not a JSON object: json: cannot unmarshal array into Go value of type map[string]interface {}")}},
		{KindPull, `{}`, []transport.Problem{p(AttrBind, -1, `"bind" and "connect": both empty; give at least one endpoint`)}},
		{KindPull, `{"bind":[],"connect":null}`, []transport.Problem{p(AttrBind, -1, `"bind" and "connect": both empty; give at least one endpoint`)}},
		{KindPull, `{"connect":["tcp://h:1"],"colour":"red","verbose":true}`, []transport.Problem{
			p("colour", -1, "not an attribute of pull sockets"), p(AttrVerbose, -1, "not an attribute of pull sockets")}},
		{KindPush, `{` + okBind + `,"framing":"raw","max_message_bytes":5}`, []transport.Problem{
			p(AttrFraming, -1, "not an attribute of push sockets"), p(AttrMaxMsgBytes, -1, "not an attribute of push sockets")}},
		{KindPull, `{"bind":"tcp://127.0.0.1:*"}`, []transport.Problem{p(AttrBind, -1, `value "tcp://127.0.0.1:*": want a list of strings`)}},
		{KindPull, `{"bind":["tcp://127.0.0.1:*",1]}`, []transport.Problem{p(AttrBind, 1, "value 1: want a list of strings")}},
		{KindPull, `{` + okBind + `,"rcvhwm":1.5}`, []transport.Problem{p(AttrRcvHWM, -1, "value 1.5: want a whole number")}},
		{KindPull, `{` + okBind + `,"rcvbuf":"big"}`, []transport.Problem{p(AttrRcvBuf, -1, `value "big": want a number`)}},
		{KindPull, `{` + okBind + `,"ipv6":"yes"}`, []transport.Problem{p(AttrIPv6, -1, `value "yes": want a bool`)}},
		{KindPull, `{` + okBind + `,"framing":"json"}`, []transport.Problem{p(AttrFraming, -1, `value "json": want one of zeek, raw`)}},
		{KindPull, `{` + okBind + `,"framing":1}`, []transport.Problem{
			p(AttrFraming, -1, "value 1: want a string"), p(AttrFraming, -1, `value "": want one of zeek, raw`)}},
		{KindPull, `{` + okBind + `,"curve_secretkey":5}`, []transport.Problem{p(AttrCurveSecretKey, -1, "value 5: want a string")}},
		// Every problem, in the order of the attributes: the common ones,
		// CURVE's, the kind's own, the limits, then the endpoints.
		{KindXPub, `{"bind":["x"],"connect":["tcp://h:0"],"max_message_frames":0,"send_timeout_ms":-2,"stall_disconnect_ms":-1,` +
			`"nodrop":1,"curve_server":1,"io_threads":0,"linger_ms":-5}`, []transport.Problem{
			p(AttrLinger, -1, "value -5: out of range [-1, 2147483647]"),
			p(AttrIOThreads, -1, "value 0: out of range [1, 64]"),
			p(AttrCurveServer, -1, "value 1: want a bool"),
			p(AttrNoDrop, -1, "value 1: want a bool"),
			p(AttrStallDisc, -1, "value -1: out of range [0, 2147483647]"),
			p(AttrSendTimeout, -1, "value -2: out of range [-1, 2147483647]"),
			p(AttrMaxMsgFrames, -1, "value 0: out of range [1, 2048]"),
			p(AttrBind, 0, `endpoint "x": missing transport; want tcp://host:port or ipc://path`),
			p(AttrConnect, 0, `endpoint "tcp://h:0": a wildcard port is only valid for bind`)}},
	} {
		_, got := testVariant(true).Decode(c.kind, []byte(c.body))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s %s:\n got %+v\nwant %+v", c.kind, c.body, got, c.want)
		}
	}
}

// TestEndpoints: the endpoints libzmq takes, and why the others are
// refused, for bind and connect, with and without ipv6.
func TestEndpoints(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, c := range []struct {
		ep         string
		bind, ipv6 bool
		want       string // "" for accepted
	}{
		{"tcp://127.0.0.1:5555", false, false, ""},
		{"tcp://127.0.0.1:65535", false, false, ""},
		{"tcp://127.0.0.1:*", true, false, ""},
		{"tcp://127.0.0.1:0", true, false, ""},
		{"tcp://*:5555", true, false, ""},
		{"tcp://[::1]:5555", false, true, ""},
		{"tcp://[fe80::1%eth0]:7", true, true, ""},
		{"tcp://zeek-manager:5", false, false, ""},
		{"tcp://Example.COM.:5", true, false, ""},
		{"tcp://under_score:5", false, false, ""},
		{"tcp://eth0:5", true, false, ""},
		{"tcp://" + long + "." + long + ":5", false, false, ""},
		{"ipc:///tmp/x", false, false, ""},
		{"ipc://@abstract", true, false, ""},
		{"ipc://*", true, false, ""},
		{"ipc:///" + strings.Repeat("x", 106), true, false, ""},

		{"127.0.0.1:5555", true, false, "missing transport; want tcp://host:port or ipc://path"},
		{"udp://127.0.0.1:5555", true, false, `unsupported transport "udp"; want tcp or ipc`},
		{"TCP://127.0.0.1:5", true, false, `unsupported transport "TCP"; want tcp or ipc`},
		{"tcp://127.0.0.1", true, false, "missing port"},
		{"tcp://127.0.0.1:x", true, false, `invalid port "x"`},
		{"tcp://127.0.0.1:70000", true, false, `invalid port "70000"`},
		{"tcp://127.0.0.1:-1", true, false, `invalid port "-1"`},
		{"tcp://127.0.0.1:00", true, false, `invalid port "00"`},
		{"tcp://127.0.0.1:*", false, false, "a wildcard port is only valid for bind"},
		{"tcp://127.0.0.1:0", false, false, "a wildcard port is only valid for bind"},
		{"tcp://:5555", true, false, "missing host"},
		{"tcp://*:5555", false, false, "host * is only valid for bind"},
		{"tcp://[::1]:5555", true, false, `IPv6 address [::1] needs "ipv6" = true`},
		{"tcp://[::1:5555", true, true, `unclosed bracket in host "[::1"`},
		{"tcp://[1.2.3.4]:5555", true, true, `invalid IPv6 address "[1.2.3.4]"`},
		{"tcp://::1:5555", true, true, `IPv6 address "::1" must be in brackets: tcp://[addr]:port`},
		{"tcp://999.1.1.1:5", false, false, `invalid IPv4 address "999.1.1.1"`},
		{"tcp://1.2.3:5", false, false, `invalid IPv4 address "1.2.3"`},
		{"tcp://a b:5555", true, false, `invalid host "a b"`},
		{"tcp://é:5", true, false, `invalid host "é"`},
		{"tcp://-x:5", true, false, `invalid host name "-x": a label starts or ends with '-'`},
		{"tcp://x-:5", false, false, `invalid host name "x-": a label starts or ends with '-'`},
		{"tcp://a..b:5", false, false, `invalid host name "a..b": empty or overlong label`},
		{"tcp://.a:5", false, false, `invalid host name ".a": empty or overlong label`},
		{"tcp://" + long + "a:5", false, false, `invalid host name "` + long + `a": empty or overlong label`},
		{"tcp://" + strings.Repeat("a.", 127) + "a:5", false, false, `host name "` + strings.Repeat("a.", 127) + `a" is longer than 253 characters`},
		{"ipc://", true, false, "empty ipc path"},
		{"ipc://*", false, false, "ipc://* is only valid for bind"},
		{"ipc:///" + strings.Repeat("x", 107), true, false, "ipc path is 108 bytes long, the limit is 107"},
	} {
		err := CheckEndpoint(c.ep, c.bind, c.ipv6)
		if got := fmt.Sprint(err); (c.want == "" && err != nil) || (c.want != "" && got != c.want) {
			t.Errorf("%q (bind %v, ipv6 %v): %v, want %q", c.ep, c.bind, c.ipv6, err, c.want)
		}
	}
}

// TestValidate: Validate reports Decode's problems, naming the endpoint
// at fault by its index, and lists the bind endpoints without problems,
// normalized; wildcard ports and ipc://* never clash and are left out.
func TestValidate(t *testing.T) {
	res := testVariant(true).Validate(KindXPub, []byte(`{"bind":["tcp://LocalHost:05555","tcp://*:5556","tcp://[FE80::1]:5557",`+
		`"tcp://127.0.0.1:*","tcp://127.0.0.1:0","ipc:///tmp/x.sock","ipc://*","foo://x","tcp://-x:1","tcp://lo:0010"],`+
		`"connect":["tcp://127.0.0.1:6000"],"ipv6":true}`))
	wantProblems := []transport.Problem{
		{Attribute: AttrBind, Index: 7, Message: `endpoint "foo://x": unsupported transport "foo"; want tcp or ipc`},
		{Attribute: AttrBind, Index: 8, Message: `endpoint "tcp://-x:1": invalid host name "-x": a label starts or ends with '-'`},
	}
	wantBinds := []string{"tcp://localhost:5555", "tcp://*:5556", "tcp://[fe80::1]:5557", "ipc:///tmp/x.sock", "tcp://lo:10"}
	if !slices.Equal(res.Problems, wantProblems) || !slices.Equal(res.Binds, wantBinds) {
		t.Errorf("problems %+v\nbinds %q\nwant %+v\n     %q", res.Problems, res.Binds, wantProblems, wantBinds)
	}
	// Without a configuration, no binds.
	if res := testVariant(true).Validate("dealer", nil); len(res.Problems) != 1 || res.Binds == nil || len(res.Binds) != 0 {
		t.Errorf("unknown kind: %+v", res)
	}
}
