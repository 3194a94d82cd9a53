package zmqopts

import (
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/transport"
)

// The server key pair of ZeroMQ RFC 26 (CurveZMQ), in Z85 and in hex.
const (
	rfcServerPublic    = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
	rfcServerPublicHex = "54fcba24e93249969316fb617c872bb0c1d1ff14800427c594cbfacf1bc2d652"
	rfcServerSecret    = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
)

// TestDecodeZ85Key: the keys of RFC 26 and RFC 32's example decode to
// their bytes; a key of another length, with a character outside the
// alphabet, or with a group of five beyond 32 bits is refused.
func TestDecodeZ85Key(t *testing.T) {
	for _, c := range []struct{ key, hex string }{
		{rfcServerPublic, rfcServerPublicHex},
		{strings.Repeat("HelloWorld", 4), strings.Repeat("864fd26fb559f75b", 4)},
		{strings.Repeat("00000", 8), strings.Repeat("00", 32)},
		{strings.Repeat("%nSc0", 8), strings.Repeat("ff", 32)},
	} {
		got, err := DecodeZ85Key(c.key)
		if err != nil || hex.EncodeToString(got) != c.hex {
			t.Errorf("%q: %x, %v; want %s", c.key, got, err, c.hex)
		}
	}
	for _, c := range []struct{ key, want string }{
		{"", "a CURVE key has 0 characters, want a 40-character Z85 key"},
		{rfcServerPublic[:39], "a CURVE key has 39 characters, want a 40-character Z85 key"},
		{rfcServerPublic + "0", "a CURVE key has 41 characters, want a 40-character Z85 key"},
		{strings.Repeat("%nSc1", 8), "a CURVE key is not valid Z85 text"}, // 2^32
		{strings.Repeat("~", 40), "a CURVE key is not valid Z85 text"},
		{rfcServerPublic[:39] + "\x00", "a CURVE key is not valid Z85 text"},
		{rfcServerPublic[:38] + "é", "a CURVE key is not valid Z85 text"},
		{rfcServerPublic[:39] + " ", "a CURVE key is not valid Z85 text"},
	} {
		if _, err := DecodeZ85Key(c.key); err == nil || err.Error() != c.want {
			t.Errorf("%q: %v, want %q", c.key, err, c.want)
		}
	}
}

