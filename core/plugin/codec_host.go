package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/plugin/internal/slogbridge"
	cpb "github.com/zpipe/zpipe/core/plugin/proto/codecv1"
)

// CodecAttempts bounds how often one batch is sent to a codec plugin that
// exits while the batch is in flight. Decoding has no side effects, so a
// batch lost with the plugin is sent again to the next process; a batch
// that is in flight each time the plugin dies is failed rather than retried
// forever.
const CodecAttempts = 3

// CodecHost runs a codec plugin process and is the core's batch.Codec for
// it. Its calls are safe for concurrent use: they share one long-lived
// Decode stream and one Encode stream, with at most DefaultWindow batches
// in flight on each. When the process exits, the host logs why, starts a
// new one with backoff, and sends the batches that were in flight again.
type CodecHost struct {
	cfg     HostConfig
	name    string
	sockDir string // holds a directory per plugin process for its socket
	log     *slog.Logger
	stdout  *slogbridge.LineWriter
	stderr  *slogbridge.LineWriter

	ctx    context.Context // ends at Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup // the supervisor and every stream's response reader

	mu       sync.Mutex
	gen      *codecGeneration // nil while the plugin is down
	up       chan struct{}    // closed once gen is set
	closed   bool
	restarts atomic.Uint64
	nextID   atomic.Uint64

	closeOnce sync.Once
}

var (
	_ batch.Codec    = (*CodecHost)(nil)
	_ batch.Renderer = (*CodecHost)(nil)
	// The codec registry shuts down the codecs it started through it.
	_ interface{ Shutdown() error } = (*CodecHost)(nil)
)

// codecGeneration is one codec plugin process and its streams.
type codecGeneration struct {
	*process
	rpc cpb.CodecClient

	mu      sync.Mutex
	streams [numCodecOps]*codecStream // by codecOp; nil until first used or after ending
}

// StartCodec starts the codec plugin at cfg.Path and returns once it has
// completed the handshake. ctx bounds the start only; the plugin runs until
// Shutdown. A plugin that fails to start (missing binary, not a zpipe codec
// plugin, wrong protocol version) is an error, not retried.
func StartCodec(ctx context.Context, cfg HostConfig) (*CodecHost, error) {
	if cfg.Path == "" {
		return nil, errors.New("start codec plugin: no path given")
	}
	if cfg.Name == "" {
		cfg.Name = filepath.Base(cfg.Path)
	}
	if err := checkExecutable(cfg.Path); err != nil {
		return nil, fmt.Errorf("start codec plugin %s: %w", cfg.Name, err)
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With("plugin", cfg.Name)
	stdout, stderr := outputWriters(log)
	h := &CodecHost{cfg: cfg, name: cfg.Name, log: log, stdout: stdout, stderr: stderr, up: make(chan struct{})}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start codec plugin %s: %w", cfg.Name, err)
	}
	timeout := cfg.StartTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	sockDir, err := os.MkdirTemp("", "zpipe-plugin-")
	if err != nil {
		return nil, fmt.Errorf("start codec plugin %s: %w", cfg.Name, err)
	}
	h.sockDir = sockDir
	g, err := h.launch(timeout)
	if err == nil && ctx.Err() != nil {
		g.stop()
		err = ctx.Err()
	}
	if err != nil {
		_ = os.RemoveAll(sockDir)
		return nil, fmt.Errorf("start codec plugin %s: %w", cfg.Name, err)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.gen = g
	close(h.up)
	h.log.Debug("codec plugin started", "path", cfg.Path, "pid", g.pid)
	h.wg.Add(1)
	go h.supervise(g)
	return h, nil
}

// launch starts one codec plugin process and completes the handshake.
func (h *CodecHost) launch(timeout time.Duration) (*codecGeneration, error) {
	p, raw, err := launchProcess(codecKind(), launchConfig{
		path: h.cfg.Path, parentDir: h.sockDir, log: h.log, stdout: h.stdout, stderr: h.stderr, timeout: timeout,
	})
	if err != nil {
		return nil, err
	}
	rpc, ok := raw.(cpb.CodecClient)
	if !ok {
		p.stop()
		return nil, fmt.Errorf("%s: dispensed %T, not a codec client", h.cfg.Path, raw)
	}
	return &codecGeneration{process: p, rpc: rpc}, nil
}

// Name returns the name the host goes by in logs and errors.
func (h *CodecHost) Name() string { return h.name }

// Restarts returns how many times the plugin was restarted.
func (h *CodecHost) Restarts() uint64 { return h.restarts.Load() }

// Up reports whether the plugin process is running and serving.
func (h *CodecHost) Up() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen != nil
}

