package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/core/engine"
)

func newValidateCmd(a *app) *cobra.Command {
	var lf loadFlags
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check pipeline files without running them",
		Long: `Validate parses pipeline files (HCL, or HCL's JSON syntax for *.json),
resolves variables, and checks every block against the schema of its
plugin, starting the transport plugins the files name to learn their
schemas. Problems are printed as diagnostics with file:line:col.

Exit status: 0 when valid, 1 when not, 2 for a wrong command line.`,
		Args: argsUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := a.logger()
			if err != nil {
				return err
			}
			eng := engine.New(a.pluginDirs(), logger)
			defer eng.Close()
			cfg, err := a.load(eng, args, &lf)
			if err != nil {
				return err
			}
			n := 0
			for _, p := range cfg.Pipelines {
				n += len(p.Nodes)
			}
			fmt.Fprintf(a.stdout, "%d file(s) valid: %d pipeline(s), %d component(s)\n", len(args), len(cfg.Pipelines), n)
			return nil
		},
	}
	lf.register(cmd)
	return cmd
}
