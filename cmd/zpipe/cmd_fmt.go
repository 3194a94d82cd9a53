package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/core/config"
)

func newFmtCmd(a *app) *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "fmt [-check] FILE...",
		Short: "Rewrite pipeline files in canonical HCL style",
		Long: `Fmt rewrites HCL pipeline files in the canonical style (alignment,
indentation, spacing). With -check it changes nothing, lists the files that
are not formatted and exits 1 if there are any. Files in HCL's JSON syntax
are left alone.`,
		Args: argsUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			unformatted := 0
			for _, path := range args {
				if strings.HasSuffix(path, ".json") {
					fmt.Fprintf(a.stderr, "zpipe fmt: %s: JSON syntax is not reformatted\n", path)
					continue
				}
				src, err := config.ReadFile(path)
				if err != nil {
					return fmt.Errorf("fmt: %s: %w", path, err)
				}
				out, err := config.Format(path, src)
				if err != nil {
					return err
				}
				if bytes.Equal(src, out) {
					continue
				}
				unformatted++
				if check {
					fmt.Fprintln(a.stdout, path)
					continue
				}
				info, err := os.Stat(path)
				if err != nil {
					return fmt.Errorf("fmt: %w", err)
				}
				if err := os.WriteFile(path, out, info.Mode().Perm()); err != nil {
					return fmt.Errorf("fmt: write %s: %w", path, err)
				}
				fmt.Fprintln(a.stdout, path)
			}
			if check && unformatted > 0 {
				return reportedError{exitError}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "list files that need formatting and exit 1 if any; change nothing")
	return cmd
}
