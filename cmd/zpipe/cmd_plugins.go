package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/core/engine"
	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/core/schema"
)

func newPluginsCmd(a *app) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List the plugins zpipe finds, with versions and capabilities",
		Long: `Plugins lists every plugin binary (zpipe-transport-*, zpipe-codec-*) found in
the plugin search path: --plugin-dir, $ZPIPE_PLUGIN_DIR, then the directory
holding zpipe. Each transport is started briefly to report its version,
capabilities and socket kinds; each codec to report its formats. The stage
kinds built into zpipe follow. -v also prints every attribute they accept.`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := a.logger()
			if err != nil {
				return err
			}
			dirs := a.pluginDirs()
			found, err := plugin.List(dirs)
			if err != nil {
				return err
			}
			if len(found) == 0 {
				fmt.Fprintf(a.stdout, "no plugins found in %s\n", strings.Join(dirs, ", "))
			}
			eng := engine.New(dirs, logger)
			defer eng.Close()
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PLUGIN\tVERSION\tPROTOCOL\tCAPABILITIES\tKINDS/FORMATS\tPATH")
			failed := false
			for _, f := range found {
				if f.Kind == "codec" {
					if err := describeCodec(cmd.Context(), tw, f, logger); err != nil {
						failed = true
						fmt.Fprintf(tw, "%s-%s\t?\t?\t?\t?\t%s (error: %v)\n", f.Kind, f.Name, f.Path, err)
					}
					continue
				}
				if f.Kind != "transport" {
					fmt.Fprintf(tw, "%s-%s\t-\t-\t-\t-\t%s\n", f.Kind, f.Name, f.Path)
					continue
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Second)
				_, desc, err := eng.Transport(ctx, f.Name)
				cancel()
				if err != nil {
					failed = true
					fmt.Fprintf(tw, "%s-%s\t?\t?\t?\t?\t%s (error: %v)\n", f.Kind, f.Name, f.Path, err)
					continue
				}
				var kinds []string
				for _, s := range desc.Sockets {
					kinds = append(kinds, s.Kind+"("+s.Role+")")
				}
				fmt.Fprintf(tw, "%s-%s\t%s\t%d\t%s\t%s\t%s\n", f.Kind, f.Name, desc.Version, desc.Protocol,
					strings.Join(desc.Capabilities, ","), strings.Join(kinds, " "), f.Path)
				if verbose {
					tw.Flush()
					for _, s := range desc.Sockets {
						fmt.Fprintf(a.stdout, "\n  %s %q — %s\n", s.Role, s.Kind, s.Description)
						printAttributes(a.stdout, s.Schema)
					}
					fmt.Fprintln(a.stdout)
				}
			}
			tw.Flush()
			for _, class := range []string{"source", "stage", "sink"} {
				heading := map[string]string{
					"source": "\nBuilt-in sources (source \"KIND\" \"NAME\" { … }, any transport):",
					"stage":  "\nBuilt-in stages (stage \"KIND\" \"NAME\" { … }):",
					"sink":   "\nBuilt-in sinks (sink \"KIND\" \"NAME\" { … }, any transport):",
				}[class]
				fmt.Fprintln(a.stdout, heading)
				for _, k := range eng.Stages().Kinds(class) {
					fmt.Fprintf(a.stdout, "  %-14s %s\n", k.Name, k.Description)
					if verbose {
						printAttributes(a.stdout, k.Schema)
						fmt.Fprintln(a.stdout)
					}
				}
			}
			if failed {
				return reportedError{exitError}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every attribute of every socket and stage kind")
	return cmd
}

// printAttributes prints one line per attribute of sc: name, type,
// default, description.
func printAttributes(w io.Writer, sc schema.Schema) {
	for _, at := range sc.Attributes {
		def, _ := at.DefaultJSON()
		if at.Required {
			def = "(required)"
		}
		fmt.Fprintf(w, "    %-22s %-13s %-24s %s\n", at.Name, at.Type, def, at.Description)
	}
}

// describeCodec starts a codec plugin briefly and prints its formats.
func describeCodec(ctx context.Context, tw io.Writer, f plugin.Found, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	h, err := plugin.StartCodec(ctx, plugin.HostConfig{Path: f.Path, Name: f.Kind + "-" + f.Name, Logger: logger})
	if err != nil {
		return err
	}
	defer h.Shutdown()
	desc, err := h.Describe(ctx)
	if err != nil {
		return err
	}
	var formats []string
	for _, x := range desc.Formats {
		var ops []string
		if x.Decode {
			ops = append(ops, "decode")
		}
		if x.Encode {
			ops = append(ops, "encode")
		}
		formats = append(formats, fmt.Sprintf("%s(%s:%s)", x.Name, x.Kind, strings.Join(ops, "+")))
	}
	fmt.Fprintf(tw, "%s-%s\t%s\t%d\t-\t%s\t%s\n", f.Kind, f.Name, desc.Version, desc.Protocol, strings.Join(formats, " "), f.Path)
	return nil
}
