package main

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/engine"
)

// loadFlags are the flags shared by commands that load pipeline files.
type loadFlags struct {
	vars      []string
	varFiles  []string
	transport string
}

func (f *loadFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "set a variable: --var NAME=VALUE (repeatable; overrides $ZPIPE_VAR_NAME and the default); not for secrets, which every local user can read on the command line")
	cmd.Flags().StringArrayVar(&f.varFiles, "var-file", nil, "set a variable from a file: --var-file NAME=PATH, the file's content less one trailing line break (repeatable; for keys and other secrets)")
	cmd.Flags().StringVar(&f.transport, "transport", "", "use this transport for every file, overriding each file's transport setting")
}

func (f *loadFlags) options(a *app) (config.Options, error) {
	vars := make(map[string]string, len(f.vars))
	files := make(map[string]string, len(f.varFiles))
	for _, flag := range []struct {
		name, want string
		list       []string
		into       map[string]string
	}{{"--var", "NAME=VALUE", f.vars, vars}, {"--var-file", "NAME=PATH", f.varFiles, files}} {
		for _, kv := range flag.list {
			name, value, ok := strings.Cut(kv, "=")
			if !ok || name == "" || (flag.name == "--var-file" && value == "") {
				return config.Options{}, usageError{fmt.Errorf("%s %q: want %s", flag.name, kv, flag.want)}
			}
			_, inVars := vars[name]
			_, inFiles := files[name]
			if inVars || inFiles {
				return config.Options{}, usageError{fmt.Errorf("%s: variable %q is given more than once (by --var or --var-file)", flag.name, name)}
			}
			flag.into[name] = value
		}
	}
	return config.Options{Vars: vars, VarFiles: files, Env: a.env, Transport: f.transport}, nil
}

// load parses and validates files, printing diagnostics. On errors it
// returns a reportedError; the engine's plugins stay running for the caller
// to use or close.
func (a *app) load(eng *engine.Engine, paths []string, f *loadFlags) (*config.Config, error) {
	opts, err := f.options(a)
	if err != nil {
		return nil, err
	}
	cfg, diags := eng.Load(paths, opts)
	a.secrets.use(cfg)
	if len(diags) > 0 {
		var files map[string]*hcl.File
		if cfg != nil {
			files = cfg.Files
		}
		if werr := config.WriteDiagnostics(a.stderr, files, diags, 100, false); werr != nil {
			return nil, werr
		}
	}
	if diags.HasErrors() {
		return nil, reportedError{exitError}
	}
	return cfg, nil
}
