package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/core/engine"
)

func newValidateCmd(a *app) *cobra.Command {
	var lf loadFlags
	cmd := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Check pipeline files without running them",
		Long: `Validate parses pipeline files (HCL, or HCL's JSON syntax for *.json; a
directory stands for its .hcl and .hcl.json files), resolves variables, and
makes every check run makes before it starts anything: each block against
the schema of its plugin, each socket by its transport plugin (endpoints,
option ranges, CURVE keys), and no endpoint bound twice. Problems are
printed as diagnostics with file:line:col.

Variables: --var NAME=VALUE or --var-file NAME=PATH (the file's content,
less one trailing line break), then $ZPIPE_VAR_NAME, then the default.
Secrets go in a file or the environment, not in --var.

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
			fmt.Fprintf(a.stdout, "%d file(s) valid: %d pipeline(s), %d component(s)\n", len(cfg.Files), len(cfg.Pipelines), n)
			return nil
		},
	}
	lf.register(cmd)
	return cmd
}
