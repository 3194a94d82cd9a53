package telemetry

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// OTLP protocols.
const (
	OTLPProtocolGRPC = "grpc"
	OTLPProtocolHTTP = "http"
)

// OTLP defaults.
const (
	DefaultOTLPInterval = 60 * time.Second
	DefaultOTLPTimeout  = 10 * time.Second
	// DefaultOTLPHTTPPath is where OTLP/HTTP metrics are posted unless the
	// endpoint URL names a path.
	DefaultOTLPHTTPPath = "/v1/metrics"
)

// OTLPConfig configures the OTLP metric exporter.
type OTLPConfig struct {
	// Endpoint is "host:port", or a URL "http://host:port[/path]" or
	// "https://…". A URL's scheme decides TLS; for the HTTP protocol its
	// path replaces /v1/metrics.
	Endpoint string
	// Protocol is "grpc" (the default) or "http" (protobuf over HTTP).
	Protocol string
	// Insecure turns TLS off for a "host:port" endpoint.
	Insecure bool
	// Headers are sent with every export (gRPC metadata or HTTP headers).
	Headers map[string]string
	// Interval between exports; default 60 s.
	Interval time.Duration
	// Timeout of one export; default 10 s.
	Timeout time.Duration
}

// otlpTarget is a validated endpoint.
type otlpTarget struct {
	hostPort string
	insecure bool
	path     string // HTTP only; "" = exporter default
}

func parseOTLPEndpoint(endpoint string, insecure bool) (otlpTarget, error) {
	if endpoint == "" {
		return otlpTarget{}, fmt.Errorf("telemetry: otlp endpoint is empty")
	}
	if !strings.Contains(endpoint, "://") {
		if _, _, err := net.SplitHostPort(endpoint); err != nil {
			return otlpTarget{}, fmt.Errorf("telemetry: otlp endpoint %q: want host:port or a URL: %w", endpoint, err)
		}
		return otlpTarget{hostPort: endpoint, insecure: insecure}, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return otlpTarget{}, fmt.Errorf("telemetry: otlp endpoint %q: %w", endpoint, err)
	}
	t := otlpTarget{hostPort: u.Host, insecure: insecure}
	switch u.Scheme {
	case "http":
		t.insecure = true
	case "https":
	default:
		return otlpTarget{}, fmt.Errorf("telemetry: otlp endpoint %q: scheme %q is not http or https", endpoint, u.Scheme)
	}
	if u.Host == "" {
		return otlpTarget{}, fmt.Errorf("telemetry: otlp endpoint %q has no host", endpoint)
	}
	if u.Path != "" && u.Path != "/" {
		t.path = u.Path
	}
	return t, nil
}

// newOTLPReader builds the exporter and the periodic reader driving it.
func newOTLPReader(ctx context.Context, cfg *OTLPConfig) (sdkmetric.Reader, error) {
	target, err := parseOTLPEndpoint(cfg.Endpoint, cfg.Insecure)
	if err != nil {
		return nil, err
	}
	interval, timeout := cfg.Interval, cfg.Timeout
	if interval < 0 || timeout < 0 {
		return nil, fmt.Errorf("telemetry: otlp interval %s and timeout %s must not be negative", interval, timeout)
	}
	if interval == 0 {
		interval = DefaultOTLPInterval
	}
	if timeout == 0 {
		timeout = DefaultOTLPTimeout
	}

	protocol := cfg.Protocol
	if protocol == "" {
		protocol = OTLPProtocolGRPC
	}
	var exp sdkmetric.Exporter
	switch protocol {
	case OTLPProtocolGRPC:
		if target.path != "" {
			return nil, fmt.Errorf("telemetry: otlp endpoint %q: gRPC takes no path", cfg.Endpoint)
		}
		opts := []otlpmetricgrpc.Option{
			otlpmetricgrpc.WithEndpoint(target.hostPort),
			otlpmetricgrpc.WithTimeout(timeout),
		}
		if target.insecure {
			opts = append(opts, otlpmetricgrpc.WithInsecure())
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlpmetricgrpc.WithHeaders(cfg.Headers))
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	case OTLPProtocolHTTP:
		opts := []otlpmetrichttp.Option{
			otlpmetrichttp.WithEndpoint(target.hostPort),
			otlpmetrichttp.WithTimeout(timeout),
		}
		if target.path != "" {
			opts = append(opts, otlpmetrichttp.WithURLPath(target.path))
		}
		if target.insecure {
			opts = append(opts, otlpmetrichttp.WithInsecure())
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlpmetrichttp.WithHeaders(cfg.Headers))
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("telemetry: otlp protocol %q: want %q or %q", cfg.Protocol, OTLPProtocolGRPC, OTLPProtocolHTTP)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: create otlp %s exporter for %s: %w", protocol, cfg.Endpoint, err)
	}
	return sdkmetric.NewPeriodicReader(exp,
		sdkmetric.WithInterval(interval),
		sdkmetric.WithTimeout(timeout),
	), nil
}
