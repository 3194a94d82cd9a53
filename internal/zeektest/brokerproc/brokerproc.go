// Package brokerproc starts a central XPUB/XSUB broker (zpipe, or the
// reference zmq_proxy) as a subprocess on free loopback ports, waits until it
// forwards subscriptions, measures its CPU time, and stops it.
package brokerproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/prometheus/procfs"

	"github.com/zpipe/zpipe/internal/cputime"
)

// Kind names a broker implementation.
type Kind string

// Broker kinds.
const (
	// Zpipe is zpipe's broker pipeline on its default transport (cgo).
	Zpipe Kind = "zpipe"
	// ZpipePurego is the same pipeline with --transport purego.
	ZpipePurego Kind = "zpipe-purego"
	// ZmqProxy is libzmq's zmq_proxy set up as Zeek's broker.
	ZmqProxy Kind = "zmqproxy"
)

// IsZpipe says whether k is one of zpipe's brokers (on any transport).
func (k Kind) IsZpipe() bool { return k == Zpipe || k == ZpipePurego }

// Endpoints are where a broker listens.
type Endpoints struct {
	// XSub is the broker's XSUB endpoint; nodes' XPUB sockets connect here.
	XSub string
	// XPub is the broker's XPUB endpoint; nodes' XSUB sockets connect here.
	XPub string
	// Metrics is host:port of the broker's metrics endpoint, if it has one.
	Metrics string
}

// Command says how to run a broker.
type Command struct {
	Kind Kind
	// Path is the executable.
	Path string
	// Args returns the command-line arguments for the given endpoints.
	Args func(Endpoints) []string
	// Metrics says whether the broker serves metrics (a port is reserved).
	Metrics bool
	// Env is added to the environment of the broker.
	Env []string
	// Curve, when set, makes the readiness probe a CURVE client with these
	// keys, for brokers whose sockets are CURVE servers.
	Curve *CurveClient
}

// CurveClient holds the Z85 keys of a CURVE client.
type CurveClient struct {
	ServerKey, PublicKey, SecretKey string
}

// ZpipeCommand runs `zpipe run --plugin-dir pluginDir pipeline --var …`
// with the endpoint variables of pipelines/zeek-broker.hcl, and extra
// arguments after them (e.g. "--transport", "purego").
func ZpipeCommand(bin, pluginDir, pipeline string, extra ...string) Command {
	return Command{
		Kind:    Zpipe,
		Path:    bin,
		Metrics: true,
		Args: func(ep Endpoints) []string {
			args := []string{"run", "--plugin-dir", pluginDir, pipeline,
				"--var", "listen_xsub_endpoint=" + ep.XSub,
				"--var", "listen_xpub_endpoint=" + ep.XPub,
				"--var", "metrics_listen=" + ep.Metrics,
			}
			return append(args, extra...)
		},
	}
}

// ZmqProxyCommand runs the reference broker (bench/cmd/zmqproxy, or any
// program taking -xsub and -xpub) at path; prefix goes before the flags,
// e.g. a subcommand name.
func ZmqProxyCommand(path string, prefix ...string) Command {
	return Command{
		Kind: ZmqProxy,
		Path: path,
		Args: func(ep Endpoints) []string {
			return append(append([]string(nil), prefix...), "-xsub", ep.XSub, "-xpub", ep.XPub)
		},
	}
}

