// Command zmqproxy is the reference broker zpipe is measured and tested
// against: libzmq's steerable proxy set up exactly like the broker Zeek runs
// inside its manager. It stops cleanly on SIGINT or SIGTERM.
//
//	zmqproxy -xsub tcp://127.0.0.1:5556 -xpub tcp://127.0.0.1:5555
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/zpipe/zpipe/bench/internal/proxycli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := proxycli.Run(ctx, "zmqproxy", os.Args[1:], os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "zmqproxy:", err)
		os.Exit(1)
	}
}
