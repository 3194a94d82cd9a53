package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/zpipe/zpipe/core/plugin/internal/slogbridge"
	pb "github.com/zpipe/zpipe/core/plugin/proto/transportv1"
)

// exitPollInterval is how often the supervisor checks whether the plugin
// process has exited. go-plugin records the exit but offers no channel.
const exitPollInterval = 50 * time.Millisecond

// process is one running plugin process, of any kind.
type process struct {
	client  *goplugin.Client
	cmd     *exec.Cmd
	pid     int
	started time.Time
	// sockDir holds the process's gRPC Unix socket; removed once it ended.
	sockDir string
	// dead is closed by the supervisor once it has seen the process exit.
	dead chan struct{}
}

// generation is one transport plugin process.
type generation struct {
	*process
	rpc pb.TransportClient
}

// stop kills the process if it still runs and removes its socket directory.
func (p *process) stop() {
	p.client.Kill()
	_ = os.RemoveAll(p.sockDir)
}

// exitReason tells how the process ended. Only valid once it has exited.
func (p *process) exitReason() error {
	if ps := p.cmd.ProcessState; ps != nil {
		return fmt.Errorf("plugin process %d ended: %s", p.pid, ps.String())
	}
	return fmt.Errorf("plugin process %d ended", p.pid)
}

// isDead reports whether the supervisor has seen the process exit.
func (p *process) isDead() bool {
	select {
	case <-p.dead:
		return true
	default:
		return false
	}
}

// pluginKind is what the launcher needs to know about a kind of plugin.
type pluginKind struct {
	// name is the kind in messages: "transport", "codec".
	name      string
	handshake goplugin.HandshakeConfig
	plugins   goplugin.PluginSet
	// dispense is the name the plugin's client is dispensed under.
	dispense string
}

// launchConfig is where and how one plugin process runs.
type launchConfig struct {
	path string
	// parentDir holds a directory per process for its socket, so that what
	// a crashed process leaves behind is cleaned up.
	parentDir      string
	log            *slog.Logger
	stdout, stderr io.Writer
	timeout        time.Duration
}

// launchProcess starts one plugin process and completes the handshake; it
// returns the process and the client dispensed from it.
func launchProcess(k pluginKind, lc launchConfig) (*process, any, error) {
	sockDir, err := os.MkdirTemp(lc.parentDir, "proc-")
	if err != nil {
		return nil, nil, fmt.Errorf("make socket directory: %w", err)
	}
	cmd := exec.Command(lc.path)
	cmd.Env = []string{goplugin.EnvUnixSocketDir + "=" + sockDir}
	setParentDeathSignal(cmd)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  k.handshake,
		Plugins:          k.plugins,
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           slogbridge.LibraryLogger(lc.log),
		SyncStdout:       lc.stdout,
		SyncStderr:       lc.stderr,
		StartTimeout:     lc.timeout,
	})
	fail := func(err error) (*process, any, error) {
		client.Kill()
		_ = os.RemoveAll(sockDir)
		return nil, nil, err
	}
	proto, err := client.Client()
	if err != nil {
		return fail(fmt.Errorf("%s: %w (is it a zpipe %s plugin of protocol version %d?)",
			lc.path, err, k.name, k.handshake.ProtocolVersion))
	}
	raw, err := proto.Dispense(k.dispense)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", lc.path, err))
	}
	return &process{
		client:  client,
		cmd:     cmd,
		pid:     cmd.Process.Pid,
		started: time.Now(),
		sockDir: sockDir,
		dead:    make(chan struct{}),
	}, raw, nil
}

// transportKind describes transport plugins to the launcher.
func transportKind() pluginKind {
	return pluginKind{name: "transport", handshake: TransportHandshake(), plugins: transportPluginSet(nil), dispense: transportPluginName}
}

// launch starts one transport plugin process and completes the handshake.
func (h *TransportHost) launch(timeout time.Duration) (*generation, error) {
	p, raw, err := launchProcess(transportKind(), launchConfig{
		path: h.cfg.Path, parentDir: h.sockDir, log: h.log, stdout: h.stdout, stderr: h.stderr, timeout: timeout,
	})
	if err != nil {
		return nil, err
	}
	rpc, ok := raw.(pb.TransportClient)
	if !ok {
		p.stop()
		return nil, fmt.Errorf("%s: dispensed %T, not a transport client", h.cfg.Path, raw)
	}
	return &generation{process: p, rpc: rpc}, nil
}

