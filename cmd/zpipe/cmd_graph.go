package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/engine"
	"github.com/zpipe/zpipe/core/graph"
)

func newGraphCmd(a *app) *cobra.Command {
	var lf loadFlags
	var format string
	cmd := &cobra.Command{
		Use:   "graph FILE|DIR...",
		Short: "Draw pipelines as Graphviz DOT or Mermaid",
		Long: `Graph prints the pipelines of the given files as a Graphviz DOT digraph
(default) or a Mermaid flowchart. Data edges are drawn solid from sources
through stages to sinks; subscription edges are drawn dashed in the other
direction, from sinks that receive subscriptions (XPUB) back to the sources
that send them on (XSUB).

  zpipe graph pipelines/zeek-broker.hcl | dot -Tsvg > broker.svg`,
		Args: argsUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var render func(*config.Config) string
			switch format {
			case "dot":
				render = graph.DOT
			case "mermaid":
				render = graph.Mermaid
			default:
				return usageError{fmt.Errorf("--format %q: want dot or mermaid", format)}
			}
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
			fmt.Fprint(a.stdout, render(cfg))
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "dot", "output format: dot or mermaid")
	lf.register(cmd)
	return cmd
}
