package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/zpipe/zpipe/core/schema"
)

// Defaults of the telemetry block.
const (
	DefaultServiceName    = "zpipe"
	DefaultPrometheusPath = "/metrics"
	DefaultOTLPProtocol   = "grpc"
	DefaultOTLPInterval   = 10 * time.Second
	DefaultOTLPTimeout    = 10 * time.Second
)

// Block types inside a telemetry block.
const (
	telemetryPrometheusKey = "prometheus"
	telemetryOTLPKey       = "otlp"
)

func telemetrySchema() *schema.Schema {
	return &schema.Schema{Attributes: []schema.Attribute{
		{Name: "service_name", Type: schema.String, Default: DefaultServiceName,
			Description: "OpenTelemetry service.name of this process."},
		{Name: "resource_attributes", Type: schema.MapString, Default: map[string]string{},
			Description: "Extra OpenTelemetry resource attributes."},
		{Name: "zeek_node", Type: schema.String, Default: "",
			Description: "Adds the label node=\"<value>\" to metrics named like Zeek's."},
	}}
}

func prometheusSchema() *schema.Schema {
	return &schema.Schema{Attributes: []schema.Attribute{
		{Name: "listen", Type: schema.String, Required: true,
			Description: "host:port of the scrape endpoint."},
		{Name: "path", Type: schema.String, Default: DefaultPrometheusPath,
			Description: "HTTP path of the metrics."},
	}}
}

func otlpSchema() *schema.Schema {
	return &schema.Schema{Attributes: []schema.Attribute{
		{Name: "endpoint", Type: schema.String, Required: true,
			Description: "Collector endpoint, host:port."},
		{Name: "protocol", Type: schema.String, Default: DefaultOTLPProtocol, OneOf: []string{"grpc", "http"},
			Description: "OTLP protocol."},
		{Name: "insecure", Type: schema.Bool, Default: false,
			Description: "Connect without TLS."},
		{Name: "headers", Type: schema.MapString, Default: map[string]string{},
			Description: "Headers sent with every export."},
		{Name: "interval", Type: schema.Duration, Default: DefaultOTLPInterval.String(),
			Description: "Export interval."},
		{Name: "timeout", Type: schema.Duration, Default: DefaultOTLPTimeout.String(),
			Description: "Timeout of one export."},
	}}
}

// decodeTelemetry decodes a telemetry block. The result holds what could be
// decoded even when there are errors.
func decodeTelemetry(b *hcl.Block, ctx *hcl.EvalContext) (*Telemetry, hcl.Diagnostics) {
	t := &Telemetry{
		ServiceName:        DefaultServiceName,
		ResourceAttributes: map[string]string{},
		DeclRange:          b.DefRange,
	}
	content, remain, diags := b.Body.PartialContent(&hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{{Type: telemetryPrometheusKey}, {Type: telemetryOTLPKey}},
	})
	val, moreDiags := decodeAttributes(remain, telemetrySchema(), ctx, nil)
	diags = append(diags, moreDiags...)
	if val != cty.NilVal {
		if s, ok := stringAttr(val, "service_name"); ok {
			if strings.TrimSpace(s) == "" {
				diags = append(diags, attrError(remain, "service_name", "Invalid service name", "The service_name must not be empty."))
			} else {
				t.ServiceName = s
			}
		}
		if m, ok := stringMapAttr(val, "resource_attributes"); ok {
			t.ResourceAttributes = m
		}
		t.ZeekNode, _ = stringAttr(val, "zeek_node")
	}

	seen := map[string]*hcl.Block{}
	for _, nb := range content.Blocks {
		if prev, dup := seen[nb.Type]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate " + nb.Type + " block",
				Detail:   fmt.Sprintf("Only one %s block is allowed; one is already declared at %s.", nb.Type, prev.DefRange),
				Subject:  nb.DefRange.Ptr(),
			})
			continue
		}
		seen[nb.Type] = nb
		// enabled = false turns an exporter off after checking its block,
		// so that a file can offer one behind a variable.
		enabled := true
		partial, body, moreDiags := nb.Body.PartialContent(enabledSchema)
		diags = append(diags, moreDiags...)
		if attr, ok := partial.Attributes["enabled"]; ok {
			enabled, moreDiags = enabledSetting(attr, ctx)
			diags = append(diags, moreDiags...)
		}
		switch nb.Type {
		case telemetryPrometheusKey:
			p, moreDiags := decodePrometheus(body, ctx)
			diags = append(diags, moreDiags...)
			if enabled {
				t.Prometheus = p
			}
		case telemetryOTLPKey:
			o, moreDiags := decodeOTLP(body, ctx)
			diags = append(diags, moreDiags...)
			if enabled {
				t.OTLP = o
			}
		}
	}
	return t, diags
}

