package puretransport

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/plugins/transport-purego/puresock"
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
	attrRcvHWM         = "rcvhwm"
	attrSndHWMBytes    = "sndhwm_bytes"
	attrRcvHWMBytes    = "rcvhwm_bytes"
	attrMaxMsgBytes    = "max_message_bytes"
	attrMaxMsgFrames   = "max_message_frames"
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
	attrStallDisc      = "stall_disconnect_ms"
	attrCurveServer    = "curve_server"
	attrCurveSecretKey = "curve_secretkey"
	attrCurvePublicKey = "curve_publickey"
	attrCurveServerKey = "curve_serverkey"
	attrCurveAllowed   = "curve_allowed_clients"
)

// Upper bounds of numeric attributes.
const (
	maxIOThreads        = 64
	maxPollMessages     = 1 << 20
	maxTimeoutMs        = math.MaxInt32
	maxSocketBufferSize = math.MaxInt32
	// maxMessageBytes keeps a message within one batch of the plugin
	// protocol.
	maxMessageBytes  = 1 << 30
	maxMessageFrames = 1 << 20
)

// config is the decoded body of a socket block.
type config struct {
	Bind, Connect       []string
	LingerMs            int
	SndHWM, RcvHWM      int
	SndHWMBytes         int
	RcvHWMBytes         int
	MaxMessageBytes     int
	MaxMessageFrames    int
	StallDisconnectMs   int
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
}

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
		{Name: attrSndHWMBytes, Type: schema.Number, Default: puresock.DefaultHWMBytes, Capability: transport.CapHWMBytes,
			Description: "Payload bytes queued per peer for sending, beside sndhwm (0 = unlimited); a queue below it takes one more message of any size."},
		{Name: attrRcvHWMBytes, Type: schema.Number, Default: puresock.DefaultHWMBytes, Capability: transport.CapHWMBytes,
			Description: "Payload bytes queued per peer for receiving, beside rcvhwm (0 = unlimited); a peer beyond it is not read from until there is room."},
		{Name: attrSndBuf, Type: schema.Number, Default: -1,
			Description: "ZMQ_SNDBUF: kernel send buffer in bytes (-1 = OS default)."},
		{Name: attrRcvBuf, Type: schema.Number, Default: -1,
			Description: "ZMQ_RCVBUF: kernel receive buffer in bytes (-1 = OS default)."},
		{Name: attrIPv6, Type: schema.Bool, Default: false, Capability: transport.CapIPv6,
			Description: "ZMQ_IPV6: allow IPv6 endpoints (dual stack)."},
		{Name: attrIOThreads, Type: schema.Number, Default: 1,
			Description: "ZMQ_IO_THREADS in the cgo transport; accepted for the same pipelines, without effect here (goroutines do the I/O)."},
		{Name: attrImmediate, Type: schema.Bool, Default: false,
			Description: "ZMQ_IMMEDIATE: queue messages only to completed connections."},
	}
}

func sourceAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: attrFraming, Type: schema.String, Default: FramingZeek, OneOf: []string{FramingZeek, FramingRaw},
			Description: "zeek: drop (and count as malformed) messages that do not have exactly 4 frames; raw: pass every message."},
		{Name: attrPollMax, Type: schema.Number, Default: 100,
			Description: "In a link, the most messages read from one socket per poll round (and at most 4 MiB), so neither direction starves."},
	}
}

// limitAttributes bound what a socket reads from one peer.
func limitAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: attrMaxMsgBytes, Type: schema.Number, Default: puresock.DefaultMaxMessageBytes,
			Description: "Largest message read from a peer, in payload bytes; a peer that sends a larger one is disconnected and the message counted (oversize)."},
		{Name: attrMaxMsgFrames, Type: schema.Number, Default: puresock.DefaultMaxMessageFrames,
			Description: "Most frames of a message read from a peer; a peer that sends more is disconnected and the message counted (oversize)."},
	}
}

func sendTimeoutAttribute(description string) schema.Attribute {
	return schema.Attribute{Name: attrSendTimeout, Type: schema.Number, Default: -1, Description: description}
}

