// Command otlpbench measures zpipe's OTLP bridge: the records/s a logger
// pipeline exports through its otlp sink, beside the same pipeline with a
// discard sink and with a file sink writing Zeek's JSON logs, in the same
// run.
//
// Each variant runs as a real zpipe process (bin/zpipe run, its plugins
// included) on this pipeline, written to a temporary directory:
//
//	source "pull" "nodes"  { bind = [...]  framing = "zeek" }
//	stage  "hwm"  "queue"  { capacity = 1000  policy = "block" }
//	sink   "discard" "count" {}                         # baseline 1: decodes nothing
//	sink   "file" "logs" { dir = ...  format = "json" }  # baseline 2: decodes every batch
//	sink   "otlp" "collector" { endpoint = ...  insecure = true }
//
// A libzmq PUSH socket (Zeek's log_sndhwm of 1000, the send loop in C, as
// in loggerbench) sends log-write messages of -records conn records (22
// fields; made from the captured zeek-log-conn-7rec.hex) to the PULL
// source. A run is timed from the first send until the sink has handled
// every record: for otlp, until an OTLP/gRPC collector in this process has
// received them all; for discard and file, until zpipe's counter of the
// sink counts every message (zpipe_messages_received_total of the discard
// sink, which counts nothing else; zpipe_messages_sent_total, messages
// written, of the file sink). Every run is
// lossless (any zpipe_messages_dropped_total increase fails it): discard
// and file are paced by backpressure (the blocking hwm stage and the
// sockets' high-water marks); the otlp sink runs in its default mode,
// when_full = "drop", which never blocks (it drops what finds its queue
// full), so its load keeps at most -window messages between the PUSH
// socket and the collector.
//
// zpipe's CPU time (user+system of zpipe and its plugin subprocesses, from
// /proc) is measured over each run. Runs are interleaved across variants,
// -runs times, and the medians are printed as a markdown table with the
// ratios to discard and file-json of the same run: the machine is noisy,
// compare ratios.
//
//	otlpbench -zpipe bin/zpipe -plugin-dir bin
//	otlpbench -quick    # smoke run
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/zpipe/zpipe/bench/internal/benchcli"
	"github.com/zpipe/zpipe/bench/internal/cload"
	"github.com/zpipe/zpipe/bench/internal/logwrite"
	"github.com/zpipe/zpipe/bench/internal/stats"
)

func main() { benchcli.Main("otlpbench", run) }

// otlpQueueSize is the otlp sink's default queue_size, in log records.
const otlpQueueSize = 10000

