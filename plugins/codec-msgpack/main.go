// Command zpipe-codec-msgpack is the codec plugin of zpipe-msgpack-v1,
// zpipe's MessagePack encoding of events and log batches
// (docs/formats/zpipe-msgpack-v1.md), for programs that are not Zeek and
// for compact files. It is started by zpipe, not by hand.
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
	codec, err := batch.NewLocal("msgpack", version, builtin.Msgpack()...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zpipe-codec-msgpack:", err)
		os.Exit(1)
	}
	plugin.ServeCodec(codec)
}
