package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/transport"
)

// testSchemas serves schemas resembling those of the transport plugins and
// the built-in stages. Real transports are separate processes, tested with
// their own packages; here only their schemas matter.
type testSchemas struct{}

// testTransports maps transport names to their capabilities.
var testTransports = map[string][]string{
	"cgo":    {transport.CapTCP, transport.CapIPC, transport.CapIPv6, transport.CapLink, transport.CapCurve},
	"purego": {transport.CapTCP, transport.CapIPC},
}

type testSocket struct {
	role string
	subs string
	more []schema.Attribute
}

var testSockets = map[string]testSocket{
	"xsub": {role: transport.RoleSource, subs: transport.SubsAccepts},
	"xpub": {role: transport.RoleSink, subs: transport.SubsEmits, more: []schema.Attribute{
		{Name: "verboser", Type: schema.Bool, Default: false},
		{Name: "nodrop", Type: schema.Bool, Default: false},
	}},
	"pull": {role: transport.RoleSource},
	"push": {role: transport.RoleSink},
}

var testStages = map[string]schema.Schema{
	"filter": {Attributes: []schema.Attribute{
		{Name: "prefixes", Type: schema.ListString, Required: true},
	}},
	"queue": {Attributes: []schema.Attribute{
		{Name: "capacity", Type: schema.Number, Default: 1000},
		{Name: "policy", Type: schema.String, Default: "drop_newest", OneOf: []string{"drop_newest", "drop_oldest", "block"}},
		{Name: "flush", Type: schema.Duration, Default: "1s"},
	}},
	"hello": {},
}

func socketSchema(more []schema.Attribute) schema.Schema {
	attrs := []schema.Attribute{
		{Name: "bind", Type: schema.ListString, Default: []string{}},
		{Name: "connect", Type: schema.ListString, Default: []string{}},
		{Name: "linger_ms", Type: schema.Number, Default: 0},
		{Name: "sndhwm", Type: schema.Number, Default: 1000},
		{Name: "rcvhwm", Type: schema.Number, Default: 1000},
		{Name: "framing", Type: schema.String, Default: "zeek", OneOf: []string{"zeek", "raw"}},
		{Name: "reconnect_interval", Type: schema.Duration, Default: "100ms"},
		{Name: "curve_server", Type: schema.Bool, Default: false, Capability: transport.CapCurve},
		{Name: "curve_secretkey", Type: schema.String, Default: "", Capability: transport.CapCurve},
	}
	return schema.Schema{Attributes: append(attrs, more...)}
}

func (testSchemas) Component(tr, class, kind string) (*Component, error) {
	if class == ClassStage {
		if tr != "" {
			return nil, fmt.Errorf("stage asked with transport %q", tr)
		}
		s, ok := testStages[kind]
		if !ok {
			return nil, fmt.Errorf("no stage kind %q", kind)
		}
		return &Component{Schema: s}, nil
	}
	caps, ok := testTransports[tr]
	if !ok {
		return nil, fmt.Errorf("transport plugin %q not found", "zpipe-transport-"+tr)
	}
	sock, ok := testSockets[kind]
	if !ok {
		return nil, fmt.Errorf("transport %q has no socket kind %q", tr, kind)
	}
	if sock.role != class {
		return nil, fmt.Errorf("socket kind %q is a %s, not a %s", kind, sock.role, class)
	}
	return &Component{
		Schema:        socketSchema(sock.more),
		Subscriptions: sock.subs,
		Capabilities:  slices.Clone(caps),
	}, nil
}

// schemaWithBadDefault fails schema.Schema.Check.
func schemaWithBadDefault() schema.Schema {
	return schema.Schema{Attributes: []schema.Attribute{{Name: "hwm", Type: schema.Number, Default: "many"}}}
}

// ValidateSocket implements SocketValidator as a transport would, with a
// few of its checks: endpoints are tcp:// or ipc://; linger_ms is -1 or
// more; an xsub takes no raw framing; a CURVE server has a secret key of
// 40 characters (the message quotes it, as a transport's might). Binds are the valid bind endpoints as written. Transport
// "purego" does not validate, and linger_ms = 4242 makes the check fail.
func (testSchemas) ValidateSocket(tr, kind string, config []byte) (*transport.Validation, error) {
	if tr == "purego" {
		return nil, fmt.Errorf("transport %s: validate: %w", tr, errors.ErrUnsupported)
	}
	var cfg struct {
		Bind, Connect  []string
		LingerMs       float64 `json:"linger_ms"`
		CurveServer    bool    `json:"curve_server"`
		Framing        string
		CurveSecretkey string `json:"curve_secretkey"`
	}
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, err
	}
	if cfg.LingerMs == 4242 {
		return nil, errors.New("the plugin went away")
	}
	v := &transport.Validation{}
	problem := func(attr string, index int, format string, args ...any) {
		v.Problems = append(v.Problems, transport.Problem{Attribute: attr, Index: index, Message: fmt.Sprintf(format, args...)})
	}
	endpoints := func(attr string, list []string, bind bool) {
		for i, ep := range list {
			if !strings.HasPrefix(ep, "tcp://") && !strings.HasPrefix(ep, "ipc://") {
				problem(attr, i, "endpoint %q: unsupported transport; want tcp or ipc", ep)
			} else if bind {
				v.Binds = append(v.Binds, ep)
			}
		}
	}
	endpoints("bind", cfg.Bind, true)
	endpoints("connect", cfg.Connect, false)
	if cfg.LingerMs < -1 {
		problem("linger_ms", -1, "%v is below -1", cfg.LingerMs)
	}
	if cfg.CurveServer && cfg.CurveSecretkey == "" {
		problem("curve_secretkey", -1, "a CURVE server needs a secret key")
	}
	if kind == "xsub" && cfg.Framing == "raw" {
		problem("", -1, "an xsub needs zeek framing")
	}
	if k := cfg.CurveSecretkey; k != "" && len(k) != 40 {
		problem("curve_secretkey", -1, "%q is not a 40-character Z85 key", k)
	}
	return v, nil
}
