package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zpipe/zpipe/core/plugin/internal/slogbridge"
	"github.com/zpipe/zpipe/core/plugin/internal/wire"
	pb "github.com/zpipe/zpipe/core/plugin/proto/transportv1"
	"github.com/zpipe/zpipe/core/transport"
)

// DefaultWindow is the flow-control window of receive and send streams when
// their options ask for none: batches the plugin may send ahead of the
// consumer, or batches the core may have unacknowledged.
const DefaultWindow = 4

// Drop reasons the host reports through transport.SendOptions.OnAck for
// batches that were on their way when their stream ended.
const (
	// DropPluginRestart: the plugin process exited with the batch unacknowledged.
	DropPluginRestart = transport.DropPluginRestart
	// DropStreamError: the stream ended with an error or was cancelled.
	DropStreamError = transport.DropStreamError
)

// Backoff paces restarts of a plugin that exited. The delay before a restart
// starts at Initial and doubles with every restart up to Max; it falls back
// to Initial once a plugin has stayed up for ResetAfter.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	ResetAfter time.Duration
}

// Defaults of Backoff and HostConfig.
const (
	DefaultBackoffInitial    = 100 * time.Millisecond
	DefaultBackoffMax        = 10 * time.Second
	DefaultBackoffResetAfter = 30 * time.Second
	DefaultStartTimeout      = 30 * time.Second
)

// HostConfig configures StartTransport.
type HostConfig struct {
	// Path is the plugin executable.
	Path string
	// Name names the plugin in logs and errors; default: Path's file name.
	Name string
	// Logger receives the host's log and the plugin's: go-plugin's own
	// messages, the plugin's log records and anything it writes to stdout or
	// stderr. Default: slog.Default().
	Logger *slog.Logger
	// Backoff paces restarts; zero fields take the defaults.
	Backoff Backoff
	// StartTimeout bounds one start of the plugin, handshake included.
	StartTimeout time.Duration
	// OnRestart, if set, is called after every restart, once the new
	// process has re-created the sockets and links. attempt counts the start
	// attempts the restart took (1 when the first one worked); err says why
	// the previous process ended. It is called from the host's supervising
	// goroutine and should return quickly.
	OnRestart func(attempt int, err error)
}

// TransportHost runs a transport plugin process and is the core's
// transport.Client for it. It survives the plugin: see the package doc.
type TransportHost struct {
	cfg     HostConfig
	name    string
	sockDir string // holds a directory per plugin process for its socket
	log     *slog.Logger
	stdout  *slogbridge.LineWriter
	stderr  *slogbridge.LineWriter

	ctx    context.Context // ends at Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup // the supervisor

	// ctl serializes calls that change the plugin's sockets and links with
	// the replay of a restart, so none is lost between the two.
	ctl chan struct{}

	mu       sync.Mutex
	gen      *generation   // nil while the plugin is down
	up       chan struct{} // closed once gen is set
	closed   bool
	replay   []replayEntry // open sockets and running links, in call order
	restarts atomic.Uint64

	closeOnce sync.Once
}

// replayEntry is one Open or StartLink call to repeat after a restart.
type replayEntry struct {
	socket *transport.SocketSpec
	link   *transport.LinkSpec
}

var _ transport.Client = (*TransportHost)(nil)

