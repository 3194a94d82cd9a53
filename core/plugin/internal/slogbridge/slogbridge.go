// Package slogbridge routes the log output of hashicorp/go-plugin and of
// plugin processes into a log/slog logger: an hclog.Logger backed by slog,
// and an io.Writer that logs every line written to it.
package slogbridge

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// LevelTrace is the slog level hclog's TRACE maps to.
const LevelTrace = slog.LevelDebug - 4

// Logger returns an hclog.Logger that writes to l. Its level follows what l's
// handler has enabled; SetLevel has no effect.
func Logger(l *slog.Logger) hclog.Logger {
	return &logger{l: l}
}

// LibraryLogger is Logger for go-plugin's own client logger: the library's
// informational messages about starting and stopping processes are logged
// at debug level, while the log records plugins send (which go-plugin logs
// through named sub-loggers) keep their level.
func LibraryLogger(l *slog.Logger) hclog.Logger {
	return &logger{l: l, demoteRootInfo: true}
}

type logger struct {
	l              *slog.Logger
	name           string
	implied        []any
	demoteRootInfo bool
}

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return LevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (g *logger) enabled(level hclog.Level) bool {
	return g.l.Enabled(context.Background(), toSlog(level))
}

// Log implements hclog.Logger.
func (g *logger) Log(level hclog.Level, msg string, args ...any) {
	if g.demoteRootInfo && g.name == "" && level == hclog.Info {
		level = hclog.Debug
	}
	if level == hclog.Off || !g.enabled(level) {
		return
	}
	attrs := make([]any, 0, 2+len(g.implied)+len(args))
	if g.name != "" {
		attrs = append(attrs, "logger", g.name)
	}
	attrs = append(attrs, g.implied...)
	attrs = append(attrs, args...)
	g.l.Log(context.Background(), toSlog(level), msg, attrs...)
}

// Trace implements hclog.Logger.
func (g *logger) Trace(msg string, args ...any) { g.Log(hclog.Trace, msg, args...) }

// Debug implements hclog.Logger.
func (g *logger) Debug(msg string, args ...any) { g.Log(hclog.Debug, msg, args...) }

// Info implements hclog.Logger.
func (g *logger) Info(msg string, args ...any) { g.Log(hclog.Info, msg, args...) }

// Warn implements hclog.Logger.
func (g *logger) Warn(msg string, args ...any) { g.Log(hclog.Warn, msg, args...) }

// Error implements hclog.Logger.
func (g *logger) Error(msg string, args ...any) { g.Log(hclog.Error, msg, args...) }

// IsTrace implements hclog.Logger.
func (g *logger) IsTrace() bool { return g.enabled(hclog.Trace) }

// IsDebug implements hclog.Logger.
func (g *logger) IsDebug() bool { return g.enabled(hclog.Debug) }

// IsInfo implements hclog.Logger.
func (g *logger) IsInfo() bool { return g.enabled(hclog.Info) }

// IsWarn implements hclog.Logger.
func (g *logger) IsWarn() bool { return g.enabled(hclog.Warn) }

// IsError implements hclog.Logger.
func (g *logger) IsError() bool { return g.enabled(hclog.Error) }

// ImpliedArgs implements hclog.Logger.
func (g *logger) ImpliedArgs() []any { return g.implied }

// With implements hclog.Logger.
func (g *logger) With(args ...any) hclog.Logger {
	c := *g
	c.implied = append(append([]any(nil), g.implied...), args...)
	return &c
}

// Name implements hclog.Logger.
func (g *logger) Name() string { return g.name }

// Named implements hclog.Logger.
func (g *logger) Named(name string) hclog.Logger {
	c := *g
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

// ResetNamed implements hclog.Logger.
func (g *logger) ResetNamed(name string) hclog.Logger {
	c := *g
	c.name = name
	return &c
}

// SetLevel implements hclog.Logger; the level is the slog handler's.
func (g *logger) SetLevel(hclog.Level) {}

// GetLevel implements hclog.Logger: the lowest level the handler enables.
func (g *logger) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if g.enabled(lv) {
			return lv
		}
	}
	return hclog.Off
}

// StandardLogger implements hclog.Logger.
func (g *logger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(g.StandardWriter(opts), "", 0)
}

// StandardWriter implements hclog.Logger: every line is logged at INFO, or
// at the level its "[LEVEL]" prefix names when opts.InferLevels is set.
func (g *logger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	infer := opts != nil && opts.InferLevels
	return NewLineWriter(func(line string) {
		level := hclog.Info
		if infer {
			level, line = inferLevel(line)
		}
		g.Log(level, line)
	})
}

func inferLevel(line string) (hclog.Level, string) {
	for _, p := range []struct {
		prefix string
		level  hclog.Level
	}{
		{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error},
	} {
		if rest, ok := strings.CutPrefix(line, p.prefix); ok {
			return p.level, strings.TrimSpace(rest)
		}
	}
	return hclog.Info, line
}

// maxLine bounds the partial line a LineWriter holds; longer lines are
// emitted in pieces.
const maxLine = 64 << 10

// LineWriter calls a function with every complete line written to it,
// without the trailing newline. It is safe for concurrent use.
type LineWriter struct {
	emit func(string)
	mu   sync.Mutex
	buf  []byte
}

// NewLineWriter returns a LineWriter that calls emit for each line.
func NewLineWriter(emit func(line string)) *LineWriter {
	return &LineWriter{emit: emit}
}

// Write implements io.Writer.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= maxLine {
				w.flushLocked()
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.flushLocked()
		p = p[i+1:]
	}
	return n, nil
}

// Flush emits a pending partial line, if any.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.flushLocked()
	}
}

func (w *LineWriter) flushLocked() {
	line := strings.TrimRight(string(w.buf), "\r")
	w.buf = w.buf[:0]
	if line != "" {
		w.emit(line)
	}
}

// hclogTimeFormat is the timestamp layout go-plugin expects in JSON log lines.
const hclogTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// NewHCLogJSONHandler returns a slog handler that writes one JSON object per
// record in the shape hclog uses ("@level", "@message", "@timestamp"), which
// go-plugin parses from a plugin's stderr into the host's log with the
// record's level and attributes.
func NewHCLogJSONHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTimeFormat))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			case slog.LevelKey:
				lv, _ := a.Value.Any().(slog.Level)
				return slog.String("@level", levelName(lv))
			}
			return a
		},
	})
}

func levelName(lv slog.Level) string {
	switch {
	case lv < slog.LevelDebug:
		return "trace"
	case lv < slog.LevelInfo:
		return "debug"
	case lv < slog.LevelWarn:
		return "info"
	case lv < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}