// PID returns the process id of the running plugin, or 0 while it is down.
func (h *CodecHost) PID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == nil {
		return 0
	}
	return h.gen.pid
}

// Shutdown stops the plugin process and its supervision; calls in progress
// end with ErrHostClosed, and so do later calls. Shutdown is idempotent.
func (h *CodecHost) Shutdown() error {
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
			h.log.Debug("codec plugin stopped", "pid", g.pid)
		}
		_ = os.RemoveAll(h.sockDir)
		h.stdout.Flush()
		h.stderr.Flush()
	})
	return nil
}

// current returns the running plugin, waiting while it restarts.
func (h *CodecHost) current(ctx context.Context) (*codecGeneration, error) {
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

// settle waits after a call to g failed because the plugin was unreachable:
// until the supervisor has seen g's process exit, or for lossGrace should
// the process live on with a broken connection.
func (h *CodecHost) settle(ctx context.Context, g *codecGeneration) error {
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

// supervise watches the plugin process g and every later one, restarting
// the plugin whenever it exits, until the host is closed.
func (h *CodecHost) supervise(g *codecGeneration) {
	defer h.wg.Done()
	delays := newRestartDelays(h.cfg.Backoff)
	for {
		if !waitExit(h.ctx, g.process) {
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
		h.log.Warn("codec plugin exited; restarting it", "pid", g.pid, "reason", cause.Error(),
			"uptime", uptime.Round(time.Millisecond).String(), "restart_in", delays.peek().String())
		g.stop()
		for attempt := 1; ; attempt++ {
			if !sleepCtx(h.ctx, delays.take()) {
				return
			}
			next, err := h.launch(h.cfg.StartTimeout)
			if err != nil {
				if h.ctx.Err() != nil {
					return
				}
				h.log.Error("codec plugin restart failed", "attempt", attempt, "err", err.Error(), "retry_in", delays.peek().String())
				continue
			}
			h.mu.Lock()
			if h.closed {
				h.mu.Unlock()
				next.stop()
				return
			}
			h.gen = next
			close(h.up)
			h.mu.Unlock()
			n := h.restarts.Add(1)
			h.log.Info("codec plugin restarted", "pid", next.pid, "attempt", attempt, "restarts", n)
			if h.cfg.OnRestart != nil {
				h.cfg.OnRestart(attempt, cause)
			}
			g = next
			break
		}
	}
}

// Describe implements batch.Codec. The description the plugin reports is
// checked; a broken one is an error naming the plugin.
func (h *CodecHost) Describe(ctx context.Context) (*batch.Description, error) {
	for {
		g, err := h.current(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: describe: %w", h.name, err)
		}
		resp, err := g.rpc.Describe(ctx, &cpb.DescribeRequest{})
		if err == nil {
			return codecDescriptionFromProto(h.name, resp)
		}
		if !isUnavailable(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("%s: describe: %w", h.name, fromStatus(err))
		}
		if err := h.settle(ctx, g); err != nil {
			return nil, fmt.Errorf("%s: describe: %w", h.name, err)
		}
	}
}

// Decode implements batch.Codec.
func (h *CodecHost) Decode(ctx context.Context, format string, in *batch.Items, out *batch.Result) error {
	return h.batchOp(ctx, opDecode, format, in, out)
}

// Encode implements batch.Codec.
func (h *CodecHost) Encode(ctx context.Context, format string, in *batch.Items, out *batch.Result) error {
	return h.batchOp(ctx, opEncode, format, in, out)
}

// Render implements batch.Renderer. A plugin that does not render answers
// with an error matching batch.ErrUnsupported.
func (h *CodecHost) Render(ctx context.Context, format, target string, in *batch.Items, out *batch.RenderResult) error {
	resp, err := h.do(ctx, opRender, format, target, in)
	if err != nil {
		return err
	}
	if err := renderResultFromProto(out, resp, in.Len()); err != nil {
		return fmt.Errorf("%s: render %q as %q: plugin sent a malformed response: %w", h.name, format, target, err)
	}
	return nil
}

func (h *CodecHost) batchOp(ctx context.Context, op codecOp, format string, in *batch.Items, out *batch.Result) error {
	resp, err := h.do(ctx, op, format, "", in)
	if err != nil {
		return err
	}
	if err := resultFromProto(out, resp, in.Len()); err != nil {
		return fmt.Errorf("%s: %s %q: plugin sent a malformed response: %w", h.name, op, format, err)
	}
	return nil
}

// codecOp tells the streams apart.
type codecOp int

const (
	opDecode codecOp = iota
	opEncode
	opRender
	numCodecOps
)

func (op codecOp) String() string {
	switch op {
	case opDecode:
		return "decode"
	case opEncode:
		return "encode"
	}
	return "render"
}

// do sends one batch on the op stream of the running plugin and returns
// the answer, sending it again to the next process if the plugin exits
// meanwhile (at most CodecAttempts times in all). A response with a
// failure of the whole request is an error.
func (h *CodecHost) do(ctx context.Context, op codecOp, format, target string, in *batch.Items) (*cpb.CodecResponse, error) {
	wrap := func(err error) error { return fmt.Errorf("%s: %s %q: %w", h.name, op, format, err) }
	if err := in.Validate(); err != nil {
		return nil, wrap(err)
	}
	req := &cpb.CodecRequest{Id: h.nextID.Add(1), Format: format, Target: target, Items: &cpb.Items{}}
	itemsToProto(req.Items, in)
	for losses := 0; ; {
		g, err := h.current(ctx)
		if err != nil {
			return nil, wrap(err)
		}
		st, err := h.stream(g, op)
		if err != nil {
			if !isUnavailable(err) || ctx.Err() != nil {
				return nil, wrap(err)
			}
			// Nothing was sent: the plugin is going away; wait for the next.
			if err := h.settle(ctx, g); err != nil {
				return nil, wrap(err)
			}
			continue
		}
		resp, err := st.roundTrip(ctx, req)
		if err == nil {
			if resp.GetCode() != 0 {
				return nil, wrap(&CodecError{RemoteError{Code: codesOf(resp.GetCode()), Message: resp.GetMessage()}})
			}
			return resp, nil
		}
		var se *streamEnd
		switch {
		case ctx.Err() != nil:
			return nil, wrap(ctx.Err())
		case errors.As(err, &se) && se.retry:
			continue // another caller aborted the shared stream; send on a new one
		case errors.As(err, &se) && se.lost:
			losses++
			if losses >= CodecAttempts {
				return nil, wrap(fmt.Errorf("the plugin exited %d times while the batch was in flight", losses))
			}
			h.log.Info("codec plugin lost with a batch in flight; sending it to the next process", "op", op.String(), "format", format)
			if err := h.settle(ctx, g); err != nil {
				return nil, wrap(err)
			}
		default:
			return nil, wrap(err)
		}
	}
}

// stream returns the op stream of g, opening it if there is none.
func (h *CodecHost) stream(g *codecGeneration, op codecOp) (*codecStream, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if st := g.streams[op]; st != nil {
		return st, nil
	}
	sctx, cancel := context.WithCancel(h.ctx)
	open := g.rpc.Decode
	switch op {
	case opEncode:
		open = g.rpc.Encode
	case opRender:
		open = g.rpc.Render
	}
	stream, err := open(sctx)
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	// The reader joins the host's wait group unless Shutdown has begun,
	// which would wait for the group before the reader was counted.
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		cancel()
		return nil, ErrHostClosed
	}
	h.wg.Add(1)
	h.mu.Unlock()
	st := newCodecStream(stream, cancel, DefaultWindow)
	g.streams[op] = st
	go func() {
		defer h.wg.Done()
		st.readResponses(func(err error) *streamEnd { return h.classifyEnd(g, st, err) })
		g.mu.Lock()
		if g.streams[op] == st {
			g.streams[op] = nil
		}
		g.mu.Unlock()
	}()
	return st, nil
}

// classifyEnd says what the end of stream st on plugin g means for the
// batches in flight on it.
func (h *CodecHost) classifyEnd(g *codecGeneration, st *codecStream, err error) *streamEnd {
	switch {
	case st.wasAborted():
		return &streamEnd{retry: true, err: errStreamAborted}
	case h.ctx.Err() != nil:
		return &streamEnd{err: ErrHostClosed}
	case isUnavailable(err) || g.isDead() || errors.Is(err, errStreamClosedByPlugin):
		return &streamEnd{lost: true, err: fmt.Errorf("codec stream lost with the plugin: %w", err)}
	}
	return &streamEnd{err: fromStatus(err)}
}
