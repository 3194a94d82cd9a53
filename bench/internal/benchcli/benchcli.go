// Package benchcli is the command-line plumbing the benchmark commands
// share: running a command until SIGINT or SIGTERM, its flag set, and the
// checks of flags that recur across them.
package benchcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// Main runs run with the program's arguments and a context that ends on
// SIGINT or SIGTERM. If run fails, Main prints "name: error" to stderr and
// exits 1; flag.ErrHelp (-h) is no failure.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// FlagSet returns a flag set named name that reports errors and -h to
// stderr and returns them instead of exiting.
func FlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// Parse parses args and refuses arguments left after the flags.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

// Ints parses the value of flag name, a comma-separated list of whole
// numbers from lo to hi; what says what one is ("number of records").
func Ints(name, list string, lo, hi int, what string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("-%s %q: %q is not a %s from %d to %d", name, list, s, what, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

// AtLeast returns an error if the value v of flag name is below lo.
func AtLeast(name string, v, lo int) error {
	if v < lo {
		return fmt.Errorf("-%s %d: want at least %d", name, v, lo)
	}
	return nil
}

// Built returns an error unless every file exists; they are what
// `make build` writes (or reads), so the error says to run it.
func Built(files ...string) error {
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%w (run `make build` first?)", err)
		}
	}
	return nil
}

// Zpipe is the build of zpipe a command runs: its binary (-zpipe) and its
// plugin directory (-plugin-dir).
type Zpipe struct{ Bin, PluginDir string }

// Flags registers -zpipe, with its default and usage, and -plugin-dir on
// fs.
func (z *Zpipe) Flags(fs *flag.FlagSet, bin, usage string) {
	fs.StringVar(&z.Bin, "zpipe", bin, usage)
	fs.StringVar(&z.PluginDir, "plugin-dir", "bin", "zpipe's plugin directory")
}
