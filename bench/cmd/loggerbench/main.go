// Command loggerbench measures zpipe's logger: the records/s that
// `zpipe run pipelines/zeek-logger.hcl` writes to conn.log and the CPU time
// it spends per record (zpipe and its plugin subprocesses), for log-write
// messages of 7, 100 and 1,000 conn records, beside the figures of Zeek
// 9.1's own logger node measured on the same kind of machine (quoted: no
// Zeek runs here) and the targets.
//
// Each variant runs as a real zpipe process (bin/zpipe run on the pipeline
// file, plugins included; "zpipe-purego" with --transport purego). A
// libzmq PUSH socket (Zeek's log_sndhwm of 1000, the send loop in C) sends
// log-write messages made from the captured 7-record batch
// (zeek-log-conn-7rec.hex), its records repeated to the batch size. A run
// is timed from the first send until conn.log holds every record: the file
// grows by exactly the bytes of the rendered records, which the benchmark
// renders itself with zpipe's reference renderers; after every run the
// file's contents are checked byte for byte, so a run that lost, reordered
// or changed a record fails. The file is emptied before each run.
//
// zpipe's CPU time is user+system of zpipe and every process below it,
// from /proc. Runs are interleaved (every batch size and variant once,
// then again), -runs times, and the medians are printed.
//
//	loggerbench -zpipe bin/zpipe -plugin-dir bin -pipeline pipelines/zeek-logger.hcl
//	loggerbench -quick    # smoke run
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zpipe/zpipe/bench/internal/benchcli"
	"github.com/zpipe/zpipe/bench/internal/stats"
)

func main() { benchcli.Main("loggerbench", run) }

// options are loggerbench's settings.
type options struct {
	zpipe            benchcli.Zpipe
	pipeline, format string
	sizes            []int
	records          int
	runs             int
	warmup           int
	variants         []variant
	baseline         bool // variants[0] is the baseline build
	zpipeLog         string
	timeout          time.Duration
}

// variant is one way of running zpipe's logger.
type variant struct {
	name string
	// bin is the directory of the zpipe binary and its plugins; empty:
	// -zpipe and -plugin-dir.
	bin string
	// args go after the pipeline file on zpipe's command line.
	args []string
}

// knownVariants are the variants -variants can name, in the order they
// run and are printed.
var knownVariants = []variant{
	{name: "zpipe"},
	{name: "zpipe-purego", args: []string{"--transport", "purego"}},
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := benchcli.FlagSet("loggerbench", stderr)
	o := options{}
	var sizes, variants string
	var quick bool
	o.zpipe.Flags(fs, "bin/zpipe", "the zpipe binary")
	fs.StringVar(&o.pipeline, "pipeline", "pipelines/zeek-logger.hcl", "the logger pipeline (variables listen_log_endpoint, log_dir, log_format, metrics_listen)")
	fs.StringVar(&o.format, "format", "tsv", "log_format: tsv or json")
	fs.StringVar(&sizes, "sizes", "7,100,1000", "records per log-write message, comma-separated")
	fs.IntVar(&o.records, "records", 500000, "records per run (rounded up to whole messages)")
	fs.IntVar(&o.runs, "runs", 3, "runs per batch size and variant, interleaved; the median is reported")
	fs.IntVar(&o.warmup, "warmup", 20000, "records sent through each variant before its first run, untimed")
	fs.StringVar(&variants, "variants", "zpipe,zpipe-purego", "variants to run, comma-separated: "+variantNames())
	baseline := fs.String("baseline", "", "a directory holding another build of zpipe and its plugins (say, of an earlier commit), run as the variant \"baseline\" (transport cgo) beside the others, which are compared with it")
	fs.StringVar(&o.zpipeLog, "zpipe-log", "", "append the output of every zpipe (and its plugins) to this file")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up after this long")
	fs.BoolVar(&quick, "quick", false, "smoke run: few records, one run")
	if err := benchcli.Parse(fs, args); err != nil {
		return o, err
	}
	if quick {
		o.records, o.runs, o.warmup = 5000, 1, 1000
	}
	var err error
	if o.sizes, err = benchcli.Ints("sizes", sizes, 1, 100000, "number of records"); err != nil {
		return o, err
	}
	for _, name := range strings.Split(variants, ",") {
		v, ok := lookupVariant(strings.TrimSpace(name))
		if !ok {
			return o, fmt.Errorf("-variants: unknown variant %q (known: %s)", name, variantNames())
		}
		o.variants = append(o.variants, v)
	}
	if *baseline != "" {
		o.variants = append([]variant{{name: "baseline", bin: *baseline}}, o.variants...)
		o.baseline = true
		if _, err := os.Stat(filepath.Join(*baseline, "zpipe")); err != nil {
			return o, fmt.Errorf("-baseline: %w", err)
		}
	}
	if o.format != "tsv" && o.format != "json" {
		return o, fmt.Errorf("-format %q: want tsv or json", o.format)
	}
	if err := errors.Join(
		benchcli.AtLeast("records", o.records, 1),
		benchcli.AtLeast("runs", o.runs, 1),
		benchcli.AtLeast("warmup", o.warmup, 1),
	); err != nil {
		return o, err
	}
	return o, benchcli.Built(o.zpipe.Bin, o.zpipe.PluginDir, o.pipeline)
}

