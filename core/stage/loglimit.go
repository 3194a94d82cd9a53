package stage

import (
	"log/slog"
	"sync"
	"time"
)

// DefaultLogInterval is how often a LogLimiter made for a stage logs at
// most.
const DefaultLogInterval = 10 * time.Second

// LogLimiter logs a recurring warning at most once per interval, adding
// how many occurrences it left out since the last line. It keeps bad
// input from flooding the log while the counters still count every case.
type LogLimiter struct {
	log   *slog.Logger
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// NewLogLimiter returns a limiter writing to log at most once per every.
func NewLogLimiter(log *slog.Logger, every time.Duration) *LogLimiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LogLimiter{log: log, every: every}
}

// Warn logs msg at warning level unless a line was logged less than the
// interval ago; then it only counts the occurrence.
func (l *LogLimiter) Warn(msg string, args ...any) {
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
