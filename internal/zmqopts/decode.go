package zmqopts

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/transport"
)

// Config is the decoded body of a socket block. Attributes a socket kind
// does not have keep their zero value (Framing is FramingRaw for a sink).
type Config struct {
	Bind, Connect            []string
	LingerMs                 int
	SndHWM, RcvHWM           int
	SndHWMBytes, RcvHWMBytes int
	SndBuf, RcvBuf           int
	IPv6                     bool
	IOThreads                int
	Immediate                bool
	Framing                  string
	PollMaxMessages          int
	Verbose, Verboser        bool
	NoDrop                   bool
	SendTimeoutMs            int
	StallDisconnectMs        int
	MaxMessageBytes          int
	MaxMessageFrames         int
	CurveServer              bool
	CurveSecretKey           string
	CurvePublicKey           string
	CurveServerKey           string
	CurveAllowedClients      []string
	// CurveAllowedKeys holds CurveAllowedClients decoded, 32 bytes each.
	CurveAllowedKeys [][]byte
}

// Decode decodes the JSON body of a socket of the given kind and makes
// every check a transport makes before it creates a socket. Attributes
// left out take their defaults. It returns the configuration, usable only
// without problems (nil if the kind or the body is not one), and every
// problem found.
func (v *Variant) Decode(kind string, raw []byte) (*Config, transport.Problems) {
	var sk *transport.SocketKind
	for _, k := range v.SocketKinds() {
		if k.Kind == kind {
			sk = &k
			break
		}
	}
	var d decoder
	if sk == nil {
		d.problem("", -1, "unknown socket kind %q (want one of xsub, pull, xpub, push)", kind)
		return nil, d.problems
	}
	body := map[string]any{}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			d.problem("", -1, "config is not a JSON object: %v", err)
			return nil, d.problems
		}
	}
	d.body, d.schema = body, &sk.Schema
	names := make([]string, 0, len(body))
	for name := range body {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !d.has(name) {
			d.problem(name, -1, "not an attribute of %s sockets", kind)
		}
	}
	c := &Config{
		Bind:                d.strings(AttrBind),
		Connect:             d.strings(AttrConnect),
		LingerMs:            d.int(AttrLinger, -1, maxTimeoutMs),
		SndHWM:              d.int(AttrSndHWM, 0, maxHWM),
		RcvHWM:              d.int(AttrRcvHWM, 0, maxHWM),
		SndHWMBytes:         d.int(AttrSndHWMBytes, 0, maxHWM),
		RcvHWMBytes:         d.int(AttrRcvHWMBytes, 0, maxHWM),
		SndBuf:              d.int(AttrSndBuf, -1, maxSocketBufferSize),
		RcvBuf:              d.int(AttrRcvBuf, -1, maxSocketBufferSize),
		IPv6:                d.bool(AttrIPv6),
		IOThreads:           d.int(AttrIOThreads, 1, maxIOThreads),
		Immediate:           d.bool(AttrImmediate),
		CurveServer:         d.bool(AttrCurveServer),
		CurveSecretKey:      d.string(AttrCurveSecretKey),
		CurvePublicKey:      d.string(AttrCurvePublicKey),
		CurveServerKey:      d.string(AttrCurveServerKey),
		CurveAllowedClients: d.strings(AttrCurveAllowed),
		Framing:             FramingRaw,
	}
	if d.has(AttrFraming) {
		c.Framing = d.oneOf(AttrFraming)
		c.PollMaxMessages = d.int(AttrPollMax, 1, maxPollMessages)
	}
	if d.has(AttrVerbose) {
		c.Verbose = d.bool(AttrVerbose)
		c.Verboser = d.bool(AttrVerboser)
		c.NoDrop = d.bool(AttrNoDrop)
		c.StallDisconnectMs = d.int(AttrStallDisc, 0, maxTimeoutMs)
	}
	if d.has(AttrSendTimeout) {
		c.SendTimeoutMs = d.int(AttrSendTimeout, -1, maxTimeoutMs)
	}
	if d.has(AttrMaxMsgBytes) {
		c.MaxMessageBytes = d.int(AttrMaxMsgBytes, 1, v.MaxMessageBytes)
		c.MaxMessageFrames = d.int(AttrMaxMsgFrames, 1, v.MaxMessageFrames)
	}
	if len(c.Bind) == 0 && len(c.Connect) == 0 && !d.problems.Has(AttrBind) && !d.problems.Has(AttrConnect) {
		d.problem(AttrBind, -1, "%q and %q: both empty; give at least one endpoint", AttrBind, AttrConnect)
	}
	for i, ep := range c.Bind {
		if err := CheckEndpoint(ep, true, c.IPv6); err != nil {
			d.problem(AttrBind, i, "endpoint %q: %v", ep, err)
		}
	}
	for i, ep := range c.Connect {
		if err := CheckEndpoint(ep, false, c.IPv6); err != nil {
			d.problem(AttrConnect, i, "endpoint %q: %v", ep, err)
		}
	}
	v.checkCurve(c, &d)
	return c, d.problems
}

// Validate checks a socket's configuration as Decode does, for
// transport.Validator: Binds lists the bind endpoints without problems,
// normalized (NormalizedBinds).
func (v *Variant) Validate(kind string, raw []byte) *transport.Validation {
	c, problems := v.Decode(kind, raw)
	res := &transport.Validation{Problems: problems, Binds: []string{}}
	if c != nil {
		var ok []string
		for i, ep := range c.Bind {
			if !slices.ContainsFunc(problems, func(p transport.Problem) bool { return p.Attribute == AttrBind && p.Index == i }) {
				ok = append(ok, ep)
			}
		}
		res.Binds = NormalizedBinds(ok)
	}
	return res
}

