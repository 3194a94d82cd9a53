// Package telemetry builds zpipe's OpenTelemetry meter provider and its
// exporters: a Prometheus endpoint (on its own registry, with /healthz on the
// same listener) and OTLP over gRPC or HTTP.
//
// Every metric zpipe exports is described once, in Catalog; docs/metrics.md
// documents the same table. The pipeline runtime feeds the metrics through
// RegisterSockets, RegisterPlugins and RegisterPipelines, whose callbacks
// read the current counters at collection time. Counters whose source may
// restart from zero (a transport plugin restarted) stay monotonic.
//
// Zeek's broker counters are rendered in Prometheus exactly as Zeek renders
// them (zeek_cluster_zeromq_proxy_frontend_messages_received_total, …), so
// dashboards built for Zeek's own broker keep working.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Defaults.
const (
	DefaultServiceName    = "zpipe"
	DefaultPrometheusPath = "/metrics"
	// HealthPath answers 200 "ok" on the Prometheus listener.
	HealthPath = "/healthz"
)

// Config configures New. The zero value gives a meter provider without
// exporters.
type Config struct {
	// ServiceName is the resource's service.name; default "zpipe".
	ServiceName string
	// ServiceVersion is the resource's service.version; omitted if empty.
	ServiceVersion string
	// InstanceID is the resource's service.instance.id; default
	// "<hostname>-<pid>", or a random UUID if the host name is unknown.
	InstanceID string
	// ResourceAttributes are added to the resource, next to host.name.
	// ServiceName, ServiceVersion and InstanceID override the service.*
	// keys given here; a service.name given here wins over the default.
	ResourceAttributes map[string]string
	// ZeekNode, if set, is added as attribute node="<ZeekNode>" to the
	// Zeek-named metrics, as Zeek's own telemetry does.
	ZeekNode string
	// Prometheus serves a scrape endpoint; nil means off.
	Prometheus *PrometheusConfig
	// OTLP pushes metrics to a collector; nil means off.
	OTLP *OTLPConfig
}

// PrometheusConfig configures the Prometheus endpoint.
type PrometheusConfig struct {
	// Listen is the "host:port" to listen on; port 0 picks a free one.
	Listen string
	// Path of the metrics; default "/metrics".
	Path string
}

// Telemetry owns the meter provider and the exporters.
type Telemetry struct {
	provider *sdkmetric.MeterProvider
	zeekNode string

	server    *http.Server
	listener  net.Listener
	serveDone chan struct{}
	serveErr  error // written by the serving goroutine before serveDone closes

	shutdownOnce sync.Once
	shutdownErr  error
}

// New builds the meter provider and its exporters and starts the Prometheus
// HTTP server. ctx bounds only the setup; the exporters run until Shutdown.
func New(ctx context.Context, cfg Config) (*Telemetry, error) {
	res, err := buildResource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	opts := []sdkmetric.Option{sdkmetric.WithResource(res)}

	var (
		registry *prometheus.Registry
		promPath string
	)
	if cfg.Prometheus != nil {
		promPath, err = prometheusPath(cfg.Prometheus)
		if err != nil {
			return nil, err
		}
		registry = prometheus.NewRegistry()
		exp, err := otelprom.New(
			otelprom.WithRegisterer(registry),
			otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
			otelprom.WithoutScopeInfo(),
		)
		if err != nil {
			return nil, fmt.Errorf("telemetry: create prometheus exporter: %w", err)
		}
		opts = append(opts, sdkmetric.WithReader(exp))
	}

	if cfg.OTLP != nil {
		reader, err := newOTLPReader(ctx, cfg.OTLP)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdkmetric.WithReader(reader))
	}

	t := &Telemetry{
		provider: sdkmetric.NewMeterProvider(opts...),
		zeekNode: cfg.ZeekNode,
	}
	if registry != nil {
		if err := t.serve(cfg.Prometheus.Listen, promPath, registry); err != nil {
			return nil, errors.Join(err, t.provider.Shutdown(ctx))
		}
	}
	return t, nil
}

func prometheusPath(cfg *PrometheusConfig) (string, error) {
	p := cfg.Path
	if p == "" {
		p = DefaultPrometheusPath
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("telemetry: prometheus path %q must start with \"/\"", p)
	}
	if p == HealthPath {
		return "", fmt.Errorf("telemetry: prometheus path %q is taken by the health check", p)
	}
	return p, nil
}