// Process is a running broker. A goroutine owned by the Process waits for
// it to exit; Stop ends both.
type Process struct {
	cmd    Command
	ep     Endpoints
	proc   *exec.Cmd
	output *tailBuffer
	exited chan struct{}
	// waitErr is set before exited is closed.
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// probeRetry is how long the readiness probe waits for the echo of one
// subscription before it sends another.
const probeRetry = time.Second

// startAttempts bounds retries when a free port was taken between picking
// it and the broker binding it.
const startAttempts = 3

// Start runs the broker on free loopback ports and returns once it echoes a
// probe subscription, i.e. once both its sockets work. ctx bounds the
// start-up only; the broker runs until Stop.
func Start(ctx context.Context, cmd Command) (*Process, error) {
	if cmd.Path == "" || cmd.Args == nil {
		return nil, fmt.Errorf("start %s broker: no executable or arguments", cmd.Kind)
	}
	var errs []error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		p, err := startOnce(ctx, cmd)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
		var bindErr *portInUseError
		if !errors.As(err, &bindErr) || ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

type portInUseError struct{ err error }

func (e *portInUseError) Error() string { return e.err.Error() }
func (e *portInUseError) Unwrap() error { return e.err }

func startOnce(ctx context.Context, cmd Command) (*Process, error) {
	n := 2
	if cmd.Metrics {
		n = 3
	}
	ports, err := FreePorts(n)
	if err != nil {
		return nil, fmt.Errorf("start %s broker: %w", cmd.Kind, err)
	}
	ep := Endpoints{
		XSub: "tcp://127.0.0.1:" + strconv.Itoa(ports[0]),
		XPub: "tcp://127.0.0.1:" + strconv.Itoa(ports[1]),
	}
	if cmd.Metrics {
		ep.Metrics = "127.0.0.1:" + strconv.Itoa(ports[2])
	}
	p := &Process{cmd: cmd, ep: ep, output: newTailBuffer(256 << 10), exited: make(chan struct{})}
	p.proc = exec.Command(cmd.Path, cmd.Args(ep)...)
	p.proc.Stdout = p.output
	p.proc.Stderr = p.output
	p.proc.Env = append(os.Environ(), cmd.Env...)
	// Its own process group, so that Stop reaches plugin subprocesses too.
	p.proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.proc.Start(); err != nil {
		return nil, fmt.Errorf("start %s broker %s: %w", cmd.Kind, cmd.Path, err)
	}
	go func() {
		p.waitErr = p.proc.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(ctx); err != nil {
		_ = p.Stop()
		err = fmt.Errorf("start %s broker (%s): %w; output:\n%s", cmd.Kind, p.commandLine(), err, p.Output())
		if looksLikePortInUse(p.Output()) {
			return nil, &portInUseError{err}
		}
		return nil, err
	}
	return p, nil
}

func looksLikePortInUse(output string) bool {
	o := strings.ToLower(output)
	return strings.Contains(o, "address already in use") || strings.Contains(o, "address in use")
}

// FreePorts returns n distinct TCP ports free on 127.0.0.1 right now.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitReady probes until the broker echoes a subscription, the broker exits,
// or ctx ends.
func (p *Process) waitReady(ctx context.Context) error {
	ready := make(chan error, 1)
	probeCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { ready <- probe(probeCtx, p.ep, p.cmd.Curve) }()
	select {
	case err := <-ready:
		return err
	case <-p.exited:
		cancel()
		<-ready
		return fmt.Errorf("exited before it was ready: %v", p.waitErr)
	}
}

// Probe connects to a broker's two endpoints, subscribes to a unique topic
// and returns once the broker has echoed the subscription back, proving that
// both sockets accept connections and forward subscriptions.
func Probe(ctx context.Context, ep Endpoints) error {
	return probe(ctx, ep, nil)
}

func probe(ctx context.Context, ep Endpoints, curve *CurveClient) error {
	zctx, err := zmq.NewContext()
	if err != nil {
		return fmt.Errorf("probe: zmq context: %w", err)
	}
	var socks []*zmq.Socket
	defer func() {
		for _, s := range socks {
			_ = s.Close()
		}
		_ = zctx.Term()
	}()
	open := func(t zmq.Type, connect string) (*zmq.Socket, error) {
		s, err := zctx.NewSocket(t)
		if err != nil {
			return nil, fmt.Errorf("probe: %v socket: %w", t, err)
		}
		socks = append(socks, s)
		if err := s.SetLinger(0); err != nil {
			return nil, fmt.Errorf("probe: linger: %w", err)
		}
		if curve != nil {
			for _, err := range []error{s.SetCurveServerkey(curve.ServerKey), s.SetCurvePublickey(curve.PublicKey), s.SetCurveSecretkey(curve.SecretKey)} {
				if err != nil {
					return nil, fmt.Errorf("probe: curve keys: %w", err)
				}
			}
		}
		if err := s.Connect(connect); err != nil {
			return nil, fmt.Errorf("probe: connect %s: %w", connect, err)
		}
		return s, nil
	}
	xsub, err := open(zmq.XSUB, ep.XPub)
	if err != nil {
		return err
	}
	xpub, err := open(zmq.XPUB, ep.XSub)
	if err != nil {
		return err
	}
	if err := xpub.SetRcvtimeo(100 * time.Millisecond); err != nil {
		return fmt.Errorf("probe: receive timeout: %w", err)
	}
	// A subscription sent while the broker is still handshaking with the
	// probe's sockets can be held back by libzmq until the broker's next
	// socket call; a fresh topic every probeRetry does not depend on it.
	var sent [][]byte
	var last time.Time
	for {
		if time.Since(last) >= probeRetry {
			topic := fmt.Sprintf("zpipe.probe.%d.%d.", os.Getpid(), time.Now().UnixNano())
			sub := append([]byte{1}, topic...)
			if _, err := xsub.SendBytes(sub, 0); err != nil {
				return fmt.Errorf("probe: subscribe: %w", err)
			}
			sent, last = append(sent, sub), time.Now()
		}
		msg, err := xpub.RecvBytes(0)
		switch {
		case err == nil && slices.ContainsFunc(sent, func(s []byte) bool { return bytes.Equal(s, msg) }):
			return nil
		case err != nil && zmq.AsErrno(err) != zmq.Errno(syscall.EAGAIN):
			return fmt.Errorf("probe: receive: %w", err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("probe: no echo of %d subscriptions from %s/%s: %w", len(sent), ep.XPub, ep.XSub, ctx.Err())
		}
	}
}

// Kind returns the broker kind.
func (p *Process) Kind() Kind { return p.cmd.Kind }

// Endpoints returns where the broker listens.
func (p *Process) Endpoints() Endpoints { return p.ep }

// PID returns the broker's process id.
func (p *Process) PID() int { return p.proc.Process.Pid }

// Exited is closed when the broker process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Output returns the tail of what the broker wrote to stdout and stderr.
func (p *Process) Output() string { return p.output.String() }

func (p *Process) commandLine() string {
	return strings.Join(append([]string{p.cmd.Path}, p.cmd.Args(p.ep)...), " ")
}

// CPUTime returns the user+system CPU time used so far by the broker and
// every live process below it (plugin subprocesses).
func (p *Process) CPUTime() (time.Duration, error) {
	progs, err := cputime.Tree(p.PID())
	if err != nil {
		return 0, err
	}
	return progs.Total(), nil
}

// stopGrace is how long a broker gets to exit after SIGTERM.
const stopGrace = 10 * time.Second

// Stop sends SIGTERM to the broker, waits for it to exit (SIGKILL after a
// grace period), and then ends what is left of its process group (plugin
// subprocesses), by process id. It returns an error if the broker exited
// early, failed to exit cleanly, or had to be killed.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Process) stop() error {
	pgid := p.PID()
	var errs []error
	select {
	case <-p.exited:
		if p.waitErr != nil {
			errs = append(errs, fmt.Errorf("%s broker exited early: %w", p.cmd.Kind, p.waitErr))
		}
	default:
		if err := p.proc.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("terminate %s broker: %w", p.cmd.Kind, err))
		}
		select {
		case <-p.exited:
			if p.waitErr != nil {
				errs = append(errs, fmt.Errorf("%s broker did not exit cleanly on SIGTERM: %w", p.cmd.Kind, p.waitErr))
			}
		case <-time.After(stopGrace):
			errs = append(errs, fmt.Errorf("%s broker did not exit within %v of SIGTERM; killed", p.cmd.Kind, stopGrace))
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.exited
		}
	}
	// Kill leftovers of the group one by one: once its leader is gone the
	// group id could be reused, so never signal the group blindly.
	deadline := time.Now().Add(stopGrace)
	for {
		left := groupMembers(pgid)
		if len(left) == 0 {
			break
		}
		sig := syscall.SIGTERM
		if time.Now().After(deadline) {
			sig = syscall.SIGKILL
		}
		for _, pid := range left {
			_ = syscall.Kill(pid, sig)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.Join(errs...)
}

// groupMembers lists the live processes of process group pgid, the group
// the broker was started in.
func groupMembers(pgid int) []int {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return nil
	}
	var out []int
	for _, pr := range procs {
		st, err := pr.Stat()
		if err != nil || st.PGRP != pgid || st.State == "Z" {
			continue
		}
		out = append(out, st.PID)
	}
	return out
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	dropped int
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.dropped += over
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped > 0 {
		return fmt.Sprintf("[%d earlier bytes not kept]\n%s", b.dropped, b.buf)
	}
	return string(b.buf)
}
