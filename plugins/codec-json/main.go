// Command zpipe-codec-json is the codec plugin of JSON formats:
// broker-json-v1 events, exactly as Zeek writes and reads them, and
// zpipe-jsonl-v1, JSON lines of events and log records for files and people
// (output only). It is started by zpipe, not by hand.
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
	codec, err := batch.NewLocal("json", version, builtin.JSON()...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zpipe-codec-json:", err)
		os.Exit(1)
	}
	plugin.ServeCodec(codec)
}