func xpubAttributes() []schema.Attribute {
	return []schema.Attribute{
		{Name: attrVerbose, Type: schema.Bool, Default: false,
			Description: "ZMQ_XPUB_VERBOSE: pass every subscribe message upstream, repeats included."},
		{Name: attrVerboser, Type: schema.Bool, Default: false,
			Description: "ZMQ_XPUB_VERBOSER: pass every subscribe and unsubscribe message upstream, including those for departed peers."},
		{Name: attrNoDrop, Type: schema.Bool, Default: true,
			Description: "ZMQ_XPUB_NODROP: wait (send_timeout_ms) for a subscriber whose queue is full; false stalls it at once."},
		sendTimeoutAttribute("How long to wait for a subscriber whose queue is full: -1 until it has room (lossless; every subscriber waits), " +
			"0 not at all, N up to N ms. Then it is stalled: it misses messages, without further waits, until it has read half its queue; " +
			"the others get them. Misses are counted per subscriber."),
		{Name: attrStallDisc, Type: schema.Number, Default: 0,
			Description: "Disconnect a subscriber stalled this many ms, discarding its queue (0 = never)."},
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
			Schema:      build(limitAttributes(), sourceAttributes())},
		{Kind: KindPull, Role: transport.RoleSource,
			Description: "PULL: receives messages from PUSH peers (fair-queued).",
			Schema:      build(limitAttributes(), sourceAttributes())},
		{Kind: KindXPub, Role: transport.RoleSink, Subscriptions: transport.SubsEmits,
			Description: "XPUB: publishes messages to subscribers and reports their subscriptions.",
			Schema:      build(limitAttributes(), xpubAttributes())},
		{Kind: KindPush, Role: transport.RoleSink,
			Description: "PUSH: sends each message to one PULL peer, round-robin.",
			Schema: build([]schema.Attribute{sendTimeoutAttribute("What to do when no peer has room (HWM reached, or no peer): -1 wait until one has, " +
				"0 drop the message at once, N wait up to N ms, then drop it and drop further refused messages at once until sends succeed again. Drops are counted.")})},
	}
}