func lookupVariant(name string) (variant, bool) {
	for _, v := range knownVariants {
		if v.name == name {
			return v, true
		}
	}
	return variant{}, false
}

func variantNames() string {
	var names []string
	for _, v := range knownVariants {
		names = append(names, v.name)
	}
	return strings.Join(names, ", ")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	loads := make(map[int]*load, len(o.sizes))
	for _, n := range o.sizes {
		if loads[n], err = newLoad(n, o.format); err != nil {
			return fmt.Errorf("build the load: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "loggerbench-")
	if err != nil {
		return fmt.Errorf("scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)

	var loggers []*logger
	defer func() {
		var errs []error
		for _, l := range loggers {
			errs = append(errs, l.stop())
		}
		if stopErr := errors.Join(errs...); stopErr != nil {
			if err == nil {
				err = stopErr
			} else {
				fmt.Fprintln(stderr, "loggerbench:", stopErr)
			}
		}
	}()
	for _, v := range o.variants {
		l, err := startLogger(ctx, o, v, dir)
		if err != nil {
			return err
		}
		loggers = append(loggers, l)
		fmt.Fprintf(stderr, "loggerbench: %s: zpipe pid %d, pull %s\n", v.name, l.proc.PID(), l.pull)
	}
	for _, l := range loggers {
		for _, n := range o.sizes {
			if _, err := l.measure(ctx, loads[n], batchesFor(o.warmup, n)); err != nil {
				return fmt.Errorf("%s: warm-up with %d records a batch: %w", l.v.name, n, err)
			}
		}
	}

	res := newResults()
	for rep := range o.runs {
		for _, n := range o.sizes {
			for _, l := range loggers {
				r, err := l.measure(ctx, loads[n], batchesFor(o.records, n))
				if err != nil {
					return fmt.Errorf("%s, %d records a batch, run %d: %w", l.v.name, n, rep+1, err)
				}
				res.add(n, l.v.name, r)
				fmt.Fprintf(stderr, "loggerbench: run %d, %d records/batch, %s: %s records/s in %v, %.2f µs zpipe CPU/record (%s), %.2f µs load CPU/record\n",
					rep+1, n, l.v.name, stats.Thousands(r.recordsPerSecond()), r.elapsed.Round(time.Millisecond), r.cpuMicros(), r.cpuByProgram(), r.loadCPUMicros())
			}
		}
	}
	fmt.Fprintf(stdout, "loggerbench: conn records (22 fields) in log-write messages over PUSH → zpipe run %s (%s) → conn.log, checked byte for byte; %s records per run, median of %d interleaved run(s)\n\n",
		o.pipeline, o.format, stats.Thousands(float64(o.records)), o.runs)
	return res.write(stdout, o.sizes, o.format, o.baseline)
}

// batchesFor returns how many messages of n records carry at least records.
func batchesFor(records, n int) int { return (records + n - 1) / n }
