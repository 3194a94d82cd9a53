package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/core/plugin"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed (bad config, runtime error)
	exitUsage = 2 // the command line itself is wrong
)

// usageError marks errors in the command line.
type usageError struct{ error }

// exitError carries an exit code for errors already reported.
type reportedError struct{ code int }

func (e reportedError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// app holds what every command shares: I/O, environment and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            []string

	pluginDir string
	logLevel  string
	logFormat string

	// secrets hides the sensitive values of the loaded configuration in
	// logs and errors.
	secrets redactor
}

func (a *app) getenv(key string) string {
	prefix := key + "="
	for i := len(a.env) - 1; i >= 0; i-- {
		if strings.HasPrefix(a.env[i], prefix) {
			return a.env[i][len(prefix):]
		}
	}
	return ""
}

// pluginDirs is the plugin search order: --plugin-dir, $ZPIPE_PLUGIN_DIR,
// then the directory holding the zpipe executable.
func (a *app) pluginDirs() []string {
	exeDir := ""
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		exeDir = filepath.Dir(exe)
	}
	return plugin.SearchDirs(a.pluginDir, a.getenv("ZPIPE_PLUGIN_DIR"), exeDir)
}

func (a *app) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", a.logLevel)}
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch a.logFormat {
	case "text":
		h = slog.NewTextHandler(a.stderr, opts)
	case "json":
		h = slog.NewJSONHandler(a.stderr, opts)
	default:
		return nil, usageError{fmt.Errorf("--log-format %q: want text or json", a.logFormat)}
	}
	return slog.New(newRedactHandler(h, &a.secrets)), nil
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "zpipe",
		Short: "Run ZeroMQ pipelines declared in HCL",
		Long: `zpipe runs ZeroMQ pipelines declared in HCL files: sources (XSUB, PULL),
stages and sinks (XPUB, PUSH), with sockets served by transport plugins and
every counter exported through OpenTelemetry.

Its first job is a drop-in central broker for Zeek's ZeroMQ cluster backend:

  zpipe run pipelines/zeek-broker.hcl`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.pluginDir, "plugin-dir", "", "directory searched first for plugin binaries (then $ZPIPE_PLUGIN_DIR, then zpipe's own directory)")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&a.logFormat, "log-format", "text", "log format on stderr: text or json")
	root.AddCommand(
		newRunCmd(a),
		newValidateCmd(a),
		newFmtCmd(a),
		newGraphCmd(a),
		newPluginsCmd(a),
		newVersionCmd(a),
		newDecodeCmd(a),
		newTailCmd(a),
		newPublishCmd(a),
		newNodesCmd(a),
		newEncodeCmd(a),
	)
	return root
}

// execute runs the command line and returns the process exit code.
func execute(args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
	root := newRootCmd(a)
	root.SetArgs(normalizeArgs(args))
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var rep reportedError
	if errors.As(err, &rep) {
		return rep.code
	}
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		fmt.Fprintf(stderr, "zpipe: %v\nRun 'zpipe --help' for usage.\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "zpipe: %s\n", a.secrets.redact(err.Error()))
	return exitError
}

// isCobraUsageError recognizes cobra's own argument errors, which it
// returns as plain errors.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") ||
		strings.HasPrefix(msg, "accepts ") ||
		strings.HasPrefix(msg, "requires at least") ||
		strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag")
}

// argsUsage wraps a cobra positional-args validator so its errors are
// usage errors (exit code 2).
func argsUsage(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// normalizeArgs accepts "-check", the spelling HCL tools use for
// "fmt -check", as "--check".
func normalizeArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "-check" {
			a = "--check"
		}
		out[i] = a
	}
	return out
}
