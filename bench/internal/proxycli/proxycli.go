// Package proxycli is the command line of the reference broker, shared by
// bench/cmd/zmqproxy and the zmqproxy subcommand of brokerbench.
package proxycli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/zpipe/zpipe/internal/zeektest/refproxy"
)

// Usage describes the command line.
const Usage = `zmqproxy runs libzmq's steerable proxy with the socket setup of Zeek's
built-in broker (XPUB with XPUB_VERBOSER=1 and XPUB_NODROP=1 bound first, then
XSUB; 2 I/O threads) until SIGINT or SIGTERM.

Flags:
`

// Run parses args and serves until ctx is done. It prints the bound
// endpoints, and the proxy's statistics at exit, to stderr.
func Run(ctx context.Context, name string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, Usage)
		fs.PrintDefaults()
	}
	var cfg refproxy.Config
	nodrop := true
	fs.StringVar(&cfg.XSub, "xsub", "tcp://127.0.0.1:5556", "XSUB bind endpoint (Zeek's listen_xsub_endpoint); nodes' XPUB sockets connect here")
	fs.StringVar(&cfg.XPub, "xpub", "tcp://127.0.0.1:5555", "XPUB bind endpoint (Zeek's listen_xpub_endpoint); nodes' XSUB sockets connect here")
	fs.IntVar(&cfg.IOThreads, "io-threads", 2, "ZeroMQ I/O threads (Zeek's proxy_io_threads)")
	fs.BoolVar(&nodrop, "nodrop", true, "XPUB_NODROP (Zeek's listen_xpub_nodrop)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", name, fs.Args())
	}
	cfg.AllowDrops = !nodrop
	p, err := refproxy.Start(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: xsub %s xpub %s\n", name, p.XSubEndpoint(), p.XPubEndpoint())
	select {
	case <-ctx.Done():
	case <-p.Done():
	}
	if st, err := p.Statistics(); err == nil {
		fmt.Fprintf(stderr, "%s: frontend (xsub) in %d msgs %d bytes, out %d msgs %d bytes; backend (xpub) in %d msgs %d bytes, out %d msgs %d bytes\n",
			name, st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7])
	}
	return p.Close()
}
