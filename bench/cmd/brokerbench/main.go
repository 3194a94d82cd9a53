// Command brokerbench measures central XPUB/XSUB brokers against the
// reference, libzmq's zmq_proxy set up like Zeek's, in the same run.
//
// For every broker (the reference always; zpipe when -zpipe is given) it
// starts the broker as a subprocess on free loopback ports and measures:
//
//   - throughput of Zeek-shaped 4-frame events (topic, node id,
//     "broker-bin-v1", payload) from -publishers XPUB sockets through the
//     broker to one XSUB, lossless (XPUB_NODROP, blocking sends), for each
//     payload size: events/s, payload MB/s, and the broker's CPU time per
//     event (user+system of the broker process and its plugin
//     subprocesses, from /proc);
//   - round-trip latency at a low rate: a socket pair subscribed to its own
//     topic times each event from send to receipt (p50, p99).
//
// Each measurement is repeated (-repeat, brokers interleaved) and the median
// is reported, with every broker's ratio to zmq_proxy.
//
//	brokerbench -zpipe bin/zpipe -plugin-dir bin -pipeline pipelines/zeek-broker.hcl
//	brokerbench -quick    # smoke run
//
// `brokerbench zmqproxy -xsub … -xpub …` runs the reference broker itself;
// brokerbench starts it that way unless -zmqproxy names another binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/zpipe/zpipe/bench/internal/benchcli"
	"github.com/zpipe/zpipe/bench/internal/cload"
	"github.com/zpipe/zpipe/bench/internal/proxycli"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "zmqproxy" {
		benchcli.Main("brokerbench", func(ctx context.Context, args []string, _, stderr io.Writer) error {
			return proxycli.Run(ctx, "brokerbench zmqproxy", args[1:], stderr)
		})
		return
	}
	benchcli.Main("brokerbench", run)
}

