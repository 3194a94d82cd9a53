// Command zpipe runs ZeroMQ pipelines declared in HCL files: a drop-in
// central broker for Zeek's ZeroMQ cluster backend, and more.
package main

import (
	"os"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}
