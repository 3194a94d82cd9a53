// Command zmqproxy is the reference broker zpipe is measured and tested
// against: libzmq's steerable proxy set up exactly like the broker Zeek runs
// inside its manager. It stops cleanly on SIGINT or SIGTERM.
//
//	zmqproxy -xsub tcp://127.0.0.1:5556 -xpub tcp://127.0.0.1:5555
package main

import (
	"context"
	"io"

	"github.com/zpipe/zpipe/bench/internal/benchcli"
	"github.com/zpipe/zpipe/bench/internal/proxycli"
)

func main() {
	benchcli.Main("zmqproxy", func(ctx context.Context, args []string, _, stderr io.Writer) error {
		return proxycli.Run(ctx, "zmqproxy", args, stderr)
	})
}
