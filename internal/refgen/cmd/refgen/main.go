// Command refgen writes zpipe's component reference (docs/reference.md)
// from the code: go run ./internal/refgen/cmd/refgen -o docs/reference.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/zpipe/zpipe/internal/refgen"
)

func main() {
	out := flag.String("o", refgen.Path, "file to write")
	flag.Parse()
	doc, err := refgen.Generate(context.Background())
	if err == nil {
		err = os.WriteFile(*out, doc, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "refgen:", err)
		os.Exit(1)
	}
}
