package zmqtransport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/transport"
)

// Socket kinds offered by the transport.
const (
	KindXSub = "xsub"
	KindPull = "pull"
	KindXPub = "xpub"
	KindPush = "push"
)

// Values of the framing attribute.
const (
	FramingZeek = "zeek"
	FramingRaw  = "raw"
)

// Attribute names.
const (
	attrBind           = "bind"
	attrConnect        = "connect"
	attrLinger         = "linger_ms"
	attrSndHWM         = "sndhwm"
	attrSndHWMBytes    = "sndhwm_bytes"
	attrRcvHWMBytes    = "rcvhwm_bytes"
	attrRcvHWM         = "rcvhwm"
	attrSndBuf         = "sndbuf"
	attrRcvBuf         = "rcvbuf"
	attrIPv6           = "ipv6"
	attrIOThreads      = "io_threads"
	attrImmediate      = "immediate"
	attrFraming        = "framing"
	attrPollMax        = "poll_max_messages"
	attrVerbose        = "verbose"
	attrVerboser       = "verboser"
	attrNoDrop         = "nodrop"
	attrSendTimeout    = "send_timeout_ms"
	attrCurveServer    = "curve_server"
	attrCurveSecretKey = "curve_secretkey"
	attrCurvePublicKey = "curve_publickey"
	attrCurveServerKey = "curve_serverkey"
	attrCurveAllowed   = "curve_allowed_clients"
	attrMaxMsgBytes    = "max_message_bytes"
	attrMaxMsgFrames   = "max_message_frames"
	attrStallDisc      = "stall_disconnect_ms"
)

// Upper bounds of numeric attributes.
const (
	maxIOThreads        = 64
	maxPollMessages     = 1 << 20
	maxTimeoutMs        = math.MaxInt32
	maxSocketBufferSize = math.MaxInt32
	// maxMessageBytes bounds max_message_bytes: frames and messages are
	// counted in 32 bits on the way to the core.
	maxMessageBytes = math.MaxUint32
)

// xsubMinSndHWM is the least ZMQ_SNDHWM of an xsub. An xsub sends only
// subscription messages, and libzmq's XSUB drops those beyond its send
// high-water mark without telling, so it holds at least a burst of this
// many for each publisher (0, unlimited, stays unlimited).
const xsubMinSndHWM = 100000

// Defaults of the message limits.
const (
	defaultMaxMessageBytes  = 64 << 20
	defaultMaxMessageFrames = 1024
)

// config is the decoded body of a socket block.
type config struct {
	Bind, Connect       []string
	LingerMs            int
	SndHWM, RcvHWM      int
	SndBuf, RcvBuf      int
	IPv6                bool
	IOThreads           int
	Immediate           bool
	Framing             string
	PollMaxMessages     int
	Verbose, Verboser   bool
	NoDrop              bool
	SendTimeoutMs       int
	CurveServer         bool
	CurveSecretKey      string
	CurvePublicKey      string
	CurveServerKey      string
	CurveAllowedClients []string
	curveAllowedRawKeys [][]byte
	MaxMessageBytes     int
	MaxMessageFrames    int
	StallDisconnectMs   int
}

// defaultHWMBytes is the default of sndhwm_bytes and rcvhwm_bytes, the
// same as the pure-Go transport's, so that a pipeline validates alike on
// both; only that transport can take another value (transport.CapHWMBytes).
const defaultHWMBytes = 64 << 20

func commonAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: attrBind, Type: schema.ListString, Default: []string{},
			Description: "Endpoints to bind (tcp://host:port, tcp://[v6]:port, ipc://path); port * picks a free one."},
		{Name: attrConnect, Type: schema.ListString, Default: []string{},
			Description: "Endpoints to connect to. At least one of bind and connect must be given."},
		{Name: attrLinger, Type: schema.Number, Default: 500,
			Description: "ZMQ_LINGER in ms: how long unsent messages are kept at close (-1 forever, 0 discard)."},
		{Name: attrSndHWM, Type: schema.Number, Default: 1000,
			Description: "ZMQ_SNDHWM: messages queued per peer for sending (0 = unlimited)."},
		{Name: attrRcvHWM, Type: schema.Number, Default: 1000,
			Description: "ZMQ_RCVHWM: messages queued per peer for receiving (0 = unlimited)."},
		{Name: attrSndHWMBytes, Type: schema.Number, Default: defaultHWMBytes, Capability: transport.CapHWMBytes,
			Description: "Payload bytes queued per peer for sending, beside sndhwm; libzmq counts messages only, so this transport accepts the default alone."},
		{Name: attrRcvHWMBytes, Type: schema.Number, Default: defaultHWMBytes, Capability: transport.CapHWMBytes,
			Description: "Payload bytes queued per peer for receiving, beside rcvhwm; libzmq counts messages only, so this transport accepts the default alone."},
		{Name: attrSndBuf, Type: schema.Number, Default: -1,
			Description: "ZMQ_SNDBUF: kernel send buffer in bytes (-1 = OS default)."},
		{Name: attrRcvBuf, Type: schema.Number, Default: -1,
			Description: "ZMQ_RCVBUF: kernel receive buffer in bytes (-1 = OS default)."},
		{Name: attrIPv6, Type: schema.Bool, Default: false, Capability: transport.CapIPv6,
			Description: "ZMQ_IPV6: allow IPv6 endpoints (dual stack)."},
		{Name: attrIOThreads, Type: schema.Number, Default: 1,
			Description: "ZMQ_IO_THREADS of the socket's context; sockets asking for the same number share one context."},
		{Name: attrImmediate, Type: schema.Bool, Default: false,
			Description: "ZMQ_IMMEDIATE: queue messages only to completed connections."},
	}
}

// limitAttributes bound what a socket reads from its peers.
func limitAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: attrMaxMsgBytes, Type: schema.Number, Default: defaultMaxMessageBytes,
			Description: "Largest message (all frames) read from a peer, in bytes. A peer sending more is disconnected and the message dropped (counted as oversize)."},
		{Name: attrMaxMsgFrames, Type: schema.Number, Default: defaultMaxMessageFrames,
			Description: "Most frames in a message read from a peer. A peer sending more is disconnected and the message dropped (counted as oversize)."},
	}
}

func sourceAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: attrFraming, Type: schema.String, Default: FramingZeek, OneOf: []string{FramingZeek, FramingRaw},
			Description: "zeek: drop (and count as malformed) messages that do not have exactly 4 frames; raw: pass every message."},
		{Name: attrPollMax, Type: schema.Number, Default: 100,
			Description: "In a link, the most messages read from one socket per poll round, so neither direction starves."},
	}
}

func sendTimeoutAttribute() schema.Attribute {
	return schema.Attribute{Name: attrSendTimeout, Type: schema.Number, Default: -1,
		Description: "What to do when the socket refuses a message (HWM reached, or no peer): -1 wait until it is taken, " +
			"0 drop it at once, N wait up to N ms, then drop and drop further refused messages at once until sends succeed again. Drops are counted."}
}

func xpubAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: attrVerbose, Type: schema.Bool, Default: false,
			Description: "ZMQ_XPUB_VERBOSE: pass every subscribe message upstream, repeats included."},
		{Name: attrVerboser, Type: schema.Bool, Default: false,
			Description: "ZMQ_XPUB_VERBOSER: pass every subscribe and unsubscribe message upstream, including those for departed peers."},
		{Name: attrNoDrop, Type: schema.Bool, Default: true,
			Description: "ZMQ_XPUB_NODROP: refuse (rather than silently drop) a message when a subscriber's queue is full."},
		sendTimeoutAttribute(),
		{Name: attrStallDisc, Type: schema.Number, Default: 0,
			Description: "Disconnect a subscriber that stayed stalled (its queue full, not reading) for this many ms; 0 never does."},
	}
}

func curveAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: attrCurveServer, Type: schema.Bool, Default: false, Capability: transport.CapCurve,
			Description: "Act as CURVE server (needs curve_secretkey)."},
		{Name: attrCurveSecretKey, Type: schema.String, Default: "", Capability: transport.CapCurve,
			Description: "Z85 secret key of this socket (server secret key on a server, client secret key on a client)."},
		{Name: attrCurvePublicKey, Type: schema.String, Default: "", Capability: transport.CapCurve,
			Description: "Z85 public key of this socket (client public key on a client)."},
		{Name: attrCurveServerKey, Type: schema.String, Default: "", Capability: transport.CapCurve,
			Description: "Z85 public key of the server; setting it makes this socket a CURVE client."},
		{Name: attrCurveAllowed, Type: schema.ListString, Default: []string{}, Capability: transport.CapCurve,
			Description: "Z85 public keys of the clients a CURVE server accepts (ZAP allow-list); empty accepts any key."},
	}
}

// socketKinds describes every kind the transport offers.
func socketKinds() []transport.SocketKind {
	build := func(extra ...[]schema.Attribute) schema.Schema {
		attrs := commonAttributes()
		for _, e := range extra {
			attrs = append(attrs, e...)
		}
		return schema.Schema{Attributes: append(attrs, curveAttributes()...)}
	}
	return []transport.SocketKind{
		{Kind: KindXSub, Role: transport.RoleSource, Subscriptions: transport.SubsAccepts,
			Description: "XSUB: receives published messages from XPUB/PUB peers and sends subscriptions to them.",
			Schema:      build(sourceAttributes(), limitAttributes())},
		{Kind: KindPull, Role: transport.RoleSource,
			Description: "PULL: receives messages from PUSH peers (fair-queued).",
			Schema:      build(sourceAttributes(), limitAttributes())},
		{Kind: KindXPub, Role: transport.RoleSink, Subscriptions: transport.SubsEmits,
			Description: "XPUB: publishes messages to subscribers and reports their subscriptions.",
			Schema:      build(xpubAttributes(), limitAttributes())},
		{Kind: KindPush, Role: transport.RoleSink,
			Description: "PUSH: sends each message to one PULL peer, round-robin.",
			Schema:      build([]schema.Attribute{sendTimeoutAttribute()})},
	}
}

// parseConfig decodes and validates the JSON body of a socket of the given
// kind. Attributes left out take their defaults. Its error lists every
// problem found.
func parseConfig(kind string, raw []byte, curve bool) (*config, error) {
	c, problems := checkConfig(kind, raw, curve)
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = problemText(p)
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	return c, nil
}

// problemText renders a problem the way Open reports it.
func problemText(p transport.Problem) string {
	switch {
	case p.Attribute == "":
		return p.Message
	case p.Index >= 0:
		return fmt.Sprintf("attribute \"%s[%d]\": %s", p.Attribute, p.Index, p.Message)
	default:
		return fmt.Sprintf("attribute %q: %s", p.Attribute, p.Message)
	}
}