// UsesCurve reports whether c sets any curve_* attribute.
func (c *Config) UsesCurve() bool {
	return c.CurveServer || c.CurveSecretKey != "" || c.CurvePublicKey != "" ||
		c.CurveServerKey != "" || len(c.CurveAllowedClients) > 0
}

// checkCurve checks the CURVE attributes of c: the keys' format and the
// socket's role, or, without CURVE, that none is set. It fills in
// c.CurveAllowedKeys.
func (v *Variant) checkCurve(c *Config, d *decoder) {
	c.CurveAllowedKeys = nil
	if !c.UsesCurve() {
		return
	}
	if !v.Curve {
		for _, a := range []struct {
			name string
			set  bool
		}{
			{AttrCurveServer, c.CurveServer},
			{AttrCurveSecretKey, c.CurveSecretKey != ""},
			{AttrCurvePublicKey, c.CurvePublicKey != ""},
			{AttrCurveServerKey, c.CurveServerKey != ""},
			{AttrCurveAllowed, len(c.CurveAllowedClients) > 0},
		} {
			if a.set {
				d.problem(a.name, -1, "needs the %q capability, which transport %q does not have", transport.CapCurve, v.Transport)
			}
		}
		return
	}
	key := func(attr string, index int, s string) []byte {
		if s == "" {
			return nil
		}
		k, err := DecodeZ85Key(s)
		if err != nil {
			d.problem(attr, index, "%v", err)
		}
		return k
	}
	key(AttrCurveSecretKey, -1, c.CurveSecretKey)
	key(AttrCurvePublicKey, -1, c.CurvePublicKey)
	key(AttrCurveServerKey, -1, c.CurveServerKey)
	for i, k := range c.CurveAllowedClients {
		c.CurveAllowedKeys = append(c.CurveAllowedKeys, key(AttrCurveAllowed, i, k))
	}
	switch {
	case c.CurveServer && c.CurveServerKey != "":
		d.problem(AttrCurveServerKey, -1, "a socket is either a CURVE server or a client, not both (%q is true)", AttrCurveServer)
	case c.CurveServer && c.CurveSecretKey == "":
		d.problem(AttrCurveSecretKey, -1, "required when %q is true", AttrCurveServer)
	case !c.CurveServer && len(c.CurveAllowedClients) > 0:
		d.problem(AttrCurveAllowed, -1, "only a CURVE server (%q = true) checks client keys", AttrCurveServer)
	case !c.CurveServer && c.CurveServerKey == "":
		d.problem(AttrCurveServerKey, -1, "required for a CURVE client (or set %q = true for a server)", AttrCurveServer)
	case !c.CurveServer && (c.CurvePublicKey == "" || c.CurveSecretKey == ""):
		attr := AttrCurvePublicKey
		if c.CurvePublicKey != "" {
			attr = AttrCurveSecretKey
		}
		d.problem(attr, -1, "%q and %q: both required for a CURVE client", AttrCurvePublicKey, AttrCurveSecretKey)
	}
}

// decoder reads typed attribute values, falling back to schema defaults,
// and collects the problems it finds.
type decoder struct {
	body     map[string]any
	schema   *schema.Schema
	problems transport.Problems
}

// problem records a problem of attribute name (element index of a list,
// or -1).
func (d *decoder) problem(name string, index int, format string, args ...any) {
	d.problems.Addf(name, index, format, args...)
}

// has reports whether the socket kind has attribute name.
func (d *decoder) has(name string) bool {
	_, ok := d.schema.Lookup(name)
	return ok
}

func (d *decoder) value(name string) any {
	if v, ok := d.body[name]; ok && v != nil {
		return v
	}
	a, _ := d.schema.Lookup(name)
	return a.Default
}

// fail records a problem with value v of attribute name.
func (d *decoder) fail(name string, index int, v any, format string, args ...any) {
	d.problem(name, index, "value %s: %s", render(v), fmt.Sprintf(format, args...))
}

func render(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func (d *decoder) int(name string, lo, hi int) int {
	v := d.value(name)
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	default:
		d.fail(name, -1, v, "want a number")
		return 0
	}
	if f != math.Trunc(f) || math.IsInf(f, 0) {
		d.fail(name, -1, v, "want a whole number")
		return 0
	}
	if f < float64(lo) || f > float64(hi) {
		d.fail(name, -1, v, "out of range [%d, %d]", lo, hi)
		return 0
	}
	return int(f)
}

func (d *decoder) bool(name string) bool {
	v := d.value(name)
	b, ok := v.(bool)
	if !ok {
		d.fail(name, -1, v, "want a bool")
	}
	return b
}

func (d *decoder) string(name string) string {
	v := d.value(name)
	s, ok := v.(string)
	if !ok {
		d.fail(name, -1, v, "want a string")
	}
	return s
}

func (d *decoder) oneOf(name string) string {
	s := d.string(name)
	a, _ := d.schema.Lookup(name)
	if !slices.Contains(a.OneOf, s) {
		d.fail(name, -1, s, "want one of %s", strings.Join(a.OneOf, ", "))
	}
	return s
}

func (d *decoder) strings(name string) []string {
	v := d.value(name)
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				d.fail(name, i, e, "want a list of strings")
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	d.fail(name, -1, v, "want a list of strings")
	return nil
}
