package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/zpipe/zpipe/bench/internal/cload"
	"github.com/zpipe/zpipe/internal/cputime"
)

// noProgress is how long a run may go without the sink handling anything
// (or, for otlp, the collector receiving anything) before it fails.
const noProgress = 30 * time.Second

// runResult is one timed run of one variant.
type runResult struct {
	records int
	// payloadBytes is the log-write payload (frame 3) of every message.
	payloadBytes int
	elapsed      time.Duration
	// cpu is zpipe's CPU time (plugin subprocesses included) during the
	// run.
	cpu time.Duration
	// benchCPU is this process's CPU time during the run: the load
	// generator and, for otlp, the collector.
	benchCPU time.Duration
}

func (r runResult) recordsPerSecond() float64 { return float64(r.records) / r.elapsed.Seconds() }

func (r runResult) mbPerSecond() float64 { return float64(r.payloadBytes) / r.elapsed.Seconds() / 1e6 }

// bench is one variant's zpipe with its load generator (and collector).
type bench struct {
	z      *zpipeRun
	push   *cload.Pusher
	msg    *cload.Message // the log-write message every run sends
	col    *collector     // otlp only
	client *http.Client
}

// measure sends batches messages of perBatch records each and times them
// from the first send until the sink handled every record: for otlp, until
// the collector counted them; otherwise until the sink's counter (see
// variant.counter) counted every message. Any drop in the pipeline fails the run.
func (b *bench) measure(ctx context.Context, o options, frames [][]byte, batches int) (runResult, error) {
	v := b.z.v
	before, err := b.z.scrape(b.client)
	if err != nil {
		return runResult{}, err
	}
	records := int64(batches) * int64(o.records)
	var colBase int64
	if v.otlp {
		colBase = b.col.count()
		// Drain a stale token so the sender waits for fresh progress.
		select {
		case <-b.col.progress:
		default:
		}
	}
	cpu0, err := b.z.cpuTime()
	if err != nil {
		return runResult{}, err
	}
	self0 := cputime.Self()

	sendCtx, cancelSend := context.WithCancel(ctx)
	sendDone := make(chan error, 1)
	senderExited := make(chan struct{})
	// The sender must be gone before anyone else touches the PUSH socket
	// (the next run, or closing it): it sees the cancellation within
	// sendPoll.
	defer func() {
		cancelSend()
		<-senderExited
	}()
	start := time.Now()
	go func() {
		defer close(senderExited)
		sendDone <- b.send(sendCtx, o, batches, colBase)
	}()

	// handled returns how far the sink got, in the unit of its target.
	var handled func(counters) float64
	var target float64
	if v.otlp {
		handled = func(counters) float64 { return float64(b.col.count() - colBase) }
		target = float64(records)
	} else {
		handled = func(c counters) float64 { return c.handled - before.handled }
		target = float64(batches)
	}

	// The otlp collector is looked at every millisecond (an atomic), zpipe's
	// metrics every o.poll for every variant, so each pays the same for
	// being scraped.
	fine := time.NewTicker(time.Millisecond)
	defer fine.Stop()
	scrapeTick := time.NewTicker(o.poll)
	defer scrapeTick.Stop()
	last := before
	// prev is the last scrape before the one that saw the sink done: the
	// time of completion is interpolated between the two, so that the
	// scrape interval does not round every run up.
	type sample struct {
		at      time.Time
		handled float64
	}
	prev := sample{at: start}
	progress, progressAt := 0.0, time.Now()
	var elapsed time.Duration
	var sendErr error
	sending := true
wait:
	for {
		select {
		case <-ctx.Done():
			return runResult{}, ctx.Err()
		case sendErr = <-sendDone:
			sending = false
			if sendErr != nil {
				return runResult{}, fmt.Errorf("load: %w", sendErr)
			}
			sendDone = nil
		case <-fine.C:
		case <-scrapeTick.C:
			if err := b.z.Alive(); err != nil {
				return runResult{}, err
			}
			t0 := time.Now()
			if last, err = b.z.scrape(b.client); err != nil {
				return runResult{}, err
			}
			at := t0.Add(time.Since(t0) / 2)
			if d := last.totalDropped() - before.totalDropped(); d > 0 {
				return runResult{}, fmt.Errorf("the pipeline dropped %.0f (%s); the run must be lossless", d, last.droppedSince(before))
			}
			if h := handled(last); !v.otlp && h >= target {
				done := at
				if h > prev.handled {
					frac := (target - prev.handled) / (h - prev.handled)
					done = prev.at.Add(time.Duration(frac * float64(at.Sub(prev.at))))
				}
				elapsed = done.Sub(start)
				break wait
			} else {
				prev = sample{at: at, handled: h}
			}
		}
		h := handled(last)
		if v.otlp && h >= target {
			elapsed = time.Since(start)
			break wait
		}
		if h > progress {
			progress, progressAt = h, time.Now()
		} else if time.Since(progressAt) > noProgress {
			return runResult{}, fmt.Errorf("stuck: the sink handled %.0f of %.0f in %v, nothing for %v (still sending: %v)\nzpipe output:\n%s",
				h, target, time.Since(start).Round(time.Millisecond), noProgress, sending, b.z.Output())
		}
	}
	cpu1, err := b.z.cpuTime()
	if err != nil {
		return runResult{}, err
	}
	self1 := cputime.Self()
	if sending {
		// Every record was handled, so every message was sent.
		if err := <-sendDone; err != nil {
			return runResult{}, fmt.Errorf("load: %w", err)
		}
	}
	after, err := b.z.scrape(b.client)
	if err != nil {
		return runResult{}, err
	}
	if d := after.totalDropped() - before.totalDropped(); d > 0 {
		return runResult{}, fmt.Errorf("the pipeline dropped %.0f (%s); the run must be lossless", d, after.droppedSince(before))
	}
	return runResult{
		records:      int(records),
		payloadBytes: batches * len(frames[3]),
		elapsed:      elapsed,
		cpu:          cpu1 - cpu0,
		benchCPU:     self1 - self0,
	}, nil
}

// send pushes batches messages. For the otlp variant it keeps at most
// o.window messages' records between the PUSH socket and the collector:
// the otlp sink's Push never waits for the collector, it drops records
// that find its queue (queue_size 10000 records) full, so backpressure has
// to come from the load generator. The window is far above what one export
// request takes (batch_size 512), so the exporter never waits for records.
func (b *bench) send(ctx context.Context, o options, batches int, colBase int64) error {
	for i := range batches {
		if b.z.v.otlp {
			for int64(i-o.window)*int64(o.records) >= b.col.count()-colBase {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-b.col.progress:
				case <-time.After(noProgress):
					return errors.New("the collector received nothing for " + noProgress.String())
				}
			}
		}
		if err := b.push.Send(ctx, b.msg, 1); err != nil {
			return fmt.Errorf("message %d of %d: %w", i+1, batches, err)
		}
	}
	return nil
}
