// Package cputime measures CPU time for the benchmarks and tests: that of a
// process and every live process below it (zpipe and its plugin
// subprocesses), by program, and that of the calling process.
package cputime

import (
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// Programs is user+system CPU time by program name (the base name of a
// process's executable as started, else its comm).
type Programs map[string]time.Duration

// Total is the sum over every program.
func (p Programs) Total() time.Duration {
	var t time.Duration
	for _, d := range p {
		t += d
	}
	return t
}

// Sub returns p minus before, program by program: the CPU time each took
// between the two readings.
func (p Programs) Sub(before Programs) Programs {
	out := make(Programs, len(p))
	for name, d := range p {
		out[name] = d - before[name]
	}
	return out
}

// Tree returns the user+system CPU time used so far by process pid and
// every live process below it, from /proc, summed by program.
func Tree(pid int) (Programs, error) {
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
	if _, ok := stats[pid]; !ok {
		return nil, fmt.Errorf("cpu time: process %d is gone", pid)
	}
	out := Programs{}
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		pid := queue[0]
		out[names[pid]] += time.Duration(stats[pid].CPUTime() * float64(time.Second))
		queue = append(queue, children[pid]...)
	}
	return out, nil
}

// Self returns the calling process's user+system CPU time so far (0 if
// the system does not say).
func Self() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
