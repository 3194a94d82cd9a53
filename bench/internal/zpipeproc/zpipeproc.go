// Package zpipeproc runs `zpipe run` on a pipeline file as a subprocess
// of a benchmark command: in its own process group, with the tail of its
// output kept for error messages, ready once its metrics endpoint answers.
// It measures the CPU time of zpipe and its plugin subprocesses and stops
// zpipe.
package zpipeproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zpipe/zpipe/internal/cputime"
)

// Config says how to run zpipe.
type Config struct {
	// Bin is the zpipe binary, PluginDir its plugin directory.
	Bin, PluginDir string
	// Pipeline is the pipeline file; Args go after it on the command line
	// (--var, --transport, …).
	Pipeline string
	Args     []string
	// Metrics is the host:port of zpipe's Prometheus endpoint, as the
	// pipeline sets it up: zpipe is ready once it answers.
	Metrics string
	// Log receives zpipe's output too, if not nil.
	Log io.Writer
}

// readyWithin is how long Start waits for the metrics endpoint.
const readyWithin = 30 * time.Second

// stopGrace is how long zpipe gets to exit after SIGTERM.
const stopGrace = 20 * time.Second

// outputTail is how much of zpipe's output a Process keeps.
const outputTail = 64 << 10

// Process is a running `zpipe run`. A goroutine owned by the Process waits
// for it to exit; Stop ends both.
type Process struct {
	cmd        *exec.Cmd
	metricsURL string
	output     *tailBuffer
	exited     chan struct{}
	waitErr    error // set before exited is closed
}

// Start runs `zpipe run --plugin-dir … --status-interval 0 PIPELINE ARGS…`
// and returns once zpipe's metrics endpoint answers 200. ctx bounds the
// start-up only; zpipe runs until Stop.
func Start(ctx context.Context, c Config) (*Process, error) {
	if c.Metrics == "" {
		return nil, errors.New("start zpipe: no metrics endpoint to wait for")
	}
	p := &Process{
		metricsURL: "http://" + c.Metrics + "/metrics",
		output:     &tailBuffer{max: outputTail},
		exited:     make(chan struct{}),
	}
	args := append([]string{"run", "--plugin-dir", c.PluginDir, "--status-interval", "0", c.Pipeline}, c.Args...)
	p.cmd = exec.Command(c.Bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if c.Log != nil {
		p.cmd.Stdout = io.MultiWriter(p.output, c.Log)
		p.cmd.Stderr = p.cmd.Stdout
	}
	// Its own process group, so that plugin subprocesses can be reached if
	// zpipe does not stop them.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Bin, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(ctx); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("zpipe (%s) not ready: %w\nzpipe output:\n%s", strings.Join(p.cmd.Args, " "), err, p.output)
	}
	return p, nil
}

// waitReady polls the metrics endpoint until it answers 200.
func (p *Process) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(readyWithin)
	client := http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(p.metricsURL)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", p.metricsURL, resp.Status)
		}
		select {
		case <-p.exited:
			return fmt.Errorf("zpipe exited: %v", p.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no metrics after %v: %w", readyWithin, err)
		}
	}
}

// PID is zpipe's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// MetricsURL is the URL of zpipe's Prometheus metrics.
func (p *Process) MetricsURL() string { return p.metricsURL }

// Output returns the tail of what zpipe (and its plugins) wrote.
func (p *Process) Output() string { return p.output.String() }

// CPU returns the user+system CPU time used so far by zpipe and every live
// process below it (its plugins), by program.
func (p *Process) CPU() (cputime.Programs, error) { return cputime.Tree(p.PID()) }

// Alive returns an error if zpipe has exited.
func (p *Process) Alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("zpipe exited: %v\nzpipe output:\n%s", p.waitErr, p.output)
	default:
		return nil
	}
}

// Stop sends SIGTERM and waits for zpipe to exit (SIGKILL to its process
// group after stopGrace). It returns an error unless zpipe exited 0 on
// SIGTERM.
func (p *Process) Stop() error {
	select {
	case <-p.exited:
		return fmt.Errorf("zpipe exited early: %v\nzpipe output:\n%s", p.waitErr, p.output)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("terminate zpipe: %w", err)
	}
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("zpipe did not exit cleanly on SIGTERM: %w\nzpipe output:\n%s", p.waitErr, p.output)
		}
		return nil
	case <-time.After(stopGrace):
		// zpipe is still there, so its process group id is still its own.
		_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("zpipe did not exit within %v of SIGTERM; killed\nzpipe output:\n%s", stopGrace, p.output)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
