// Package ratelog keeps recurring warnings from flooding a log: a Limiter
// writes a line at most once per interval and says how many it left out.
// Stages, sinks and transport plugins use it for bad input and failing
// peers, whose every occurrence their counters count.
package ratelog

import (
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is how often a Limiter logs at most, unless its user
// has a reason for another interval.
const DefaultInterval = 10 * time.Second

// Limiter logs a recurring warning at most once per interval, adding
// how many occurrences it left out since the last line. It keeps bad
// input from flooding the log while the counters still count every case.
type Limiter struct {
	log   *slog.Logger
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// New returns a limiter writing to log at most once per every.
func New(log *slog.Logger, every time.Duration) *Limiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Limiter{log: log, every: every}
}

// Warn logs msg at warning level unless a line was logged less than the
// interval ago; then it only counts the occurrence.
func (l *Limiter) Warn(msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed_since_last", suppressed)
	}
	l.log.Warn(msg, args...)
}
