// Package engine ties zpipe together: it starts the transport plugins a
// configuration names, serves their schemas to the config loader, and runs
// the pipelines with telemetry until the context ends.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/builtin"
	"github.com/zpipe/zpipe/core/transport"
)

// Engine owns the plugin processes of one zpipe invocation.
type Engine struct {
	pluginDirs []string
	logger     *slog.Logger
	stages     *stage.Registry

	mu         sync.Mutex
	transports map[string]*plugin.TransportHost
	descs      map[string]*transport.Description
	codecs     *registry.Registry
}

// New returns an engine that looks for plugins in pluginDirs, in order.
func New(pluginDirs []string, logger *slog.Logger) *Engine {
	if logger == nil {
		logger = slog.Default()
	}
	stages, err := builtin.Registry()
	if err != nil {
		// The built-in kinds are checked by their own tests.
		panic(fmt.Sprintf("built-in stages: %v", err))
	}
	return &Engine{
		pluginDirs: pluginDirs,
		logger:     logger,
		stages:     stages,
		transports: make(map[string]*plugin.TransportHost),
		descs:      make(map[string]*transport.Description),
	}
}

// Stages returns the stage kinds the engine knows.
func (e *Engine) Stages() *stage.Registry { return e.stages }

// Codecs returns the registry of the codec plugins in the plugin
// directories, made on first use; each plugin starts when a format it
// announces is first needed.
func (e *Engine) Codecs() *registry.Registry {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.codecs == nil {
		sources, err := plugin.CodecSources(e.pluginDirs, plugin.HostConfig{Logger: e.logger})
		if err != nil {
			e.logger.Warn("plugin directories could not all be read", "err", err.Error())
		}
		e.codecs = registry.New(e.logger, sources...)
	}
	return e.codecs
}

// startedCodecs returns the codec registry if one was made, else nil,
// without making one.
func (e *Engine) startedCodecs() *registry.Registry {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.codecs
}

// Transport starts (once) and returns the transport plugin called name.
func (e *Engine) Transport(ctx context.Context, name string) (*plugin.TransportHost, *transport.Description, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if h, ok := e.transports[name]; ok {
		return h, e.descs[name], nil
	}
	path, err := plugin.Find("transport", name, e.pluginDirs)
	if err != nil {
		return nil, nil, err
	}
	h, err := plugin.StartTransport(ctx, plugin.HostConfig{
		Path:   path,
		Name:   "transport-" + name,
		Logger: e.logger,
		OnRestart: func(attempt int, err error) {
			e.logger.Warn("transport plugin restarted", "plugin", "transport-"+name, "attempt", attempt, "cause", err)
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start transport plugin %q (%s): %w", name, path, err)
	}
	desc, err := h.Describe(ctx)
	if err != nil {
		_ = h.Shutdown()
		return nil, nil, fmt.Errorf("describe transport plugin %q (%s): %w", name, path, err)
	}
	e.transports[name] = h
	e.descs[name] = desc
	return h, desc, nil
}

// Component implements config.Schemas: it serves the schema of a source or
// sink kind from its transport plugin.
func (e *Engine) Component(transportName, class, kind string) (*config.Component, error) {
	if k, ok := e.stages.Lookup(class, kind); ok {
		return &config.Component{Schema: k.Schema, Core: true, Validate: k.Validate}, nil
	}
	if class == config.ClassStage {
		return nil, fmt.Errorf("unknown stage kind %q (zpipe has: %s)", kind, strings.Join(e.coreKinds(config.ClassStage), ", "))
	}
	_, desc, err := e.Transport(context.Background(), transportName)
	if err != nil {
		return nil, err
	}
	sk, ok := desc.Socket(kind)
	if !ok || sk.Role != class {
		offers := kindsOf(desc, class)
		if core := e.coreKinds(class); len(core) > 0 {
			offers += "; built into zpipe: " + strings.Join(core, ", ")
		}
		return nil, fmt.Errorf("transport %q has no %s kind %q (it offers: %s)", transportName, class, kind, offers)
	}
	return &config.Component{Schema: sk.Schema, Subscriptions: sk.Subscriptions, Capabilities: desc.Capabilities}, nil
}

// validateTimeout bounds one socket check by a transport plugin.
const validateTimeout = 30 * time.Second

var _ config.SocketValidator = (*Engine)(nil)

// ValidateSocket implements config.SocketValidator: the transport plugin
// checks the socket's configuration as it would when opening it. A plugin
// that does not validate answers with an error wrapping
// errors.ErrUnsupported.
func (e *Engine) ValidateSocket(transportName, kind string, cfg []byte) (*transport.Validation, error) {
	h, _, err := e.Transport(context.Background(), transportName)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), validateTimeout)
	defer cancel()
	return h.Validate(ctx, kind, cfg)
}

// coreKinds returns the names of the built-in kinds of a block class.
func (e *Engine) coreKinds(class string) []string {
	var out []string
	for _, k := range e.stages.Kinds(class) {
		out = append(out, k.Name)
	}
	return out
}

func kindsOf(desc *transport.Description, role string) string {
	var ks []string
	for _, s := range desc.Sockets {
		if s.Role == role {
			ks = append(ks, s.Kind)
		}
	}
	sort.Strings(ks)
	if len(ks) == 0 {
		return "none"
	}
	out := ks[0]
	for _, k := range ks[1:] {
		out += ", " + k
	}
	return out
}

// Load parses and validates configuration files, starting the transport
// plugins they name to learn their schemas.
func (e *Engine) Load(paths []string, opts config.Options) (*config.Config, hcl.Diagnostics) {
	return config.Load(paths, opts, e)
}

// Clients returns the running transports by name.
func (e *Engine) Clients() map[string]transport.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := make(map[string]transport.Client, len(e.transports))
	for n, h := range e.transports {
		m[n] = h
	}
	return m
}

// Hosts returns the running transport hosts by name.
func (e *Engine) Hosts() map[string]*plugin.TransportHost {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := make(map[string]*plugin.TransportHost, len(e.transports))
	for n, h := range e.transports {
		m[n] = h
	}
	return m
}

// Close stops every plugin process.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for n, h := range e.transports {
		if err := h.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("stop transport plugin %q: %w", n, err))
		}
		delete(e.transports, n)
	}
	if e.codecs != nil {
		if err := e.codecs.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop codec plugins: %w", err))
		}
		e.codecs = nil
	}
	return errors.Join(errs...)
}
