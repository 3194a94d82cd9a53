package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// envBurst sets how long the burst scenarios push (a Go duration): the
// default keeps `make test` short; ZPIPE_E2E_BURST=30s is the stress run.
const envBurst = "ZPIPE_E2E_BURST"

// burstDuration returns the length of a burst: $ZPIPE_E2E_BURST or 5s.
func burstDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv(envBurst)
	if v == "" {
		return 5 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration", envBurst, v)
	}
	return d
}

// Defaults of the logger's onloop stage (pipelines/zeek-logger.hcl), as
// documented in the README.
const (
	onloopDefaultMaxBytes = 64 << 20
	// rssLimit is what the logger (zpipe and its plugins) may take at
	// default settings through a burst.
	rssLimit = 1 << 30
)

// bigConnBatch returns a log-write message of n conn records: the records
// of the captured 7-record batch, repeated.
func bigConnBatch(t *testing.T, n int) [][]byte {
	t.Helper()
	frames, err := zeektest.LoadVector("zeek-log-conn-7rec.hex")
	if err != nil {
		t.Fatal(err)
	}
	b, err := zeeklog.Decode(frames[3])
	if err != nil {
		t.Fatal(err)
	}
	recs := b.Records
	b.Records = nil
	for i := range n {
		b.Records = append(b.Records, recs[i%len(recs)])
	}
	payload, err := zeeklog.Append(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{frames[0], frames[1], frames[2], payload}
}

// messageBytes returns the payload bytes of all frames of a message.
func messageBytes(frames [][]byte) int {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	return n
}

// burster sends one message over and over from a libzmq PUSH socket, as
// fast as the logger takes them: its sends wait while the logger pushes
// back, as a Zeek node's sends would fail.
type burster struct {
	stop chan struct{}
	done chan struct{}
	sent atomic.Int64
}

// startBurst connects a PUSH socket to endpoint and sends frames until
// Stop. The socket queues at most 10 messages itself.
func startBurst(t *testing.T, endpoint string, frames [][]byte) *burster {
	t.Helper()
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	s, err := zctx.NewSocket(zmq.PUSH)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{s.SetSndhwm(10), s.SetLinger(0), s.SetSndtimeo(100 * time.Millisecond), s.Connect(endpoint)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	b := &burster{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		defer zctx.Term()
		defer s.Close()
		for {
			select {
			case <-b.stop:
				return
			default:
			}
			if _, err := s.SendMessage(frames); err == nil {
				b.sent.Add(1)
			}
		}
	}()
	t.Cleanup(func() { b.Stop() })
	return b
}

// Stop ends the burst and returns how many messages the socket took.
func (b *burster) Stop() int64 {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	<-b.done
	return b.sent.Load()
}

// processRSS is the resident memory of one process.
type processRSS struct {
	name  string
	bytes int64
}

// processTreeRSS returns the resident memory, in bytes, of pid and every
// process below it (zpipe and its plugins), one entry each.
func processTreeRSS(pid int) ([]processRSS, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	p := processRSS{}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Name:":
			p.name = f[1]
		case len(f) == 3 && f[0] == "VmRSS:":
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("pid %d: %q: %w", pid, line, err)
			}
			p.bytes = kb << 10
		}
	}
	out := []processRSS{p}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		children, err := os.ReadFile(task)
		if err != nil {
			continue // the thread ended
		}
		for _, c := range strings.Fields(string(children)) {
			child, err := strconv.Atoi(c)
			if err != nil {
				continue
			}
			if more, err := processTreeRSS(child); err == nil {
				out = append(out, more...)
			}
		}
	}
	return out, nil
}

// burstFigures are the highest readings of a logger during a burst.
type burstFigures struct {
	heldBytes float64 // bytes the onloop stage held
	rss       int64   // resident memory of zpipe and its plugins
	// peak is the reading of each process when their sum was highest.
	peak []processRSS
}

// watchBurst samples the logger every 100 ms until the burst has lasted
// d, keeping the highest readings. The onloop stage's bytes are read from
// its depth: every message of the burst has the same size.
func watchBurst(t *testing.T, l *loggerProcess, d time.Duration, msgBytes int) burstFigures {
	t.Helper()
	depthKey := `zpipe_queue_depth{component="stage.onloop.queue",kind="onloop",pipeline="zeek-logger"}`
	var f burstFigures
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		m := scrapeURL(t, "http://"+l.metrics+"/metrics")
		f.heldBytes = max(f.heldBytes, m[depthKey]*float64(msgBytes))
		if procs, err := processTreeRSS(l.cmd.Process.Pid); err == nil {
			var sum int64
			for _, p := range procs {
				sum += p.bytes
			}
			if sum > f.rss {
				f.rss, f.peak = sum, procs
			}
		}
	}
	return f
}

// TestLoggerBurstBounded: a libzmq node pushes 1001-record conn batches
// at the logger as fast as it takes them. The onloop stage holds no more
// than its byte budget (the log batches' backpressure reaches the PULL
// socket instead), and zpipe with its plugins stays under 1 GiB.
// ZPIPE_E2E_BURST=30s makes it the stress run.
func TestLoggerBurstBounded(t *testing.T) {
	frames := bigConnBatch(t, 1001)
	size := messageBytes(frames)
	d := burstDuration(t)
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		l := startLogger(t, kind, "tsv")
		b := startBurst(t, l.endpoint, frames)
		f := watchBurst(t, l, d, size)
		sent := b.Stop()
		var peak []string
		for _, p := range f.peak {
			peak = append(peak, fmt.Sprintf("%s %.1f MiB", p.name, float64(p.bytes)/(1<<20)))
		}
		t.Logf("%v burst of %d-byte batches: %d sent, onloop held at most %.1f MiB, zpipe and plugins at most %.1f MiB resident (%s)",
			d, size, sent, f.heldBytes/(1<<20), float64(f.rss)/(1<<20), strings.Join(peak, ", "))
		scenario := fmt.Sprintf("log burst (%v of %d-record batches)", d, 1001)
		recordFigure(t, scenario, kind, "zpipe and plugins, peak RSS", mib(f.rss), fmt.Sprintf("≤ %s", mib(rssLimit)), f.rss <= rssLimit)
		recordFigure(t, scenario, kind, "onloop queue, peak bytes", mib(int64(f.heldBytes)), fmt.Sprintf("≤ %s", mib(onloopDefaultMaxBytes)), f.heldBytes <= onloopDefaultMaxBytes)
		if f.heldBytes > onloopDefaultMaxBytes {
			t.Errorf("the onloop stage held %.1f MiB, above its budget of %d MiB", f.heldBytes/(1<<20), onloopDefaultMaxBytes>>20)
		}
		if f.rss > rssLimit {
			t.Errorf("zpipe and its plugins took %.1f MiB resident, above %d MiB", float64(f.rss)/(1<<20), rssLimit>>20)
		}
		l.stop(t)
	})
}