// TestCurve: a server needs its secret key, a client the server's key and
// its own pair, and not both roles at once; only a server has an
// allow-list, whose keys are decoded; every key is checked, an allow-list
// element by its index.
func TestCurve(t *testing.T) {
	p := func(attr string, index int, msg string) transport.Problem {
		return transport.Problem{Attribute: attr, Index: index, Message: msg}
	}
	pub, sec := rfcServerPublic, rfcServerSecret
	for _, c := range []struct {
		body string
		want []transport.Problem
	}{
		{`"curve_server":true,"curve_secretkey":"` + sec + `"`, nil},
		{`"curve_serverkey":"` + pub + `","curve_publickey":"` + pub + `","curve_secretkey":"` + sec + `"`, nil},
		{`"curve_server":false,"curve_secretkey":"","curve_allowed_clients":[]`, nil},
		{`"curve_server":true`, []transport.Problem{p(AttrCurveSecretKey, -1, `required when "curve_server" is true`)}},
		{`"curve_server":true,"curve_secretkey":"short"`, []transport.Problem{
			p(AttrCurveSecretKey, -1, "a CURVE key has 5 characters, want a 40-character Z85 key")}},
		{`"curve_server":true,"curve_secretkey":"` + strings.Repeat("~", 40) + `"`, []transport.Problem{
			p(AttrCurveSecretKey, -1, "a CURVE key is not valid Z85 text")}},
		{`"curve_server":true,"curve_secretkey":"` + sec + `","curve_serverkey":"` + pub + `"`, []transport.Problem{
			p(AttrCurveServerKey, -1, `a socket is either a CURVE server or a client, not both ("curve_server" is true)`)}},
		{`"curve_allowed_clients":["` + pub + `"]`, []transport.Problem{
			p(AttrCurveAllowed, -1, `only a CURVE server ("curve_server" = true) checks client keys`)}},
		{`"curve_publickey":"` + pub + `"`, []transport.Problem{
			p(AttrCurveServerKey, -1, `required for a CURVE client (or set "curve_server" = true for a server)`)}},
		{`"curve_serverkey":"` + pub + `"`, []transport.Problem{
			p(AttrCurvePublicKey, -1, `"curve_publickey" and "curve_secretkey": both required for a CURVE client`)}},
		{`"curve_serverkey":"` + pub + `","curve_publickey":"` + pub + `"`, []transport.Problem{
			p(AttrCurveSecretKey, -1, `"curve_publickey" and "curve_secretkey": both required for a CURVE client`)}},
		{`"curve_serverkey":"x","curve_publickey":"y","curve_secretkey":"z"`, []transport.Problem{
			p(AttrCurveSecretKey, -1, "a CURVE key has 1 characters, want a 40-character Z85 key"),
			p(AttrCurvePublicKey, -1, "a CURVE key has 1 characters, want a 40-character Z85 key"),
			p(AttrCurveServerKey, -1, "a CURVE key has 1 characters, want a 40-character Z85 key")}},
		{`"curve_server":true,"curve_secretkey":"short","curve_allowed_clients":["` + pub + `","x"]`, []transport.Problem{
			p(AttrCurveSecretKey, -1, "a CURVE key has 5 characters, want a 40-character Z85 key"),
			p(AttrCurveAllowed, 1, "a CURVE key has 1 characters, want a 40-character Z85 key")}},
	} {
		_, got := testVariant(true).Decode(KindXPub, []byte(`{`+okBind+`,`+c.body+`}`))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.body, got, c.want)
		}
	}
	c := decodeOK(t, testVariant(true), KindPull, `{`+okBind+`,"curve_server":true,"curve_secretkey":"`+sec+`",`+
		`"curve_allowed_clients":["`+pub+`","`+strings.Repeat("0", 40)+`"]}`)
	if len(c.CurveAllowedKeys) != 2 || hex.EncodeToString(c.CurveAllowedKeys[0]) != rfcServerPublicHex ||
		hex.EncodeToString(c.CurveAllowedKeys[1]) != strings.Repeat("00", 32) || !c.UsesCurve() {
		t.Errorf("allowed keys %x", c.CurveAllowedKeys)
	}
}

// TestNoCurve: a transport without CURVE refuses each curve_* attribute
// set, naming the capability and the transport; those left at their
// defaults are no problem.
func TestNoCurve(t *testing.T) {
	msg := `needs the "curve" capability, which transport "test" does not have`
	for _, c := range []struct {
		body string
		want []string
	}{
		{`"curve_server":false,"curve_secretkey":"","curve_allowed_clients":[]`, nil},
		{`"curve_server":true`, []string{AttrCurveServer}},
		{`"curve_secretkey":"short"`, []string{AttrCurveSecretKey}},
		{`"curve_publickey":"` + rfcServerPublic + `"`, []string{AttrCurvePublicKey}},
		{`"curve_serverkey":"` + rfcServerPublic + `"`, []string{AttrCurveServerKey}},
		{`"curve_allowed_clients":["x"]`, []string{AttrCurveAllowed}},
		{`"curve_allowed_clients":["x"],"curve_server":true,"curve_serverkey":"y"`, []string{AttrCurveServer, AttrCurveServerKey, AttrCurveAllowed}},
	} {
		for _, kind := range []string{KindXSub, KindPull, KindXPub, KindPush} {
			_, got := testVariant(false).Decode(kind, []byte(`{`+okBind+`,`+c.body+`}`))
			var want []transport.Problem
			for _, attr := range c.want {
				want = append(want, transport.Problem{Attribute: attr, Index: -1, Message: msg})
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s %s:\n got %+v\nwant %+v", kind, c.body, got, want)
			}
		}
	}
}
