package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// connRows counts the records in every conn log file of dir (the current
// one and rotated ones) and says whether each TSV file was closed.
func connRows(t *testing.T, dir string) (rows int, closed bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "conn*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no conn log in %s (%v)", dir, err)
	}
	closed = true
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rows += checkConnRows(t, data, "tsv")
		closed = closed && strings.Contains(string(data), "\n#close\t")
	}
	return rows, closed
}

// loggerCounts are a logger's message counts at one moment.
type loggerCounts struct {
	// source: messages the PULL source read from its socket. The
	// transport may hold one it has read back for its next batch; what it
	// does with it at a stop is the transport's to say.
	source int
	// core: messages that reached zpipe's core (its onloop stage).
	core int
	// written: messages the file sink wrote.
	written int
}

func (l *loggerProcess) counts(t *testing.T) loggerCounts {
	t.Helper()
	m := scrapeURL(t, "http://"+l.metrics+"/metrics")
	return loggerCounts{
		source:  int(m[`zpipe_messages_received_total{component="source.pull.nodes",kind="pull",pipeline="zeek-logger"}`]),
		core:    int(m[`zpipe_messages_received_total{component="stage.onloop.queue",kind="onloop",pipeline="zeek-logger"}`]),
		written: int(m[`zpipe_messages_sent_total{component="sink.file.logs",kind="file",pipeline="zeek-logger"}`]),
	}
}

// exitStatus waits for zpipe to exit after a signal and returns its exit
// status.
func (p *zpipeProcess) exitStatus(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.exited:
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &exit):
			return exit.ExitCode()
		default:
			t.Fatalf("wait for zpipe: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("zpipe did not exit within 60s of SIGTERM")
	}
	return -1
}

// TestLoggerSIGTERMWritesBacklog: a node bursts 1001-record conn batches
// at the logger until its queues are full, then SIGTERM: every batch
// zpipe's core had received is in conn.log, the file is closed (#close),
// and zpipe exits 0 within its default shutdown window.
func TestLoggerSIGTERMWritesBacklog(t *testing.T) {
	frames := bigConnBatch(t, 1001)
	d := burstDuration(t)
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		l := startLogger(t, kind, "tsv")
		b := startBurst(t, l.endpoint, frames)
		time.Sleep(d)
		sent := b.Stop()
		// Received now or later: a stop writes at least this much.
		at := l.counts(t)
		received := at.core
		start := time.Now()
		if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		status := l.exitStatus(t)
		took := time.Since(start)
		rows, closed := connRows(t, l.dir)
		drained := rows/1001 - at.written
		t.Logf("%d batches sent; at SIGTERM %d read by the source, %d received by the core, %d written; %d written (%d records) in the end: "+
			"the stop wrote %d batches (%.1f MB) in %v (%.0f records/s), exit status %d",
			sent, at.source, at.core, at.written, rows/1001, rows, drained, float64(drained*len(frames[3]))/1e6, took.Round(time.Millisecond),
			float64(drained*1001)/took.Seconds(), status)
		scenario := fmt.Sprintf("SIGTERM after a %v log burst", d)
		recordFigure(t, scenario, kind, "records received / written", fmt.Sprintf("%d / %d", received*1001, rows),
			"all received written", rows%1001 == 0 && rows >= received*1001)
		recordFigure(t, scenario, kind, "stop: time, rate, exit status", fmt.Sprintf("%v, %.0f records/s, %d", took.Round(time.Millisecond),
			float64(drained*1001)/took.Seconds(), status), "exit 0 within 30 s, files closed", status == 0 && closed)
		if status != 0 {
			t.Errorf("exit status %d after SIGTERM, want 0", status)
		}
		if rows%1001 != 0 || rows < received*1001 || rows > int(sent)*1001 {
			t.Errorf("conn logs hold %d records: want whole batches of 1001, at least the %d received, at most the %d sent", rows, received, sent)
		}
		if !closed {
			t.Error("a conn log was not closed (no #close line)")
		}
	})
}

// givenUp matches the log line of a stop that gave up data.
var givenUp = regexp.MustCompile(`msg="shutdown window ended; gave up data".* messages=(\d+)`)

// TestLoggerSIGTERMGivesUpCounted: with a shutdown window far too short
// for the backlog, the stop gives up what it cannot write, says how much
// in its log and exit status, and still closes the files: what was
// written and what was given up add up to at least what zpipe's core had
// received.
func TestLoggerSIGTERMGivesUpCounted(t *testing.T) {
	frames := bigConnBatch(t, 1001)
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		ports, err := brokerproc.FreePorts(2)
		if err != nil {
			t.Fatal(err)
		}
		l := &loggerProcess{
			endpoint: "tcp://127.0.0.1:" + strconv.Itoa(ports[0]),
			metrics:  "127.0.0.1:" + strconv.Itoa(ports[1]),
			dir:      t.TempDir(),
		}
		l.zpipeProcess = runPipeline(t, kind, "zeek-logger.hcl", "listen_log_endpoint="+l.endpoint,
			"metrics_listen="+l.metrics, "log_dir="+l.dir, "--shutdown-timeout=300ms")
		b := startBurst(t, l.endpoint, frames)
		time.Sleep(burstDuration(t))
		sent := b.Stop()
		at := l.counts(t)
		received := at.core
		if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		status := l.exitStatus(t)
		rows, closed := connRows(t, l.dir)
		out := l.output.String()
		lost := 0
		if m := givenUp.FindStringSubmatch(out); m != nil {
			lost, _ = strconv.Atoi(m[1])
		}
		t.Logf("%d batches sent, %d read by the source and %d received by the core at SIGTERM, %d written, %d given up, exit status %d",
			sent, at.source, received, rows/1001, lost, status)
		if !closed {
			t.Error("a conn log was not closed (no #close line)")
		}
		if rows%1001 != 0 || rows/1001+lost < received {
			t.Errorf("%d records written and %d batches given up: want whole batches adding up to at least the %d received", rows, lost, received)
		}
		switch {
		case lost > 0 && status == 0:
			t.Errorf("the stop gave up %d batches and exited 0", lost)
		case lost == 0 && status != 0:
			t.Errorf("the stop gave up nothing and exited %d", status)
		}
	})
}