// StartTransport starts the transport plugin at cfg.Path and returns once
// it has completed the handshake. ctx bounds the start only; the plugin runs
// until Shutdown. A plugin that fails to start (missing binary, not a zpipe
// plugin, wrong protocol version) is an error, not retried.
func StartTransport(ctx context.Context, cfg HostConfig) (*TransportHost, error) {
	if cfg.Path == "" {
		return nil, errors.New("start transport plugin: no path given")
	}
	if cfg.Name == "" {
		cfg.Name = filepath.Base(cfg.Path)
	}
	if err := checkExecutable(cfg.Path); err != nil {
		return nil, fmt.Errorf("start transport plugin %s: %w", cfg.Name, err)
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With("plugin", cfg.Name)
	stdout, stderr := outputWriters(log)
	h := &TransportHost{
		cfg:    cfg,
		name:   cfg.Name,
		log:    log,
		stdout: stdout,
		stderr: stderr,
		ctl:    make(chan struct{}, 1),
		up:     make(chan struct{}),
	}

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start transport plugin %s: %w", cfg.Name, err)
	}
	timeout := cfg.StartTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	sockDir, err := os.MkdirTemp("", "zpipe-plugin-")
	if err != nil {
		return nil, fmt.Errorf("start transport plugin %s: %w", cfg.Name, err)
	}
	h.sockDir = sockDir
	g, err := h.launch(timeout)
	if err == nil && ctx.Err() != nil {
		g.stop()
		err = ctx.Err()
	}
	if err != nil {
		_ = os.RemoveAll(sockDir)
		return nil, fmt.Errorf("start transport plugin %s: %w", cfg.Name, err)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.gen = g
	close(h.up)
	h.log.Debug("transport plugin started", "path", cfg.Path, "pid", g.pid)
	h.wg.Add(1)
	go h.supervise(g)
	return h, nil
}

// withDefaults fills in the defaults of the fields left zero (Name is set
// by the caller, which knows the path).
func (cfg HostConfig) withDefaults() HostConfig {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Backoff.Initial <= 0 {
		cfg.Backoff.Initial = DefaultBackoffInitial
	}
	if cfg.Backoff.Max <= 0 {
		cfg.Backoff.Max = DefaultBackoffMax
	}
	if cfg.Backoff.Max < cfg.Backoff.Initial {
		cfg.Backoff.Max = cfg.Backoff.Initial
	}
	if cfg.Backoff.ResetAfter <= 0 {
		cfg.Backoff.ResetAfter = DefaultBackoffResetAfter
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	return cfg
}

// outputWriters returns the writers that turn a plugin's stdout and stderr
// into log records.
func outputWriters(log *slog.Logger) (stdout, stderr *slogbridge.LineWriter) {
	stdout = slogbridge.NewLineWriter(func(line string) {
		log.Info(line, "stream", "stdout")
	})
	stderr = slogbridge.NewLineWriter(func(line string) {
		log.Info(line, "stream", "stderr")
	})
	return stdout, stderr
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", path)
	}
	return nil
}

// Restarts returns how many times the plugin was restarted.
func (h *TransportHost) Restarts() uint64 { return h.restarts.Load() }

// Up reports whether the plugin process is running and serving, as opposed
// to restarting or shut down.
func (h *TransportHost) Up() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen != nil
}

// PID returns the process id of the running plugin, or 0 while it is down.
func (h *TransportHost) PID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == nil {
		return 0
	}
	return h.gen.pid
}

// Shutdown stops the plugin process and its supervision. Later calls fail
// with ErrHostClosed; streams in progress end. Shutdown is idempotent. (The
// name Close belongs to transport.Client, where it closes one socket.)
func (h *TransportHost) Shutdown() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		g := h.gen
		h.gen = nil
		h.mu.Unlock()
		h.cancel()
		h.wg.Wait()
		if g != nil {
			g.stop()
			h.log.Debug("transport plugin stopped", "pid", g.pid)
		}
		_ = os.RemoveAll(h.sockDir)
		h.stdout.Flush()
		h.stderr.Flush()
	})
	return nil
}

// current returns the running plugin, waiting while it restarts.
func (h *TransportHost) current(ctx context.Context) (*generation, error) {
	for {
		h.mu.Lock()
		closed, g, up := h.closed, h.gen, h.up
		h.mu.Unlock()
		if closed {
			return nil, ErrHostClosed
		}
		if g != nil {
			return g, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the plugin to restart: %w", ctx.Err())
		case <-h.ctx.Done():
			return nil, ErrHostClosed
		}
	}
}

// lossGrace bounds how long a call that found the plugin unreachable waits
// for the supervisor to see the process exit before trying again.
const lossGrace = 2 * time.Second

// settle waits after a call to g failed because the plugin was unreachable:
// until the supervisor has seen g's process exit, or for lossGrace should the
// process live on with a broken connection.
func (h *TransportHost) settle(ctx context.Context, g *generation) error {
	t := time.NewTimer(lossGrace)
	defer t.Stop()
	select {
	case <-g.dead:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	case <-h.ctx.Done():
		return ErrHostClosed
	}
	return nil
}

// call runs a stateless RPC on the running plugin, again on the next one if
// the plugin went away during the call.
func (h *TransportHost) call(ctx context.Context, rpc func(*generation) error) error {
	for {
		g, err := h.current(ctx)
		if err != nil {
			return err
		}
		err = rpc(g)
		if err == nil || !isUnavailable(err) || ctx.Err() != nil {
			return err
		}
		if err := h.settle(ctx, g); err != nil {
			return err
		}
	}
}

// control runs an RPC that changes the plugin's sockets or links, then
// record with its outcome, both under ctl so that a restart replays either
// the state before the call or the state after it.
func (h *TransportHost) control(ctx context.Context, rpc func(*generation) error, record func(error)) error {
	for {
		g, err := h.current(ctx)
		if err != nil {
			return err
		}
		if err := h.lockCtl(ctx); err != nil {
			return err
		}
		h.mu.Lock()
		still := h.gen == g
		h.mu.Unlock()
		if !still {
			h.unlockCtl()
			continue
		}
		err = rpc(g)
		lost := err != nil && isUnavailable(err) && ctx.Err() == nil
		if !lost {
			h.mu.Lock()
			record(err)
			h.mu.Unlock()
		}
		h.unlockCtl()
		if !lost {
			return err
		}
		if err := h.settle(ctx, g); err != nil {
			return err
		}
	}
}

