package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/zpipe/zpipe/bench/internal/cload"
	"github.com/zpipe/zpipe/bench/internal/stats"
	"github.com/zpipe/zpipe/bench/internal/zpipeproc"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	"github.com/zpipe/zpipe/internal/cputime"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// noProgress is how long a run may go without conn.log growing before it
// fails.
const noProgress = 30 * time.Second

// pollEvery is how often conn.log's size is looked at during a run.
const pollEvery = time.Millisecond

// logger is one variant's running zpipe, its load generator and its
// conn.log.
type logger struct {
	v    variant
	proc *zpipeproc.Process
	pull string
	file string // conn.log
	push *cload.Pusher
	msgs map[*load]*cload.Message
	// logFile receives zpipe's output too (-zpipe-log); nil if not.
	logFile *os.File
}

func startLogger(ctx context.Context, o options, v variant, dir string) (_ *logger, err error) {
	ports, err := brokerproc.FreePorts(2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	logDir := filepath.Join(dir, v.name)
	metrics := "127.0.0.1:" + strconv.Itoa(ports[1])
	l := &logger{
		v:    v,
		pull: "tcp://127.0.0.1:" + strconv.Itoa(ports[0]),
		file: filepath.Join(logDir, "conn.log"),
		msgs: map[*load]*cload.Message{},
	}
	cfg := zpipeproc.Config{
		Bin:       o.zpipe.Bin,
		PluginDir: o.zpipe.PluginDir,
		Pipeline:  o.pipeline,
		Args: append([]string{
			"--var", "listen_log_endpoint=" + l.pull,
			"--var", "log_dir=" + logDir,
			"--var", "log_format=" + o.format,
			"--var", "metrics_listen=" + metrics,
		}, v.args...),
		Metrics: metrics,
	}
	if v.bin != "" {
		cfg.Bin, cfg.PluginDir = filepath.Join(v.bin, "zpipe"), v.bin
	}
	if o.zpipeLog != "" {
		f, openErr := os.OpenFile(o.zpipeLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if openErr != nil {
			return nil, fmt.Errorf("-zpipe-log: %w", openErr)
		}
		defer func() {
			if err != nil {
				f.Close()
			}
		}()
		l.logFile, cfg.Log = f, f
	}
	if l.proc, err = zpipeproc.Start(ctx, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	if l.push, err = cload.NewPusher(l.pull); err != nil {
		_ = l.proc.Stop()
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	return l, nil
}

// stop closes the load generator and stops zpipe.
func (l *logger) stop() error {
	l.push.Close()
	for _, m := range l.msgs {
		m.Free()
	}
	err := l.proc.Stop()
	if l.logFile != nil {
		err = errors.Join(err, l.logFile.Close())
	}
	if err != nil {
		return fmt.Errorf("%s: %w", l.v.name, err)
	}
	return nil
}

// runResult is one timed run.
type runResult struct {
	records int
	elapsed time.Duration
	// cpu is zpipe's CPU time (plugin subprocesses included) during the
	// run, cpuBy the same by program, loadCPU this process's (the load
	// generator and the poller).
	cpu, loadCPU time.Duration
	cpuBy        cputime.Programs
}

func (r runResult) recordsPerSecond() float64 { return float64(r.records) / r.elapsed.Seconds() }

func (r runResult) cpuMicros() float64 { return stats.MicrosPer(r.cpu, r.records) }

func (r runResult) loadCPUMicros() float64 { return stats.MicrosPer(r.loadCPU, r.records) }

// measure empties conn.log, sends batches messages of ld and times them
// from the first send until conn.log holds all their records, then checks
// the file byte for byte. The first call on a logger also checks the
// header zpipe writes when it creates the file.
func (l *logger) measure(ctx context.Context, ld *load, batches int) (runResult, error) {
	m := l.msgs[ld]
	if m == nil {
		var err error
		if m, err = cload.NewMessage(ld.frames); err != nil {
			return runResult{}, err
		}
		l.msgs[ld] = m
	}
	want := int64(batches) * int64(len(ld.lines))
	header := false
	switch err := os.Truncate(l.file, 0); {
	case errors.Is(err, os.ErrNotExist):
		// The first batch creates the file, header first.
		header = !ld.json
		if header {
			want += int64(len(zeekascii.AppendHeader(nil, ld.batch, time.Now())))
		}
	case err != nil:
		return runResult{}, fmt.Errorf("empty conn.log: %w", err)
	}
	cpu0, err := l.proc.CPU()
	if err != nil {
		return runResult{}, err
	}
	self0 := cputime.Self()

	sendCtx, cancelSend := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var sendErr error
	defer func() {
		cancelSend()
		wg.Wait()
	}()
	start := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		sendErr = l.push.Send(sendCtx, m, uint64(batches))
	}()

	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var size int64
	progressAt := start
	for size < want {
		select {
		case <-ctx.Done():
			return runResult{}, ctx.Err()
		case <-tick.C:
		}
		if err := l.proc.Alive(); err != nil {
			return runResult{}, err
		}
		st, err := os.Stat(l.file)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return runResult{}, err
		}
		if err == nil && st.Size() > size {
			size, progressAt = st.Size(), time.Now()
		} else if time.Since(progressAt) > noProgress {
			return runResult{}, fmt.Errorf("stuck: conn.log holds %d of %d bytes, no growth for %v\nzpipe output:\n%s", size, want, noProgress, l.proc.Output())
		}
	}
	elapsed := time.Since(start)
	cpu1, err := l.proc.CPU()
	if err != nil {
		return runResult{}, err
	}
	self1 := cputime.Self()
	cancelSend()
	wg.Wait()
	if sendErr != nil && !errors.Is(sendErr, context.Canceled) {
		return runResult{}, fmt.Errorf("load: %w", sendErr)
	}
	data, err := os.ReadFile(l.file)
	if err != nil {
		return runResult{}, err
	}
	if err := ld.check(data, batches, header); err != nil {
		return runResult{}, err
	}
	by := cpu1.Sub(cpu0)
	return runResult{records: batches * ld.records, elapsed: elapsed, cpu: by.Total(), cpuBy: by, loadCPU: self1 - self0}, nil
}
