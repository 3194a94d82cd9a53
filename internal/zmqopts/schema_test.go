package zmqopts

import (
	"slices"
	"testing"

	"github.com/zpipe/zpipe/core/transport"
)

// testVariant is a transport with CURVE or without, bounds of its own for
// the message limits and descriptions of its own for io_threads, send_timeout_ms and, for
// push alone, send_timeout_ms again.
func testVariant(curve bool) *Variant {
	return &Variant{
		Transport:        "test",
		Curve:            curve,
		MaxMessageBytes:  100 << 20,
		MaxMessageFrames: 2048,
		Descriptions: map[string]string{
			AttrIOThreads:                    "threads of the test",
			AttrSendTimeout:                  "timeout of the test",
			KindPush + "." + AttrSendTimeout: "timeout of the test's push",
		},
	}
}

// TestSocketKinds: the four kinds with their roles, subscriptions and
// attributes in the order they are listed; every schema is valid.
func TestSocketKinds(t *testing.T) {
	common := []string{AttrBind, AttrConnect, AttrLinger, AttrSndHWM, AttrRcvHWM, AttrSndHWMBytes, AttrRcvHWMBytes,
		AttrSndBuf, AttrRcvBuf, AttrIPv6, AttrIOThreads, AttrImmediate}
	curve := []string{AttrCurveServer, AttrCurveSecretKey, AttrCurvePublicKey, AttrCurveServerKey, AttrCurveAllowed}
	limits := []string{AttrMaxMsgBytes, AttrMaxMsgFrames}
	source := []string{AttrFraming, AttrPollMax}
	xpub := []string{AttrVerbose, AttrVerboser, AttrNoDrop, AttrSendTimeout, AttrStallDisc}
	want := []struct {
		kind, role, subs string
		attrs            []string
	}{
		{KindXSub, transport.RoleSource, transport.SubsAccepts, slices.Concat(common, source, limits, curve)},
		{KindPull, transport.RoleSource, "", slices.Concat(common, source, limits, curve)},
		{KindXPub, transport.RoleSink, transport.SubsEmits, slices.Concat(common, xpub, limits, curve)},
		{KindPush, transport.RoleSink, "", slices.Concat(common, []string{AttrSendTimeout}, curve)},
	}
	kinds := testVariant(true).SocketKinds()
	if len(kinds) != len(want) {
		t.Fatalf("%d kinds, want %d", len(kinds), len(want))
	}
	for i, w := range want {
		k := kinds[i]
		if k.Kind != w.kind || k.Role != w.role || k.Subscriptions != w.subs || k.Description == "" {
			t.Errorf("kind %d: %+v, want %q, role %q, subscriptions %q", i, k, w.kind, w.role, w.subs)
		}
		var names []string
		for _, a := range k.Schema.Attributes {
			names = append(names, a.Name)
		}
		if !slices.Equal(names, w.attrs) {
			t.Errorf("kind %q: attributes\n %q\nwant\n %q", k.Kind, names, w.attrs)
		}
		if err := k.Schema.Check(); err != nil {
			t.Errorf("kind %q: %v", k.Kind, err)
		}
	}
}

// TestDefaults: every attribute's default and the capability it needs,
// the same in every kind that has it.
func TestDefaults(t *testing.T) {
	want := map[string]struct {
		def any
		cap string
	}{
		AttrBind: {[]string{}, ""}, AttrConnect: {[]string{}, ""},
		AttrLinger: {500, ""}, AttrSndHWM: {1000, ""}, AttrRcvHWM: {1000, ""},
		AttrSndHWMBytes: {64 << 20, transport.CapHWMBytes}, AttrRcvHWMBytes: {64 << 20, transport.CapHWMBytes},
		AttrSndBuf: {-1, ""}, AttrRcvBuf: {-1, ""}, AttrIPv6: {false, transport.CapIPv6},
		AttrIOThreads: {1, ""}, AttrImmediate: {false, ""},
		AttrFraming: {FramingZeek, ""}, AttrPollMax: {100, ""},
		AttrVerbose: {false, ""}, AttrVerboser: {false, ""}, AttrNoDrop: {true, ""},
		AttrSendTimeout: {-1, ""}, AttrStallDisc: {0, ""},
		AttrMaxMsgBytes: {64 << 20, ""}, AttrMaxMsgFrames: {1024, ""},
		AttrCurveServer: {false, transport.CapCurve}, AttrCurveSecretKey: {"", transport.CapCurve},
		AttrCurvePublicKey: {"", transport.CapCurve}, AttrCurveServerKey: {"", transport.CapCurve},
		AttrCurveAllowed: {[]string{}, transport.CapCurve},
	}
	seen := map[string]bool{}
	for _, k := range testVariant(true).SocketKinds() {
		for _, a := range k.Schema.Attributes {
			w, ok := want[a.Name]
			if !ok {
				t.Errorf("kind %q: attribute %q has no expected default", k.Kind, a.Name)
				continue
			}
			seen[a.Name] = true
			def, _ := a.DefaultJSON()
			wantDef := render(w.def)
			if def != wantDef || a.Capability != w.cap || a.Required {
				t.Errorf("kind %q, attribute %q: default %s, capability %q, required %v; want %s, %q", k.Kind, a.Name, def, a.Capability, a.Required, wantDef, w.cap)
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d attributes seen, %d expected", len(seen), len(want))
	}
	if render(DefaultHWMBytes) != "67108864" || DefaultMaxMessageBytes != 64<<20 || DefaultMaxMessageFrames != 1024 {
		t.Error("default constants changed")
	}
}

// TestDescriptions: a Variant's description replaces the shared one, for
// one kind ("kind.attribute") before every kind ("attribute"); the
// attributes whose effect is a transport's own have no description
// without one.
func TestDescriptions(t *testing.T) {
	ownDescription := map[string]bool{AttrSndHWMBytes: true, AttrRcvHWMBytes: true, AttrIOThreads: true, AttrPollMax: true,
		AttrNoDrop: true, AttrSendTimeout: true, AttrStallDisc: true, AttrMaxMsgBytes: true, AttrMaxMsgFrames: true}
	for _, v := range []*Variant{testVariant(true), {}} {
		for _, k := range v.SocketKinds() {
			for _, a := range k.Schema.Attributes {
				want, given := v.Descriptions[k.Kind+"."+a.Name]
				if !given {
					want, given = v.Descriptions[a.Name]
				}
				switch {
				case given && a.Description != want:
					t.Errorf("kind %q, attribute %q: description %q, want %q", k.Kind, a.Name, a.Description, want)
				case !given && ownDescription[a.Name] && a.Description != "":
					t.Errorf("kind %q, attribute %q: shared description %q of an attribute whose effect is the transport's", k.Kind, a.Name, a.Description)
				case !given && !ownDescription[a.Name] && a.Description == "":
					t.Errorf("kind %q, attribute %q: no description", k.Kind, a.Name)
				}
			}
		}
	}
	push := testVariant(true).SocketKinds()[3]
	if a, _ := push.Schema.Lookup(AttrSendTimeout); a.Description != "timeout of the test's push" {
		t.Errorf("push send_timeout_ms: %q", a.Description)
	}
}