// serve listens on addr and serves the registry at path plus the health
// check, from a goroutine that Shutdown stops.
func (t *Telemetry) serve(addr, path string, registry *prometheus.Registry) error {
	if addr == "" {
		return errors.New("telemetry: prometheus listen address is empty")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("telemetry: listen for prometheus on %q: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc(HealthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	t.listener = ln
	t.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	t.serveDone = make(chan struct{})
	go func() {
		defer close(t.serveDone)
		if err := t.server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.serveErr = fmt.Errorf("telemetry: serve prometheus on %s: %w", ln.Addr(), err)
		}
	}()
	return nil
}

// MeterProvider returns the provider instruments are created from.
func (t *Telemetry) MeterProvider() metric.MeterProvider {
	return t.provider
}

// ZeekNode returns the configured Zeek node name ("" if none).
func (t *Telemetry) ZeekNode() string {
	return t.zeekNode
}

// PrometheusAddr returns the address the Prometheus endpoint listens on, or
// nil if it is off.
func (t *Telemetry) PrometheusAddr() net.Addr {
	if t.listener == nil {
		return nil
	}
	return t.listener.Addr()
}

// RegisterSockets is RegisterSockets on this provider with the configured
// Zeek node name.
func (t *Telemetry) RegisterSockets(fn func(ctx context.Context) ([]SocketObservation, error)) (Registration, error) {
	return RegisterSockets(t.provider, t.zeekNode, fn)
}

// RegisterPlugins is RegisterPlugins on this provider.
func (t *Telemetry) RegisterPlugins(fn func() []PluginObservation) (Registration, error) {
	return RegisterPlugins(t.provider, fn)
}

// RegisterPipelines is RegisterPipelines on this provider.
func (t *Telemetry) RegisterPipelines(fn func() []PipelineObservation) (Registration, error) {
	return RegisterPipelines(t.provider, fn)
}

// RegisterStages is RegisterStages on this provider with the configured
// Zeek node name.
func (t *Telemetry) RegisterStages(fn func() []StageObservation) (Registration, error) {
	return RegisterStages(t.provider, t.zeekNode, fn)
}

// ForceFlush exports pending OTLP data now.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	if err := t.provider.ForceFlush(ctx); err != nil {
		return fmt.Errorf("telemetry: flush: %w", err)
	}
	return nil
}

// Shutdown exports a last OTLP collection, stops the readers and the HTTP
// server. Later calls return the first call's result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		var errs []error
		if err := t.provider.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("telemetry: shut down meter provider: %w", err))
		}
		if t.server != nil {
			if err := t.server.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("telemetry: stop prometheus server: %w", err))
				_ = t.server.Close()
			}
			<-t.serveDone
			if t.serveErr != nil {
				errs = append(errs, t.serveErr)
			}
		}
		t.shutdownErr = errors.Join(errs...)
	})
	return t.shutdownErr
}

// buildResource describes this process: service.*, host.name and the
// configured attributes. It reads no environment variables.
func buildResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	vals := make(map[string]string, len(cfg.ResourceAttributes)+3)
	vals[string(semconv.ServiceNameKey)] = DefaultServiceName
	for k, v := range cfg.ResourceAttributes {
		if k == "" {
			return nil, errors.New("telemetry: resource attribute with empty key")
		}
		vals[k] = v
	}
	if cfg.ServiceName != "" {
		vals[string(semconv.ServiceNameKey)] = cfg.ServiceName
	}
	if cfg.ServiceVersion != "" {
		vals[string(semconv.ServiceVersionKey)] = cfg.ServiceVersion
	}
	if cfg.InstanceID != "" {
		vals[string(semconv.ServiceInstanceIDKey)] = cfg.InstanceID
	} else if _, ok := vals[string(semconv.ServiceInstanceIDKey)]; !ok {
		vals[string(semconv.ServiceInstanceIDKey)] = defaultInstanceID()
	}
	attrs := make([]attribute.KeyValue, 0, len(vals))
	for k, v := range vals {
		attrs = append(attrs, attribute.String(k, v))
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithHost(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry: build resource: %w", err)
	}
	return res, nil
}

func defaultInstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return uuid.NewString()
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}