func (h *TransportHost) lockCtl(ctx context.Context) error {
	select {
	case h.ctl <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-h.ctx.Done():
		return ErrHostClosed
	}
}

func (h *TransportHost) unlockCtl() { <-h.ctl }

// Describe implements transport.Client. The schemas the plugin reports are
// checked; a broken one is an error naming the plugin and the attribute.
func (h *TransportHost) Describe(ctx context.Context) (*transport.Description, error) {
	var resp *pb.DescribeResponse
	err := h.call(ctx, func(g *generation) error {
		r, err := g.rpc.Describe(ctx, &pb.DescribeRequest{})
		resp = r
		return fromStatus(err)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: describe: %w", h.name, err)
	}
	return wire.DescriptionFromProto(h.name, resp)
}

// Open implements transport.Client. The socket is re-created after a
// restart until Close.
func (h *TransportHost) Open(ctx context.Context, spec transport.SocketSpec) error {
	spec.Config = slices.Clone(spec.Config)
	err := h.control(ctx, func(g *generation) error {
		_, err := g.rpc.OpenSocket(ctx, &pb.OpenSocketRequest{Id: spec.ID, Kind: spec.Kind, ConfigJson: spec.Config})
		return fromStatus(err)
	}, func(err error) {
		if err == nil {
			h.replay = append(h.replay, replayEntry{socket: &spec})
		}
	})
	if err != nil {
		return fmt.Errorf("%s: open %s socket %q: %w", h.name, spec.Kind, spec.ID, err)
	}
	return nil
}

// Close implements transport.Client.
func (h *TransportHost) Close(ctx context.Context, id string) error {
	err := h.control(ctx, func(g *generation) error {
		_, err := g.rpc.CloseSocket(ctx, &pb.CloseSocketRequest{Id: id})
		return fromStatus(err)
	}, func(error) {
		h.replay = slices.DeleteFunc(h.replay, func(e replayEntry) bool { return e.socket != nil && e.socket.ID == id })
	})
	if err != nil {
		return fmt.Errorf("%s: close socket %q: %w", h.name, id, err)
	}
	return nil
}

// StartLink implements transport.Client. The link is re-created after a
// restart until StopLink.
func (h *TransportHost) StartLink(ctx context.Context, spec transport.LinkSpec) error {
	spec.Sinks = slices.Clone(spec.Sinks)
	err := h.control(ctx, func(g *generation) error {
		_, err := g.rpc.StartLink(ctx, linkRequest(spec))
		return fromStatus(err)
	}, func(err error) {
		if err == nil {
			h.replay = append(h.replay, replayEntry{link: &spec})
		}
	})
	if err != nil {
		return fmt.Errorf("%s: start link %q: %w", h.name, spec.ID, err)
	}
	return nil
}

func linkRequest(spec transport.LinkSpec) *pb.StartLinkRequest {
	return &pb.StartLinkRequest{Id: spec.ID, Source: spec.Source, Sinks: spec.Sinks, TapSubscriptions: spec.TapSubscriptions}
}

// StopLink implements transport.Client.
func (h *TransportHost) StopLink(ctx context.Context, id string) error {
	err := h.control(ctx, func(g *generation) error {
		_, err := g.rpc.StopLink(ctx, &pb.StopLinkRequest{Id: id})
		return fromStatus(err)
	}, func(error) {
		h.replay = slices.DeleteFunc(h.replay, func(e replayEntry) bool { return e.link != nil && e.link.ID == id })
	})
	if err != nil {
		return fmt.Errorf("%s: stop link %q: %w", h.name, id, err)
	}
	return nil
}

// Stats implements transport.Client. Counters start from zero when the
// plugin restarts.
func (h *TransportHost) Stats(ctx context.Context) (*transport.Stats, error) {
	var resp *pb.StatsResponse
	err := h.call(ctx, func(g *generation) error {
		r, err := g.rpc.Stats(ctx, &pb.StatsRequest{})
		resp = r
		return fromStatus(err)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: stats: %w", h.name, err)
	}
	return wire.StatsFromProto(resp), nil
}

// Validate implements transport.Client. A plugin without validation
// answers with an error wrapping errors.ErrUnsupported.
func (h *TransportHost) Validate(ctx context.Context, kind string, config []byte) (*transport.Validation, error) {
	var resp *pb.ValidateSocketResponse
	err := h.call(ctx, func(g *generation) error {
		r, err := g.rpc.ValidateSocket(ctx, &pb.ValidateSocketRequest{Kind: kind, ConfigJson: config})
		resp = r
		return fromStatus(err)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: validate %s socket: %w", h.name, kind, err)
	}
	return wire.ValidationFromProto(resp), nil
}
