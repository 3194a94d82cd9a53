package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel"

	"github.com/zpipe/zpipe/core/engine"
	"github.com/zpipe/zpipe/core/ratelog"
)

func newRunCmd(a *app) *cobra.Command {
	var lf loadFlags
	var shutdownTimeout, statusInterval time.Duration
	cmd := &cobra.Command{
		Use:   "run FILE|DIR...",
		Short: "Run the pipelines declared in FILEs (or DIRs of them) until interrupted",
		Long: `Run loads and validates the pipeline files (a directory stands for the
.hcl and .hcl.json files directly inside it), starts the transport plugins
they need, opens every socket and moves data until SIGINT or SIGTERM, or
until every source has come to its end (a replayed file). It then stops
intake and writes what it had received: the sources deliver what they had
read, each stage passes on what it holds, sinks close their files, and it
exits 0. A line a second tells what is still held while it drains. If
--shutdown-timeout (default 30s) is about to end first, it gives up what
is still held, counts it (error_type="shutdown"), still closes every file,
says how many messages it gave up, and exits 1. A second signal exits at
once.

Every --status-interval (default 10s) a status line per pipeline says how
many messages came in, went out and were dropped, per second and in total
(a warning when some were dropped).

Variables: --var NAME=VALUE or --var-file NAME=PATH (the file's content)
overrides $ZPIPE_VAR_NAME, which overrides the variable's default in the
file. Give keys and other secrets with --var-file or the environment, never
--var: a process's command line is readable by every local user.

  zpipe run pipelines/zeek-broker.hcl
  zpipe run --var listen_xpub_endpoint=tcp://0.0.0.0:5555 pipelines/zeek-broker.hcl`,
		Args: argsUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if shutdownTimeout <= 0 {
				return usageError{fmt.Errorf("--shutdown-timeout: want a positive duration, have %s", shutdownTimeout)}
			}
			if statusInterval < 0 {
				return usageError{fmt.Errorf("--status-interval: want 0 (off) or a positive duration, have %s", statusInterval)}
			}
			logger, err := a.logger()
			if err != nil {
				return err
			}
			// The OpenTelemetry SDK reports failed exports through its
			// process-wide handler, by default as bare lines on stderr, one
			// per interval: route them to the log, at most one per 30 s.
			exportErrors := ratelog.New(logger, 30*time.Second)
			otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
				exportErrors.Warn("telemetry: export failed", "err", err.Error())
			}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			done := make(chan struct{})
			defer close(done)
			go func() {
				// After the first signal, a second one exits at once.
				select {
				case <-ctx.Done():
				case <-done:
					return
				}
				// Listen for the second signal before the first listener
				// goes, lest one arriving in between take the default
				// action and end zpipe without its drain.
				again := make(chan os.Signal, 1)
				signal.Notify(again, os.Interrupt, syscall.SIGTERM)
				defer signal.Stop(again)
				stop()
				select {
				case <-again:
					fmt.Fprintln(a.stderr, "zpipe: second signal, exiting now")
					os.Exit(exitError)
				case <-done:
				}
			}()

			eng := engine.New(a.pluginDirs(), logger)
			defer eng.Close()
			cfg, err := a.load(eng, args, &lf)
			if err != nil {
				return err
			}
			return eng.Run(ctx, cfg, engine.RunOptions{ShutdownTimeout: shutdownTimeout, StatusInterval: statusInterval})
		},
	}
	cmd.Flags().DurationVar(&shutdownTimeout, "shutdown-timeout", engine.DefaultShutdownTimeout,
		"how long an orderly stop may take after a signal; what is still held near its end is given up and counted (exit status 1)")
	cmd.Flags().DurationVar(&statusInterval, "status-interval", 10*time.Second, "log a status line per pipeline (messages in, out, dropped: rates and totals) this often; 0 turns it off")
	lf.register(cmd)
	return cmd
}
