package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// variant is one pipeline measured: the same source and stage, another
// sink.
type variant struct {
	// name is the column/row label.
	name string
	// component is the sink's component label in zpipe's metrics.
	component string
	// counter is the metric of component that counts the messages the
	// sink has handled: the discard sink counts only what it received,
	// the file sink what it wrote (sent).
	counter string
	// otlp: the sink exports to the in-process collector, which says when
	// every record arrived; otherwise the sink's counter does.
	otlp bool
	// sink returns the sink block, given a scratch directory and the
	// collector's address.
	sink func(dir, collector string) string
}

// The variants, in the order they run and are printed. The first is the
// baseline of the first ratio column, the second of the second.
var variants = []variant{
	{
		name:      "discard",
		component: "sink.discard.count",
		counter:   "zpipe_messages_received_total",
		sink:      func(string, string) string { return `sink "discard" "count" {}` },
	},
	{
		name:      "file-json",
		component: "sink.file.logs",
		counter:   "zpipe_messages_sent_total",
		sink: func(dir, _ string) string {
			return fmt.Sprintf(`sink "file" "logs" {
    dir    = %s
    format = "json"
  }`, strconv.Quote(filepath.Join(dir, "logs")))
		},
	},
	{
		name:      "otlp",
		component: "sink.otlp.collector",
		counter:   "zpipe_messages_sent_total",
		otlp:      true,
		sink: func(_, collector string) string {
			// batch_timeout only decides when a partial batch leaves: under
			// load every batch is full (batch_size 512); the short timeout
			// keeps the last partial batch of a run from waiting 1 s.
			return fmt.Sprintf(`sink "otlp" "collector" {
    endpoint      = %s
    insecure      = true
    batch_timeout = "50ms"
  }`, strconv.Quote(collector))
		},
	},
}

// pipelineHCL is the measured pipeline: a PULL source with Zeek framing, a
// blocking hwm stage (backpressure to the source: nothing is dropped, the
// producer is paced by the sink) and the variant's sink.
func pipelineHCL(v variant, pull, metrics, dir, collector string) string {
	return fmt.Sprintf(`# otlpbench: %s
transport = "cgo"

telemetry {
  service_name = "zpipe-otlpbench"
  prometheus {
    listen = %s
  }
}

pipeline "bench" {
  source "pull" "nodes" {
    bind    = [%s]
    framing = "zeek"
  }

  stage "hwm" "queue" {
    capacity = 1000
    policy   = "block"
  }

  %s
}
`, v.name, strconv.Quote(metrics), strconv.Quote(pull), v.sink(dir, collector))
}

// zpipeProc is a running `zpipe run` of one variant's pipeline.
type zpipeProc struct {
	v          variant
	pull       string // tcp://127.0.0.1:PORT of the PULL source
	metricsURL string
	cmd        *exec.Cmd
	output     *tailBuffer
	exited     chan struct{}
	waitErr    error // set before exited is closed
}

// startZpipe writes v's pipeline into dir and runs zpipe on it. It returns
// once the metrics endpoint answers.
func startZpipe(ctx context.Context, o options, v variant, dir, collector string) (*zpipeProc, error) {
	ports, err := brokerproc.FreePorts(2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	pull := "tcp://127.0.0.1:" + strconv.Itoa(ports[0])
	metrics := "127.0.0.1:" + strconv.Itoa(ports[1])
	file := filepath.Join(dir, v.name+".hcl")
	if err := os.WriteFile(file, []byte(pipelineHCL(v, pull, metrics, dir, collector)), 0o644); err != nil {
		return nil, fmt.Errorf("%s: write pipeline: %w", v.name, err)
	}
	p := &zpipeProc{
		v:          v,
		pull:       pull,
		metricsURL: "http://" + metrics + "/metrics",
		output:     &tailBuffer{max: 64 << 10},
		exited:     make(chan struct{}),
	}
	p.cmd = exec.Command(o.zpipe.Bin, "run", "--plugin-dir", o.zpipe.PluginDir, "--status-interval", "0", file)
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	// Its own process group, so that plugin subprocesses can be reached if
	// zpipe does not stop them.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", v.name, o.zpipe.Bin, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitMetrics(ctx, 30*time.Second); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("%s: zpipe (%s) not ready: %w\nzpipe output:\n%s", v.name, strings.Join(p.cmd.Args, " "), err, p.output)
	}
	return p, nil
}

// waitMetrics polls the metrics endpoint until it answers 200.
func (p *zpipeProc) waitMetrics(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
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
			return fmt.Errorf("no metrics after %v: %w", limit, err)
		}
	}
}

// pid is zpipe's process id.
func (p *zpipeProc) pid() int { return p.cmd.Process.Pid }

// stopGrace is how long zpipe gets to exit after SIGTERM.
const stopGrace = 20 * time.Second

// stop sends SIGTERM and waits for zpipe to exit (SIGKILL to its process
// group after stopGrace). It returns an error unless zpipe exited 0.
func (p *zpipeProc) stop() error {
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("%s: zpipe exited early: %w", p.v.name, p.waitErr)
		}
		return fmt.Errorf("%s: zpipe exited early", p.v.name)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: terminate zpipe: %w", p.v.name, err)
	}
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("%s: zpipe did not exit cleanly on SIGTERM: %w\nzpipe output:\n%s", p.v.name, p.waitErr, p.output)
		}
		return nil
	case <-time.After(stopGrace):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("%s: zpipe did not exit within %v of SIGTERM; killed\nzpipe output:\n%s", p.v.name, stopGrace, p.output)
	}
}

// alive returns an error if zpipe has exited.
func (p *zpipeProc) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("zpipe exited: %v\nzpipe output:\n%s", p.waitErr, p.output)
	default:
		return nil
	}
}

// counters are the values of zpipe's metrics this benchmark reads.
type counters struct {
	// handled is the variant's counter (its sink's received or sent
	// total): messages for discard and file, log records for otlp.
	handled float64
	// dropped is zpipe_messages_dropped_total by "component/error.type",
	// every component of the pipeline.
	dropped map[string]float64
}

func (c counters) totalDropped() float64 {
	t := 0.0
	for _, v := range c.dropped {
		t += v
	}
	return t
}

// droppedSince lists the drops that grew since before, for error messages.
func (c counters) droppedSince(before counters) string {
	var parts []string
	for k, v := range c.dropped {
		if d := v - before.dropped[k]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", k, d))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// scrape reads zpipe's Prometheus text and picks out its counters.
func (p *zpipeProc) scrape(client *http.Client) (counters, error) {
	c := counters{dropped: map[string]float64{}}
	resp, err := client.Get(p.metricsURL)
	if err != nil {
		return c, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return c, fmt.Errorf("scrape %s: %w", p.metricsURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("scrape %s: %s", p.metricsURL, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return c, fmt.Errorf("parse metrics from %s: %w", p.metricsURL, err)
	}
	for name, f := range families {
		if name != p.v.counter && name != "zpipe_messages_dropped_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := m.GetCounter().GetValue()
			switch name {
			case p.v.counter:
				if labels["component"] == p.v.component {
					c.handled += v
				}
			case "zpipe_messages_dropped_total":
				reason := labels["error_type"]
				if reason == "" {
					reason = labels["error.type"]
				}
				c.dropped[labels["component"]+"/"+reason] += v
			}
		}
	}
	return c, nil
}

// cpuTime returns the user+system CPU time used so far by zpipe and its
// plugin subprocesses.
func (p *zpipeProc) cpuTime() (time.Duration, error) { return brokerproc.TreeCPUTime(p.pid()) }

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