// checkConfig decodes the JSON body of a socket of the given kind and
// makes every check Open makes before it creates anything; it returns the
// configuration (valid only without problems) and every problem found.
func checkConfig(kind string, raw []byte, curve bool) (*config, []transport.Problem) {
	var sk *transport.SocketKind
	for _, k := range socketKinds() {
		if k.Kind == kind {
			sk = &k
			break
		}
	}
	block := func(format string, args ...any) []transport.Problem {
		return []transport.Problem{{Index: -1, Message: fmt.Sprintf(format, args...)}}
	}
	if sk == nil {
		return nil, block("unknown socket kind %q (want one of xsub, pull, xpub, push)", kind)
	}
	body := map[string]any{}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, block("config is not a JSON object: %v", err)
		}
	}
	d := decoder{body: body, schema: &sk.Schema}
	names := make([]string, 0, len(body))
	for name := range body {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := sk.Schema.Lookup(name); !ok {
			d.problem(name, -1, "not an attribute of %s sockets", kind)
		}
	}
	c := &config{
		Bind:                d.strings(attrBind),
		Connect:             d.strings(attrConnect),
		LingerMs:            d.int(attrLinger, -1, maxTimeoutMs),
		SndHWM:              d.int(attrSndHWM, 0, math.MaxInt32),
		RcvHWM:              d.int(attrRcvHWM, 0, math.MaxInt32),
		SndBuf:              d.int(attrSndBuf, -1, maxSocketBufferSize),
		RcvBuf:              d.int(attrRcvBuf, -1, maxSocketBufferSize),
		IPv6:                d.bool(attrIPv6),
		IOThreads:           d.int(attrIOThreads, 1, maxIOThreads),
		Immediate:           d.bool(attrImmediate),
		CurveServer:         d.bool(attrCurveServer),
		CurveSecretKey:      d.string(attrCurveSecretKey),
		CurvePublicKey:      d.string(attrCurvePublicKey),
		CurveServerKey:      d.string(attrCurveServerKey),
		CurveAllowedClients: d.strings(attrCurveAllowed),
		Framing:             FramingRaw,
		SendTimeoutMs:       0,
	}
	if _, ok := sk.Schema.Lookup(attrFraming); ok {
		c.Framing = d.oneOf(attrFraming)
		c.PollMaxMessages = d.int(attrPollMax, 1, maxPollMessages)
	}
	if kind == KindXPub {
		c.Verbose = d.bool(attrVerbose)
		c.Verboser = d.bool(attrVerboser)
		c.NoDrop = d.bool(attrNoDrop)
		c.StallDisconnectMs = d.int(attrStallDisc, 0, maxTimeoutMs)
	}
	if _, ok := sk.Schema.Lookup(attrSendTimeout); ok {
		c.SendTimeoutMs = d.int(attrSendTimeout, -1, maxTimeoutMs)
	}
	if _, ok := sk.Schema.Lookup(attrMaxMsgBytes); ok {
		c.MaxMessageBytes = d.int(attrMaxMsgBytes, 1, maxMessageBytes)
		c.MaxMessageFrames = d.int(attrMaxMsgFrames, 1, math.MaxInt32)
	}
	if len(c.Bind) == 0 && len(c.Connect) == 0 && !d.failed(attrBind) && !d.failed(attrConnect) {
		d.problems = append(d.problems, transport.Problem{Attribute: attrBind, Index: -1,
			Message: fmt.Sprintf("%q and %q: both empty; give at least one endpoint", attrBind, attrConnect)})
	}
	for i, ep := range c.Bind {
		if err := checkEndpoint(ep, true, c.IPv6); err != nil {
			d.problem(attrBind, i, "endpoint %q: %v", ep, err)
		}
	}
	for i, ep := range c.Connect {
		if err := checkEndpoint(ep, false, c.IPv6); err != nil {
			d.problem(attrConnect, i, "endpoint %q: %v", ep, err)
		}
	}
	d.problems = append(d.problems, c.checkCurve(curve)...)
	return c, d.problems
}

// normalizedBinds returns the bind endpoints as Validation.Binds lists
// them: "tcp://host:port" with the host lower-cased as given (IPv6 in
// brackets, "*" the wildcard) and "ipc://path"; endpoints with a wildcard
// port or ipc://* are left out, as they never clash.
func normalizedBinds(binds []string) []string {
	out := []string{}
	for _, ep := range binds {
		scheme, rest, _ := strings.Cut(ep, "://")
		switch scheme {
		case "tcp":
			i := strings.LastIndexByte(rest, ':')
			host, port := strings.ToLower(rest[:i]), rest[i+1:]
			if port == "*" || port == "0" {
				continue
			}
			n, _ := strconv.Atoi(port)
			out = append(out, fmt.Sprintf("tcp://%s:%d", host, n))
		case "ipc":
			if rest != "*" {
				out = append(out, ep)
			}
		}
	}
	return out
}

func (c *config) usesCurve() bool {
	return c.CurveServer || c.CurveSecretKey != "" || c.CurvePublicKey != "" ||
		c.CurveServerKey != "" || len(c.CurveAllowedClients) > 0
}

