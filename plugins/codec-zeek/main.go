// Command zpipe-codec-zeek is the codec plugin of Zeek's binary formats:
// broker-bin-v1 events and zeek-bin-serializer log batches, decoded into and
// encoded from zpipe-msgpack-v1 documents; log batches also render straight
// into the lines of Zeek's TSV and JSON log files, for zpipe's logger. It is
// started by zpipe, not by hand.
package main

import (
	"fmt"
	"os"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/builtin"
	"github.com/zpipe/zpipe/core/plugin"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	codec, err := batch.NewLocal("zeek", version, builtin.Zeek()...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zpipe-codec-zeek:", err)
		os.Exit(1)
	}
	plugin.ServeCodec(codec)
}
