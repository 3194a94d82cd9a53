package engine

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/syncbuf"
)

// TestStatusReport: the lines carry rates over the interval and totals,
// per pipeline in configuration order, at warning level when something
// was dropped in the interval.
func TestStatusReport(t *testing.T) {
	var buf bytes.Buffer
	r := &statusReporter{
		logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})),
		order: []string{"broker", "logger"},
	}
	prev := map[string]pipelineTotals{"broker": {in: 100, out: 90, dropped: 5}, "logger": {in: 10, out: 10}}
	cur := map[string]pipelineTotals{"broker": {in: 2100, out: 2085, dropped: 8}, "logger": {in: 13, out: 13}}
	r.report(context.Background(), prev, cur, 2*time.Second)
	want := "level=WARN msg=status pipeline=broker in_per_s=1000 out_per_s=997.5 dropped_per_s=1.5 in=2100 out=2085 dropped=8\n" +
		"level=INFO msg=status pipeline=logger in_per_s=1.5 out_per_s=1.5 dropped_per_s=0 in=13 out=13 dropped=0\n"
	if buf.String() != want {
		t.Fatalf("status lines\n%s\nwant\n%s", buf.String(), want)
	}
	// Counters that went backwards (a restarted plugin) give the new
	// count as the interval's, not a huge wrapped number.
	buf.Reset()
	r.report(context.Background(), cur, map[string]pipelineTotals{"broker": {in: 40, out: 40}}, time.Second)
	if !strings.Contains(buf.String(), "pipeline=broker in_per_s=40 out_per_s=40 dropped_per_s=0") {
		t.Fatalf("after a restart: %s", buf.String())
	}
}

// TestStatusRun: run reports at the interval until its context ends, then
// returns.
func TestStatusRun(t *testing.T) {
	var (
		mu    sync.Mutex
		reads int
		buf   syncbuf.Buffer
	)
	r := &statusReporter{
		logger:   slog.New(slog.NewTextHandler(&buf, nil)),
		interval: 10 * time.Millisecond,
		order:    []string{"p"},
		read: func(context.Context) map[string]pipelineTotals {
			mu.Lock()
			defer mu.Unlock()
			reads++
			return map[string]pipelineTotals{"p": {in: uint64(reads * 10)}}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.run(ctx) }()
	for strings.Count(buf.String(), "msg=status") < 3 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if !strings.Contains(buf.String(), "pipeline=p") {
		t.Fatalf("status output: %s", buf.String())
	}
}