// supervise watches the plugin process g and every later one, restarting
// the plugin whenever it exits, until the host is closed.
func (h *TransportHost) supervise(g *generation) {
	defer h.wg.Done()
	delays := newRestartDelays(h.cfg.Backoff)
	for {
		if !h.waitExit(g) {
			return
		}
		cause := g.exitReason()
		uptime := time.Since(g.started)
		h.mu.Lock()
		if h.gen == g {
			h.gen = nil
			h.up = make(chan struct{})
		}
		h.mu.Unlock()
		close(g.dead)
		delays.exited(uptime)
		h.log.Warn("transport plugin exited; restarting it", "pid", g.pid, "reason", cause.Error(),
			"uptime", uptime.Round(time.Millisecond).String(), "restart_in", delays.peek().String())
		g.stop() // releases go-plugin's resources for the dead process
		for attempt := 1; ; attempt++ {
			if !h.sleep(delays.take()) {
				return
			}
			next, err := h.restart()
			if errors.Is(err, ErrHostClosed) {
				return
			}
			if err != nil {
				h.log.Error("transport plugin restart failed", "attempt", attempt, "err", err.Error(), "retry_in", delays.peek().String())
				continue
			}
			n := h.restarts.Add(1)
			h.log.Info("transport plugin restarted", "pid", next.pid, "attempt", attempt, "restarts", n)
			if h.cfg.OnRestart != nil {
				h.cfg.OnRestart(attempt, cause)
			}
			g = next
			break
		}
	}
}

// restartDelays paces restarts: the delay doubles with every restart, up to
// the maximum, and falls back to the initial delay after a plugin stayed up
// long enough.
type restartDelays struct {
	cfg  Backoff
	next time.Duration
}

func newRestartDelays(cfg Backoff) *restartDelays {
	return &restartDelays{cfg: cfg, next: cfg.Initial}
}

// exited records that a plugin exited after running for uptime.
func (d *restartDelays) exited(uptime time.Duration) {
	if uptime >= d.cfg.ResetAfter {
		d.next = d.cfg.Initial
	}
}

// peek returns the delay before the next restart attempt.
func (d *restartDelays) peek() time.Duration { return d.next }

// take returns the delay before the next restart attempt and doubles it.
func (d *restartDelays) take() time.Duration {
	cur := d.next
	d.next = min(2*cur, d.cfg.Max)
	return cur
}

// waitExit waits for g's process to exit; false when the host closed first.
func (h *TransportHost) waitExit(g *generation) bool { return waitExit(h.ctx, g.process) }

// waitExit waits for p to exit; false when ctx ended first.
func waitExit(ctx context.Context, p *process) bool {
	t := time.NewTicker(exitPollInterval)
	defer t.Stop()
	for !p.client.Exited() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// sleep waits d; false when the host closed first.
func (h *TransportHost) sleep(d time.Duration) bool { return sleepCtx(h.ctx, d) }

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// restart starts a new plugin process, re-creates the open sockets and
// running links in their original order and makes the process current.
func (h *TransportHost) restart() (*generation, error) {
	g, err := h.launch(h.cfg.StartTimeout)
	if err != nil {
		return nil, err
	}
	if err := h.lockCtl(h.ctx); err != nil {
		g.stop()
		return nil, ErrHostClosed
	}
	defer h.unlockCtl()
	h.mu.Lock()
	entries := append([]replayEntry(nil), h.replay...)
	h.mu.Unlock()
	for _, e := range entries {
		if err := h.replayOne(g, e); err != nil {
			g.stop()
			if h.ctx.Err() != nil {
				return nil, ErrHostClosed
			}
			return nil, err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		g.stop()
		return nil, ErrHostClosed
	}
	h.gen = g
	close(h.up)
	return g, nil
}

func (h *TransportHost) replayOne(g *generation, e replayEntry) error {
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.StartTimeout)
	defer cancel()
	switch {
	case e.socket != nil:
		s := e.socket
		_, err := g.rpc.OpenSocket(ctx, &pb.OpenSocketRequest{Id: s.ID, Kind: s.Kind, ConfigJson: s.Config})
		if err != nil {
			return fmt.Errorf("re-open %s socket %q: %w", s.Kind, s.ID, fromStatus(err))
		}
	case e.link != nil:
		if _, err := g.rpc.StartLink(ctx, linkRequest(*e.link)); err != nil {
			return fmt.Errorf("restart link %q: %w", e.link.ID, fromStatus(err))
		}
	}
	return nil
}