// parseConfig decodes and checks the JSON body of a socket of the given
// kind, as Open uses it: attributes left out take their defaults. It
// returns every problem found; the config is usable only without any.
func parseConfig(kind string, raw []byte) (*config, []transport.Problem) {
	var sk *transport.SocketKind
	for _, k := range socketKinds() {
		if k.Kind == kind {
			sk = &k
			break
		}
	}
	if sk == nil {
		return nil, []transport.Problem{{Index: -1, Message: fmt.Sprintf("unknown socket kind %q (want one of xsub, pull, xpub, push)", kind)}}
	}
	body := map[string]any{}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, []transport.Problem{{Index: -1, Message: fmt.Sprintf("config is not a JSON object: %v", err)}}
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
		SndHWMBytes:         d.int(attrSndHWMBytes, 0, math.MaxInt32),
		RcvHWMBytes:         d.int(attrRcvHWMBytes, 0, math.MaxInt32),
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
		// A push reads nothing but commands from its peers; the default
		// limits bound them.
		MaxMessageBytes:  puresock.DefaultMaxMessageBytes,
		MaxMessageFrames: puresock.DefaultMaxMessageFrames,
	}
	if _, ok := sk.Schema.Lookup(attrMaxMsgBytes); ok {
		c.MaxMessageBytes = d.int(attrMaxMsgBytes, 1, maxMessageBytes)
		c.MaxMessageFrames = d.int(attrMaxMsgFrames, 1, maxMessageFrames)
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
	if len(c.Bind) == 0 && len(c.Connect) == 0 && !d.failed(attrBind) && !d.failed(attrConnect) {
		d.problem("", -1, "attributes %q and %q: both empty; give at least one endpoint", attrBind, attrConnect)
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
	c.checkCurve(&d)
	return c, d.problems
}

// problemError turns the first of problems into the error Open returns.
func problemError(problems []transport.Problem) error {
	p := problems[0]
	if p.Attribute == "" {
		return errors.New(p.Message)
	}
	return fmt.Errorf("attribute %q: %s", p.Attribute, p.Message)
}

// bindKeys returns the endpoints c binds that could clash with another
// socket's, normalized (puresock.BindKey).
func (c *config) bindKeys() []string {
	var keys []string
	for _, ep := range c.Bind {
		if key, ok := puresock.BindKey(ep, c.IPv6); ok {
			keys = append(keys, key)
		}
	}
	return keys
}

// checkCurve refuses CURVE attributes: CURVE needs a capability this
// transport does not declare, so zpipe's validation rejects them first;
// this is the same check for callers that skip it.
func (c *config) checkCurve(d *decoder) {
	set := []struct {
		name string
		on   bool
	}{
		{attrCurveServer, c.CurveServer},
		{attrCurveSecretKey, c.CurveSecretKey != ""},
		{attrCurvePublicKey, c.CurvePublicKey != ""},
		{attrCurveServerKey, c.CurveServerKey != ""},
		{attrCurveAllowed, len(c.CurveAllowedClients) > 0},
	}
	for _, a := range set {
		if a.on {
			d.problem(a.name, -1, "needs the %q capability, which transport %q does not have", transport.CapCurve, Name)
		}
	}
}

// options translates the config into socket options.
func (c *config) options(kind string) puresock.Options {
	o := puresock.DefaultOptions()
	o.SendHWM, o.RecvHWM = c.SndHWM, c.RcvHWM
	o.SendHWMBytes, o.RecvHWMBytes = c.SndHWMBytes, c.RcvHWMBytes
	o.MaxMessageBytes, o.MaxMessageFrames = int64(c.MaxMessageBytes), c.MaxMessageFrames
	o.Linger = time.Duration(c.LingerMs) * time.Millisecond
	if c.LingerMs < 0 {
		o.Linger = -1
	}
	o.Immediate = c.Immediate
	o.SendBuffer, o.RecvBuffer = c.SndBuf, c.RcvBuf
	o.IPv6 = c.IPv6
	if kind == KindXPub {
		o.XPubVerbose, o.XPubVerboser, o.XPubNoDrop = c.Verbose, c.Verboser, c.NoDrop
		o.StallDisconnect = time.Duration(c.StallDisconnectMs) * time.Millisecond
		o.PeerLabel = zeekNodeID
	}
	return o
}

// decoder reads typed attribute values, falling back to schema defaults,
// and collects the problems it finds.
type decoder struct {
	body     map[string]any
	schema   *schema.Schema
	problems transport.Problems
}

func (d *decoder) value(name string) any {
	if v, ok := d.body[name]; ok && v != nil {
		return v
	}
	a, _ := d.schema.Lookup(name)
	return a.Default
}

// problem records a problem of attribute name (element index of a list,
// or -1).
func (d *decoder) problem(name string, index int, format string, args ...any) {
	d.problems.Addf(name, index, format, args...)
}

// failed reports whether attribute name has a problem already.
func (d *decoder) failed(name string) bool {
	return d.problems.Has(name)
}

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
	for _, o := range a.OneOf {
		if s == o {
			return s
		}
	}
	d.fail(name, -1, s, "want one of %s", strings.Join(a.OneOf, ", "))
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
				d.fail(name, i, v, "want a list of strings")
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	d.fail(name, -1, v, "want a list of strings")
	return nil
}

// checkEndpoint validates a tcp:// or ipc:// endpoint the way the socket
// will read it, so mistakes are reported before any socket exists.
func checkEndpoint(ep string, bind, ipv6 bool) error {
	err := puresock.CheckEndpoint(ep, bind, ipv6)
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "needs the IPv6 option") {
		return fmt.Errorf("IPv6 address needs %q = true", attrIPv6)
	}
	// The caller names the endpoint already.
	return errors.New(strings.TrimPrefix(err.Error(), fmt.Sprintf("endpoint %q: ", ep)))
}