// enabledSchema extracts the enabled attribute of an exporter block.
var enabledSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "enabled"}}}

func decodePrometheus(body hcl.Body, ctx *hcl.EvalContext) (*Prometheus, hcl.Diagnostics) {
	p := &Prometheus{Path: DefaultPrometheusPath}
	val, diags := decodeAttributes(body, prometheusSchema(), ctx, nil)
	if val == cty.NilVal {
		return p, diags
	}
	if listen, ok := stringAttr(val, "listen"); ok {
		if err := checkHostPort(listen); err != nil {
			diags = append(diags, attrError(body, "listen", "Invalid listen address",
				fmt.Sprintf("The listen address must be host:port, like \"127.0.0.1:9090\" or \":9090\": %s.", err)))
		}
		p.Listen = listen
	}
	if path, ok := stringAttr(val, "path"); ok {
		if !strings.HasPrefix(path, "/") {
			diags = append(diags, attrError(body, "path", "Invalid path", "The metrics path must start with \"/\"."))
		}
		p.Path = path
	}
	return p, diags
}

func decodeOTLP(body hcl.Body, ctx *hcl.EvalContext) (*OTLP, hcl.Diagnostics) {
	o := &OTLP{
		Protocol: DefaultOTLPProtocol,
		Headers:  map[string]string{},
		Interval: DefaultOTLPInterval,
		Timeout:  DefaultOTLPTimeout,
	}
	val, diags := decodeAttributes(body, otlpSchema(), ctx, nil)
	if val == cty.NilVal {
		return o, diags
	}
	if ep, ok := stringAttr(val, "endpoint"); ok {
		if strings.TrimSpace(ep) == "" {
			diags = append(diags, attrError(body, "endpoint", "Invalid endpoint", "The OTLP endpoint must not be empty."))
		}
		o.Endpoint = ep
	}
	if p, ok := stringAttr(val, "protocol"); ok {
		o.Protocol = p
	}
	if v := val.GetAttr("insecure"); v.IsKnown() && !v.IsNull() {
		o.Insecure = v.True()
	}
	if m, ok := stringMapAttr(val, "headers"); ok {
		o.Headers = m
	}
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{{"interval", &o.Interval}, {"timeout", &o.Timeout}} {
		s, ok := stringAttr(val, f.name)
		if !ok {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			continue // reported by decodeAttributes
		}
		if d <= 0 {
			diags = append(diags, attrError(body, f.name, "Invalid duration",
				fmt.Sprintf("The %s must be longer than zero.", f.name)))
			continue
		}
		*f.dst = d
	}
	return o, diags
}

// checkHostPort verifies a host:port listen address with a numeric port.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// attrError builds an error diagnostic placed on attribute name of body.
func attrError(body hcl.Body, name, summary, detail string) *hcl.Diagnostic {
	rng := hcldec.SourceRange(body, &hcldec.AttrSpec{Name: name, Type: cty.DynamicPseudoType})
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}

// stringAttr returns a known, non-null string attribute of an object.
func stringAttr(obj cty.Value, name string) (string, bool) {
	if !obj.Type().IsObjectType() || !obj.Type().HasAttribute(name) {
		return "", false
	}
	v := obj.GetAttr(name)
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// stringMapAttr returns a known, non-null map(string) attribute of an object.
func stringMapAttr(obj cty.Value, name string) (map[string]string, bool) {
	if !obj.Type().IsObjectType() || !obj.Type().HasAttribute(name) {
		return nil, false
	}
	v := obj.GetAttr(name)
	if !v.IsWhollyKnown() || v.IsNull() || !v.Type().IsMapType() || v.Type().ElementType() != cty.String {
		return nil, false
	}
	m := make(map[string]string, v.LengthInt())
	for k, e := range v.AsValueMap() {
		if e.IsNull() {
			continue
		}
		m[k] = e.AsString()
	}
	return m, true
}
