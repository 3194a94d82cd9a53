package filesink

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/zpipe/zpipe/core/logfile"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/value"
)

// logLimits checks the attributes max_open_files and max_paths and
// returns them, max_open_files lowered (with a warning) to half the
// process's soft RLIMIT_NOFILE if that is less: the other half stays for
// what else zpipe opens (plugin connections, the metrics endpoint's
// clients, other sinks).
func logLimits(c config, log *slog.Logger) (maxOpen, maxPaths int, err error) {
	for _, a := range []struct {
		name string
		v    float64
	}{{"max_open_files", c.MaxOpenFiles}, {"max_paths", c.MaxPaths}} {
		if a.v < 1 || a.v != float64(int(a.v)) {
			return 0, 0, fmt.Errorf("attribute %q: want a whole number of 1 or more, have %v", a.name, a.v)
		}
	}
	maxOpen, maxPaths = int(c.MaxOpenFiles), int(c.MaxPaths)
	if limit, ok := nofileLimit(); ok && uint64(maxOpen) > limit/2 {
		lowered := int(max(limit/2, 1))
		log.Warn("max_open_files lowered: the descriptor limit (RLIMIT_NOFILE) leaves too little room",
			"max_open_files", maxOpen, "rlimit_nofile", limit, "lowered_to", lowered)
		maxOpen = lowered
	}
	return maxOpen, maxPaths, nil
}

// rejected counts and logs a log batch the Writer did not write, by why.
func (s *Sink) rejected(b *value.LogBatch, err error) {
	switch {
	case errors.Is(err, logfile.ErrPath):
		// The error quotes the path, cut to its bound.
		s.drop(DropInvalidPath, "log path rejected", "err", err.Error())
	case errors.Is(err, logfile.ErrTooManyPaths):
		s.drop(DropTooManyPaths, "too many log paths; new path rejected", "path", b.Path, "err", err.Error())
	case errors.Is(err, logfile.ErrMismatch):
		s.drop(stage.DropMalformed, "log batch rejected", "path", b.Path, "err", err.Error())
	default:
		s.drop(DropWriteFailed, "write failed", "path", b.Path, "err", err.Error())
	}
}