// options are brokerbench's settings.
type options struct {
	zpipe              benchcli.Zpipe
	pipeline, zmqproxy string
	variants           variants
	publishers         int
	count              int
	duration           time.Duration
	sizes              []int
	repeat             int
	pings              int
	pingInterval       time.Duration
	ioThreads          int
	timeout            time.Duration
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := benchcli.FlagSet("brokerbench", stderr)
	o := options{}
	var sizes string
	var quick bool
	o.zpipe.Flags(fs, "", "zpipe binary to measure (e.g. bin/zpipe); empty: only the reference")
	fs.StringVar(&o.pipeline, "pipeline", "pipelines/zeek-broker.hcl", "the broker pipeline zpipe runs")
	fs.Var(&o.variants, "zpipe-variant", "another zpipe run to measure, as NAME=ARGS: extra arguments for `zpipe run`, e.g. 'zpipe-core=--var passthrough=false' (repeatable)")
	fs.StringVar(&o.zmqproxy, "zmqproxy", "", "reference broker binary taking -xsub/-xpub (default: this program's zmqproxy subcommand)")
	fs.IntVar(&o.publishers, "publishers", 2, "publishing sockets")
	fs.IntVar(&o.count, "count", 0, "events per publisher and run (0: send for -duration)")
	fs.DurationVar(&o.duration, "duration", 2*time.Second, "how long each throughput run sends, when -count is 0")
	fs.StringVar(&sizes, "sizes", "64,1024", "payload sizes in bytes, comma-separated")
	fs.IntVar(&o.repeat, "repeat", 3, "runs per measurement; the median is reported")
	fs.IntVar(&o.pings, "pings", 1000, "round trips per latency run")
	fs.DurationVar(&o.pingInterval, "ping-interval", time.Millisecond, "pause between round trips")
	fs.IntVar(&o.ioThreads, "client-io-threads", 1, "ZeroMQ I/O threads of the load generator")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this long")
	fs.BoolVar(&quick, "quick", false, "smoke run: few events, one run each")
	if err := benchcli.Parse(fs, args); err != nil {
		return o, err
	}
	var err error
	if o.sizes, err = benchcli.Ints("sizes", sizes, cload.MinPayload, cload.MaxPayload, "payload size in bytes"); err != nil {
		return o, err
	}
	if quick {
		o.count, o.repeat, o.pings = 2000, 1, 50
	}
	switch {
	case o.publishers < 1 || o.publishers > cload.MaxPublishers:
		return o, fmt.Errorf("-publishers %d: want 1 to %d", o.publishers, cload.MaxPublishers)
	case o.count < 0 || (o.count == 0 && o.duration <= 0):
		return o, errors.New("give a positive -count or -duration")
	}
	return o, errors.Join(
		benchcli.AtLeast("repeat", o.repeat, 1),
		benchcli.AtLeast("pings", o.pings, 1),
		benchcli.AtLeast("client-io-threads", o.ioThreads, 1),
	)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	refCmd := brokerproc.ZmqProxyCommand(o.zmqproxy)
	if o.zmqproxy == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("locate this program to run its zmqproxy subcommand: %w", err)
		}
		refCmd = brokerproc.ZmqProxyCommand(self, "zmqproxy")
	}
	cmds := []brokerproc.Command{refCmd}
	if o.zpipe.Bin != "" {
		if err := benchcli.Built(o.zpipe.Bin, o.pipeline); err != nil {
			return err
		}
		cmds = append(cmds, brokerproc.ZpipeCommand(o.zpipe.Bin, o.zpipe.PluginDir, o.pipeline))
		for _, v := range o.variants {
			c := brokerproc.ZpipeCommand(o.zpipe.Bin, o.zpipe.PluginDir, o.pipeline, v.args...)
			c.Kind = brokerproc.Kind(v.name)
			cmds = append(cmds, c)
		}
	} else if len(o.variants) > 0 {
		return errors.New("-zpipe-variant needs -zpipe")
	}

	var brokers []*brokerproc.Process
	defer func() {
		for _, b := range brokers {
			if err := b.Stop(); err != nil {
				fmt.Fprintf(stderr, "brokerbench: stop %s: %v\n", b.Kind(), err)
			}
		}
	}()
	for _, c := range cmds {
		startCtx, cancel := context.WithTimeout(ctx, time.Minute)
		b, err := brokerproc.Start(startCtx, c)
		cancel()
		if err != nil {
			return err
		}
		brokers = append(brokers, b)
		fmt.Fprintf(stderr, "brokerbench: %s broker pid %d, xsub %s, xpub %s\n", b.Kind(), b.PID(), b.Endpoints().XSub, b.Endpoints().XPub)
	}

	res := newResults(brokers, o.sizes)
	for rep := range o.repeat {
		for _, b := range brokers {
			for _, size := range o.sizes {
				cfg := throughputConfig{Publishers: o.publishers, Payload: size, Count: o.count, Duration: o.duration, IOThreads: o.ioThreads}
				tp, err := measureThroughput(ctx, b, cfg, rep)
				if err != nil {
					return fmt.Errorf("%s, %d B payload, run %d: %w\nbroker output:\n%s", b.Kind(), size, rep+1, err, b.Output())
				}
				res.addThroughput(b.Kind(), size, tp)
				fmt.Fprintf(stderr, "brokerbench: run %d %s %d B: %.0f events/s, %v broker CPU/event\n",
					rep+1, b.Kind(), size, tp.perSecond(), tp.cpuPerEvent())
			}
			rtts, err := measureLatency(ctx, b, o.pings, o.pingInterval, 64, rep)
			if err != nil {
				return fmt.Errorf("%s latency, run %d: %w\nbroker output:\n%s", b.Kind(), rep+1, err, b.Output())
			}
			res.addLatency(b.Kind(), rtts)
		}
	}
	fmt.Fprintf(stdout, "brokerbench: %d publishers -> 1 subscriber, 4-frame Zeek events, lossless (XPUB_NODROP, blocking sends); median of %d run(s)\n\n",
		o.publishers, o.repeat)
	return res.write(stdout)
}

// variant is a named zpipe run with extra arguments.
type variant struct {
	name string
	args []string
}

// variants collects -zpipe-variant flags.
type variants []variant

func (v *variants) String() string {
	var parts []string
	for _, x := range *v {
		parts = append(parts, x.name+"="+strings.Join(x.args, " "))
	}
	return strings.Join(parts, ", ")
}

func (v *variants) Set(s string) error {
	name, args, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || len(strings.Fields(args)) == 0 {
		return fmt.Errorf("want NAME=ARGS, e.g. 'zpipe-core=--var passthrough=false'")
	}
	if name == string(brokerproc.Zpipe) || name == string(brokerproc.ZmqProxy) {
		return fmt.Errorf("name %q is taken by a built-in broker", name)
	}
	for _, x := range *v {
		if x.name == name {
			return fmt.Errorf("variant %q given twice", name)
		}
	}
	*v = append(*v, variant{name: name, args: strings.Fields(args)})
	return nil
}
