package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"

	"github.com/zpipe/zpipe/core/codec/zeekascii"
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
	proc *zpipeProc
	pull string
	file string // conn.log
	push *pusher
	msgs map[*load]*cMessage
	// logFile receives zpipe's output too (-zpipe-log); nil if not.
	logFile *os.File
}

func startLogger(ctx context.Context, o options, v variant, dir string) (*logger, error) {
	ports, err := brokerproc.FreePorts(2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	logDir := filepath.Join(dir, v.name)
	l := &logger{
		v:    v,
		pull: "tcp://127.0.0.1:" + strconv.Itoa(ports[0]),
		file: filepath.Join(logDir, "conn.log"),
		msgs: map[*load]*cMessage{},
	}
	bin, pluginDir := o.zpipe.Bin, o.zpipe.PluginDir
	if v.bin != "" {
		bin, pluginDir = filepath.Join(v.bin, "zpipe"), v.bin
	}
	args := []string{"run", "--plugin-dir", pluginDir, "--status-interval", "0", o.pipeline,
		"--var", "listen_log_endpoint=" + l.pull,
		"--var", "log_dir=" + logDir,
		"--var", "log_format=" + o.format,
		"--var", "metrics_listen=127.0.0.1:" + strconv.Itoa(ports[1]),
	}
	var log io.Writer
	if o.zpipeLog != "" {
		f, err := os.OpenFile(o.zpipeLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("-zpipe-log: %w", err)
		}
		l.logFile, log = f, f
	}
	if l.proc, err = startZpipe(bin, append(args, v.args...), log); err != nil {
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	if l.push, err = newPusher(l.pull); err != nil {
		_ = l.proc.stop()
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	return l, nil
}

// stop closes the load generator and stops zpipe.
func (l *logger) stop() error {
	l.push.close()
	for _, m := range l.msgs {
		m.free()
	}
	err := l.proc.stop()
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
	cpuBy        map[string]time.Duration
}

func (r runResult) recordsPerSecond() float64 { return float64(r.records) / r.elapsed.Seconds() }

func (r runResult) cpuMicros() float64 { return perRecordMicros(r.cpu, r.records) }

func (r runResult) loadCPUMicros() float64 { return perRecordMicros(r.loadCPU, r.records) }

func perRecordMicros(d time.Duration, records int) float64 {
	if records == 0 {
		return 0
	}
	return float64(d) / float64(time.Microsecond) / float64(records)
}

// measure empties conn.log, sends batches messages of ld and times them
// from the first send until conn.log holds all their records, then checks
// the file byte for byte. The first call on a logger also checks the
// header zpipe writes when it creates the file.
func (l *logger) measure(ctx context.Context, ld *load, batches int) (runResult, error) {
	m := l.msgs[ld]
	if m == nil {
		var err error
		if m, err = newCMessage(ld.frames); err != nil {
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
	cpu0, err := l.proc.cpuTimes()
	if err != nil {
		return runResult{}, err
	}
	self0 := selfCPU()

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
		sendErr = l.push.send(sendCtx, m, uint64(batches))
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
		if err := l.proc.alive(); err != nil {
			return runResult{}, err
		}
		st, err := os.Stat(l.file)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return runResult{}, err
		}
		if err == nil && st.Size() > size {
			size, progressAt = st.Size(), time.Now()
		} else if time.Since(progressAt) > noProgress {
			return runResult{}, fmt.Errorf("stuck: conn.log holds %d of %d bytes, no growth for %v\nzpipe output:\n%s", size, want, noProgress, l.proc.output)
		}
	}
	elapsed := time.Since(start)
	cpu1, err := l.proc.cpuTimes()
	if err != nil {
		return runResult{}, err
	}
	self1 := selfCPU()
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
	res := runResult{records: batches * ld.records, elapsed: elapsed, loadCPU: self1 - self0, cpuBy: map[string]time.Duration{}}
	for name, t := range cpu1 {
		res.cpuBy[name] = t - cpu0[name]
		res.cpu += t - cpu0[name]
	}
	return res, nil
}

// selfCPU returns this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// zpipeProc is a running `zpipe run`.
type zpipeProc struct {
	cmd     *exec.Cmd
	output  *tailBuffer
	exited  chan struct{}
	waitErr error // set before exited is closed
}

// startZpipe runs bin with args; its output goes to log too, if not nil.
func startZpipe(bin string, args []string, log io.Writer) (*zpipeProc, error) {
	p := &zpipeProc{output: &tailBuffer{max: 64 << 10}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if log != nil {
		p.cmd.Stdout = io.MultiWriter(p.output, log)
		p.cmd.Stderr = p.cmd.Stdout
	}
	// Its own process group, so that plugin subprocesses can be reached
	// if zpipe does not stop them.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *zpipeProc) pid() int { return p.cmd.Process.Pid }

// cpuTimes returns the user+system CPU time used so far by zpipe and
// every live process below it (its plugins), summed by program name.
func (p *zpipeProc) cpuTimes() (map[string]time.Duration, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil, fmt.Errorf("cpu time: %w", err)
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("cpu time: %w", err)
	}
	stats := map[int]procfs.ProcStat{}
	names := map[int]string{}
	children := map[int][]int{}
	for _, pr := range procs {
		st, err := pr.Stat()
		if err != nil {
			continue // exited meanwhile
		}
		stats[st.PID], names[st.PID] = st, st.Comm
		if args, err := pr.CmdLine(); err == nil && len(args) > 0 {
			names[st.PID] = filepath.Base(args[0])
		}
		children[st.PPID] = append(children[st.PPID], st.PID)
	}
	if _, ok := stats[p.pid()]; !ok {
		return nil, fmt.Errorf("cpu time: zpipe (pid %d) is gone", p.pid())
	}
	out := map[string]time.Duration{}
	for queue := []int{p.pid()}; len(queue) > 0; queue = queue[1:] {
		pid := queue[0]
		out[names[pid]] += time.Duration(stats[pid].CPUTime() * float64(time.Second))
		queue = append(queue, children[pid]...)
	}
	return out, nil
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

// stopGrace is how long zpipe gets to exit after SIGTERM.
const stopGrace = 20 * time.Second

// stop sends SIGTERM and waits for zpipe to exit (SIGKILL to its process
// group after stopGrace). It returns an error unless zpipe exited 0.
func (p *zpipeProc) stop() error {
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
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
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
