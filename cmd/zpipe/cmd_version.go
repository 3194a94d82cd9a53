package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/core/transport"
)

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print zpipe's version",
		Args:  argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(a.stdout, "zpipe %s (plugin protocol %d, %s, %s/%s)\n",
				version, transport.ProtocolVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