// options are otlpbench's settings.
type options struct {
	zpipe      benchcli.Zpipe
	batches    int
	records    int
	runs       int
	warmup     int
	window     int
	poll       time.Duration
	timeout    time.Duration
	fullDecode bool
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := benchcli.FlagSet("otlpbench", stderr)
	o := options{}
	var quick bool
	o.zpipe.Flags(fs, "bin/zpipe", "the zpipe binary")
	fs.IntVar(&o.batches, "batches", 1024, "log-write messages per run (1024 × 100 records: a multiple of the otlp sink's batch_size 512)")
	fs.IntVar(&o.records, "records", 100, "conn records per log-write message")
	fs.IntVar(&o.runs, "runs", 3, "runs per variant, interleaved; the median is reported")
	fs.IntVar(&o.warmup, "warmup", 64, "messages sent through each variant before its first run, untimed")
	fs.IntVar(&o.window, "window", 50, "otlp: messages at most between the PUSH socket and the collector (window × records must stay below the sink's queue_size, 10000)")
	fs.DurationVar(&o.poll, "poll", 20*time.Millisecond, "how often zpipe's metrics are scraped during a run (every variant)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this long")
	decode := fs.String("collector-decode", "count", "count: the collector walks each request's wire format to count its records; full: it unmarshals every record (more CPU taken from zpipe on this machine)")
	fs.BoolVar(&quick, "quick", false, "smoke run: few messages, one run")
	if err := benchcli.Parse(fs, args); err != nil {
		return o, err
	}
	if quick {
		o.batches, o.runs, o.warmup = 64, 1, 8
	}
	switch *decode {
	case "count":
	case "full":
		o.fullDecode = true
	default:
		return o, fmt.Errorf("-collector-decode %q: want count or full", *decode)
	}
	if err := errors.Join(
		benchcli.AtLeast("batches", o.batches, 1),
		benchcli.AtLeast("records", o.records, 1),
		benchcli.AtLeast("runs", o.runs, 1),
		benchcli.AtLeast("warmup", o.warmup, 1),
	); err != nil {
		return o, err
	}
	switch {
	case o.window < 1 || o.window*o.records >= otlpQueueSize:
		return o, fmt.Errorf("-window %d: want 1 to %d with -records %d, so the otlp sink's queue (%d records) never overflows",
			o.window, (otlpQueueSize-1)/o.records, o.records, otlpQueueSize)
	case o.poll <= 0:
		return o, fmt.Errorf("-poll %v: want a positive duration", o.poll)
	}
	return o, benchcli.Built(o.zpipe.Bin, o.zpipe.PluginDir)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	frames, _, err := logwrite.Conn(o.records)
	if err != nil {
		return fmt.Errorf("build the load: %w", err)
	}
	msg, err := cload.NewMessage(frames)
	if err != nil {
		return fmt.Errorf("build the load: %w", err)
	}
	defer msg.Free()
	dir, err := os.MkdirTemp("", "otlpbench-")
	if err != nil {
		return fmt.Errorf("scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)

	col, err := startCollector(o.fullDecode)
	if err != nil {
		return err
	}
	var benches []*bench
	// zpipe stops first (the otlp sink flushes to the collector), then the
	// collector.
	defer func() {
		var errs []error
		for _, b := range benches {
			b.push.Close()
			if err := b.z.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", b.z.v.name, err))
			}
		}
		errs = append(errs, col.stop())
		if stopErr := errors.Join(errs...); stopErr != nil {
			if err == nil {
				err = stopErr
			} else {
				fmt.Fprintln(stderr, "otlpbench:", stopErr)
			}
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	for _, v := range variants {
		z, err := startZpipe(ctx, o, v, dir, col.addr)
		if err != nil {
			return err
		}
		push, err := cload.NewPusher(z.pull)
		if err != nil {
			_ = z.Stop()
			return fmt.Errorf("%s: %w", v.name, err)
		}
		b := &bench{z: z, push: push, msg: msg, client: client}
		if v.otlp {
			b.col = col
		}
		benches = append(benches, b)
		fmt.Fprintf(stderr, "otlpbench: %s: zpipe pid %d, pull %s, metrics %s\n", v.name, z.PID(), z.pull, z.MetricsURL())
	}
	for _, b := range benches {
		if _, err := b.measure(ctx, o, frames, o.warmup); err != nil {
			return fmt.Errorf("%s: warm-up: %w", b.z.v.name, err)
		}
	}

	res := newResults()
	for rep := range o.runs {
		for _, b := range benches {
			r, err := b.measure(ctx, o, frames, o.batches)
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", b.z.v.name, rep+1, err)
			}
			res.add(b.z.v.name, r)
			fmt.Fprintf(stderr, "otlpbench: run %d %s: %s records/s in %v, %.2f µs zpipe CPU/record, %.2f µs own CPU/record\n",
				rep+1, b.z.v.name, stats.Thousands(r.recordsPerSecond()), r.elapsed.Round(time.Millisecond), cpuMicros(r), benchCPUMicros(r))
		}
	}
	fmt.Fprintf(stdout, "otlpbench: %d log-write messages of %d conn records (%d B payload) per run, PULL → hwm (block) → sink, lossless; median of %d run(s)\n\n",
		o.batches, o.records, len(frames[3]), o.runs)
	return res.write(stdout, []string{variants[0].name, variants[1].name})
}