func (c *config) checkCurve(available bool) []transport.Problem {
	if !c.usesCurve() {
		return nil
	}
	if !available {
		return []transport.Problem{{Index: -1, Message: "CURVE attributes given, but this libzmq was built without CURVE support"}}
	}
	var problems []transport.Problem
	fail := func(attr string, index int, format string, args ...any) {
		problems = append(problems, transport.Problem{Attribute: attr, Index: index, Message: fmt.Sprintf(format, args...)})
	}
	key := func(attr string, index int, v string) []byte {
		if v == "" {
			return nil
		}
		k, err := decodeZ85Key(v)
		if err != nil {
			fail(attr, index, "%v", err)
		}
		return k
	}
	key(attrCurveSecretKey, -1, c.CurveSecretKey)
	key(attrCurvePublicKey, -1, c.CurvePublicKey)
	key(attrCurveServerKey, -1, c.CurveServerKey)
	c.curveAllowedRawKeys = nil
	for i, k := range c.CurveAllowedClients {
		c.curveAllowedRawKeys = append(c.curveAllowedRawKeys, key(attrCurveAllowed, i, k))
	}
	switch {
	case c.CurveServer && c.CurveServerKey != "":
		fail(attrCurveServerKey, -1, "a socket is either a CURVE server or a client, not both (%q is true)", attrCurveServer)
	case c.CurveServer && c.CurveSecretKey == "":
		fail(attrCurveSecretKey, -1, "required when %q is true", attrCurveServer)
	case !c.CurveServer && len(c.CurveAllowedClients) > 0:
		fail(attrCurveAllowed, -1, "only a CURVE server (%q = true) checks client keys", attrCurveServer)
	case !c.CurveServer && c.CurveServerKey == "":
		fail(attrCurveServerKey, -1, "required for a CURVE client (or set %q = true for a server)", attrCurveServer)
	case !c.CurveServer && (c.CurvePublicKey == "" || c.CurveSecretKey == ""):
		attr := attrCurvePublicKey
		if c.CurvePublicKey != "" {
			attr = attrCurveSecretKey
		}
		fail(attr, -1, "%q and %q: both required for a CURVE client", attrCurvePublicKey, attrCurveSecretKey)
	}
	return problems
}

// decoder reads typed attribute values, falling back to schema defaults, and
// collects problems.
type decoder struct {
	body     map[string]any
	schema   *schema.Schema
	problems transport.Problems
}

func (d *decoder) problem(name string, index int, format string, args ...any) {
	d.problems.Addf(name, index, format, args...)
}

// failed reports whether attribute name has a problem.
func (d *decoder) failed(name string) bool {
	return d.problems.Has(name)
}

func (d *decoder) value(name string) any {
	if v, ok := d.body[name]; ok && v != nil {
		return v
	}
	a, _ := d.schema.Lookup(name)
	return a.Default
}

func (d *decoder) fail(name string, v any, format string, args ...any) {
	d.problem(name, -1, "value %s: %s", render(v), fmt.Sprintf(format, args...))
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
		d.fail(name, v, "want a number")
		return 0
	}
	if f != math.Trunc(f) || math.IsInf(f, 0) {
		d.fail(name, v, "want a whole number")
		return 0
	}
	if f < float64(lo) || f > float64(hi) {
		d.fail(name, v, "out of range [%d, %d]", lo, hi)
		return 0
	}
	return int(f)
}

func (d *decoder) bool(name string) bool {
	v := d.value(name)
	b, ok := v.(bool)
	if !ok {
		d.fail(name, v, "want a bool")
	}
	return b
}

func (d *decoder) string(name string) string {
	v := d.value(name)
	s, ok := v.(string)
	if !ok {
		d.fail(name, v, "want a string")
	}
	return s
}

func (d *decoder) oneOf(name string) string {
	s := d.string(name)
	a, _ := d.schema.Lookup(name)
	for _, o := range a.OneOf {
		if s == o {
			return s
		}
	}
	d.fail(name, s, "want one of %s", strings.Join(a.OneOf, ", "))
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
				d.problem(name, i, "value %s: want a list of strings", render(e))
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	d.fail(name, v, "want a list of strings")
	return nil
}

// checkEndpoint validates a tcp:// or ipc:// endpoint the way libzmq will
// read it, so mistakes are reported before any socket exists.
func checkEndpoint(ep string, bind, ipv6 bool) error {
	scheme, rest, ok := strings.Cut(ep, "://")
	if !ok {
		return fmt.Errorf("missing transport; want tcp://host:port or ipc://path")
	}
	switch scheme {
	case "tcp":
		return checkTCP(rest, bind, ipv6)
	case "ipc":
		if rest == "" {
			return fmt.Errorf("empty ipc path")
		}
		if rest == "*" && !bind {
			return fmt.Errorf("ipc://* is only valid for bind")
		}
		// sockaddr_un.sun_path holds 108 bytes including the final NUL.
		if len(rest) > 107 {
			return fmt.Errorf("ipc path is %d bytes long, the limit is 107", len(rest))
		}
		return nil
	default:
		return fmt.Errorf("unsupported transport %q; want tcp or ipc", scheme)
	}
}

func checkTCP(hostport string, bind, ipv6 bool) error {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return fmt.Errorf("missing port")
	}
	host, port := hostport[:i], hostport[i+1:]
	switch {
	case port == "*" || port == "0":
		if !bind {
			return fmt.Errorf("a wildcard port is only valid for bind")
		}
	default:
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("invalid port %q", port)
		}
	}
	if host == "" {
		return fmt.Errorf("missing host")
	}
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return fmt.Errorf("unclosed bracket in host %q", host)
		}
		addr, err := netip.ParseAddr(strings.TrimSuffix(host[1:], "]"))
		if err != nil || !addr.Is6() {
			return fmt.Errorf("invalid IPv6 address %q", host)
		}
		if !ipv6 {
			return fmt.Errorf("IPv6 address %s needs %q = true", host, attrIPv6)
		}
		return nil
	}
	if strings.Contains(host, ":") {
		return fmt.Errorf("IPv6 address %q must be in brackets: tcp://[addr]:port", host)
	}
	if host == "*" {
		if !bind {
			return fmt.Errorf("host * is only valid for bind")
		}
		return nil
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if strings.Trim(host, "0123456789.") == "" {
		return fmt.Errorf("invalid IPv4 address %q", host)
	}
	if err := checkHostname(host); err != nil {
		return err
	}
	// A bind host that is not an interface of this machine is a host
	// name, resolved when the socket is opened (bindEndpoint).
	return nil
}

// bindEndpoint returns the endpoint to hand libzmq for bind endpoint ep:
// libzmq binds to an address or a network interface but does not resolve
// host names, so a name is resolved here (an IPv4 address first unless
// ipv6 allows IPv6).
func bindEndpoint(ctx context.Context, ep string, ipv6 bool) (string, error) {
	rest, ok := strings.CutPrefix(ep, "tcp://")
	if !ok {
		return ep, nil
	}
	i := strings.LastIndexByte(rest, ':')
	host, port := rest[:i], rest[i+1:]
	if host == "*" || strings.HasPrefix(host, "[") || net.ParseIP(host) != nil {
		return ep, nil
	}
	if _, err := net.InterfaceByName(host); err == nil {
		return ep, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return "", fmt.Errorf("resolve %q: %w", host, err)
	}
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			return "tcp://" + a.String() + ":" + port, nil
		}
	}
	for _, a := range addrs {
		if ipv6 && a.Is6() {
			return "tcp://[" + a.String() + "]:" + port, nil
		}
	}
	return "", fmt.Errorf("resolve %q: no IPv4 address (set %q to use IPv6)", host, attrIPv6)
}

// checkHostname checks the syntax of a DNS host name (RFC 1123).
func checkHostname(host string) error {
	if len(host) > 253 {
		return fmt.Errorf("host name %q is longer than 253 characters", host)
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("invalid host name %q: empty or overlong label", host)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("invalid host name %q: a label starts or ends with '-'", host)
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fmt.Errorf("invalid host %q", host)
			}
		}
	}
	return nil
}
