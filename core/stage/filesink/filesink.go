// Package filesink is the file sink: it writes what reaches it to files,
// as Zeek's logger does for log batches (tsv, json: one file per log path,
// rotated), as JSON lines of decoded events and log records (jsonl), or as
// raw multipart messages that a file source can replay (raw).
package filesink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/logfile"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/msgfile"
	"github.com/zpipe/zpipe/core/ratelog"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/stage"
)

// Formats of the file sink.
const (
	FormatTSV   = "tsv"
	FormatJSON  = "json"
	FormatJSONL = "jsonl"
	FormatRaw   = "raw"
)

// Drop reasons of the file sink.
const (
	// DropNotLog: a tsv or json file sink got a message that is not a log
	// batch (an event).
	DropNotLog = "not_log"
	// DropWriteFailed: writing to the file failed.
	DropWriteFailed = "write_failed"
	// DropInvalidPath: a log batch's path is not a plain log path, or
	// could name a rotated file.
	DropInvalidPath = "invalid_path"
	// DropTooManyPaths: a log batch for a new path came when max_paths
	// paths had active files.
	DropTooManyPaths = "too_many_paths"
)

// dropReasons are the reasons the file sink drops for.
var dropReasons = []string{DropNotLog, stage.DropNoCodec, stage.DropMalformed, DropInvalidPath, DropTooManyPaths, DropWriteFailed}

// Kind is the file sink kind.
var Kind = stage.Kind{
	Name: "file",
	Description: "Writes to files: Zeek's log files from log batches (tsv or json, one file per log path, rotated), " +
		"decoded events and log records as JSON lines (jsonl), or every message raw (raw).",
	Sink: true,
	Schema: schema.Schema{Attributes: []schema.Attribute{
		{Name: "dir", Type: schema.String, Required: true, Description: "Directory of the files; created if missing."},
		{Name: "format", Type: schema.String, Default: FormatTSV, OneOf: []string{FormatTSV, FormatJSON, FormatJSONL, FormatRaw},
			Description: "tsv: Zeek's ASCII logs; json: Zeek's JSON logs; jsonl: decoded events and records, one JSON object per line; raw: every message, replayable."},
		{Name: "rotate_interval", Type: schema.Duration, Default: "0s",
			Description: "tsv, json: rotate each log file after this long (0: never), renaming it <path>.<open>-<close>.log."},
		{Name: "rotate_size", Type: schema.Number, Default: 0,
			Description: "tsv, json: rotate a log file once it holds this many bytes (0: no limit)."},
		{Name: "max_open_files", Type: schema.Number, Default: logfile.DefaultMaxOpenFiles,
			Description: "tsv, json: log files kept open at most; the least recently written is closed (not rotated) and reopened for its next batch. Lowered, with a warning, to half the descriptor limit (RLIMIT_NOFILE)."},
		{Name: "max_paths", Type: schema.Number, Default: logfile.DefaultMaxPaths,
			Description: "tsv, json: log paths with an active file at most; a batch for another path is dropped (too_many_paths) until a rotation by time (or a restart) frees the slots. Paths must be plain log paths (letters, digits, _ - .), else their batches are dropped (invalid_path)."},
		{Name: "file", Type: schema.String, Default: "",
			Description: "jsonl, raw: the file's name in dir (default: the sink's name with .jsonl or .zpmsg)."},
	}},
	New: New,
}

type config struct {
	Dir            string  `json:"dir"`
	Format         string  `json:"format"`
	RotateInterval string  `json:"rotate_interval"`
	RotateSize     float64 `json:"rotate_size"`
	MaxOpenFiles   float64 `json:"max_open_files"`
	MaxPaths       float64 `json:"max_paths"`
	File           string  `json:"file"`
}

// Sink is a running file sink.
type Sink struct {
	stage.Sync
	env      stage.Env
	cfg      config
	counters *stage.Counters
	limiter  *ratelog.Limiter            // write and rotation failures
	limiters map[string]*ratelog.Limiter // drops, by reason

	interval time.Duration // tsv, json: rotation interval

	mu   sync.Mutex
	logs *logfile.Writer // tsv, json
	file *os.File        // jsonl, raw
	buf  []byte
}

// New makes a file sink; it creates the directory and, for jsonl and raw,
// opens the file for appending.
func New(env stage.Env, raw []byte) (stage.Stage, error) {
	// The runtime fills in every attribute; defaults here serve callers
	// that leave some out.
	c := config{MaxOpenFiles: logfile.DefaultMaxOpenFiles, MaxPaths: logfile.DefaultMaxPaths}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if c.Dir == "" {
		return nil, errors.New(`attribute "dir": a directory is required`)
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("attribute \"dir\": %w", err)
	}
	s := &Sink{
		env: env, cfg: c,
		counters: stage.NewCounters(dropReasons...),
		limiter:  ratelog.New(env.Logger, ratelog.DefaultInterval),
		limiters: make(map[string]*ratelog.Limiter, len(dropReasons)),
	}
	for _, r := range dropReasons {
		s.limiters[r] = ratelog.New(env.Logger, ratelog.DefaultInterval)
	}
	if c.Format != FormatRaw && env.Codecs == nil {
		return nil, fmt.Errorf("format %q decodes payloads, and no codecs are available (no zpipe-codec-* plugin found)", c.Format)
	}
	switch c.Format {
	case FormatTSV, FormatJSON:
		interval, err := time.ParseDuration(c.RotateInterval)
		if err != nil || interval < 0 {
			return nil, fmt.Errorf("attribute \"rotate_interval\": %q is not a duration of 0s or more", c.RotateInterval)
		}
		if c.RotateSize < 0 || c.RotateSize != float64(int64(c.RotateSize)) {
			return nil, fmt.Errorf("attribute \"rotate_size\": want a whole number of bytes, have %v", c.RotateSize)
		}
		maxOpen, maxPaths, err := logLimits(c, env.Logger)
		if err != nil {
			return nil, err
		}
		w, err := logfile.New(logfile.Config{Dir: c.Dir, Format: c.Format, RotateInterval: interval, RotateSize: int64(c.RotateSize),
			MaxOpenFiles: maxOpen, MaxPaths: maxPaths, Logger: env.Logger})
		if err != nil {
			return nil, err
		}
		s.logs, s.interval = w, interval
	case FormatJSONL, FormatRaw:
		name := c.File
		if name == "" {
			name = componentName(env.Component) + map[string]string{FormatJSONL: ".jsonl", FormatRaw: ".zpmsg"}[c.Format]
		}
		if filepath.Base(name) != name {
			return nil, fmt.Errorf("attribute \"file\": %q must be a file name inside dir, without directories", name)
		}
		f, err := os.OpenFile(filepath.Join(c.Dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		if c.Format == FormatRaw {
			st, err := f.Stat()
			if err == nil && st.Size() == 0 {
				_, err = f.Write([]byte(msgfile.Magic))
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("file: %s: %w", f.Name(), err)
			}
		}
		s.file = f
	default:
		return nil, fmt.Errorf("attribute \"format\": %q is not one of tsv, json, jsonl, raw", c.Format)
	}
	return s, nil
}

// componentName returns NAME of "sink.KIND.NAME".
func componentName(component string) string {
	for i := len(component) - 1; i >= 0; i-- {
		if component[i] == '.' {
			return component[i+1:]
		}
	}
	return component
}

// Stats returns the sink's counters.
func (s *Sink) Stats() stage.Stats { return s.counters.Stats() }

// Push writes the messages of b. Every line or message of a batch goes out
// in one write, so a crash never leaves half of one in the file.
func (s *Sink) Push(ctx context.Context, b *message.Batch) error {
	s.counters.Received(b.Len())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Format == FormatRaw {
		s.buf = msgfile.AppendBatch(s.buf[:0], b)
		return s.write(b.Len())
	}
	if s.logs != nil {
		return s.pushLogs(ctx, b)
	}
	msgs, err := s.env.Codecs.DecodeMessages(ctx, b, registry.PassUndecoded)
	if err != nil {
		return fmt.Errorf("file: decode: %w", err)
	}
	s.buf = s.buf[:0]
	written := 0
	for i := range msgs {
		if s.handle(&msgs[i]) {
			written++
		}
	}
	return s.write(written)
}

// handle writes a decoded message, or counts why it is dropped, and
// reports whether it was written (for jsonl: rendered into s.buf).
func (s *Sink) handle(m *registry.Message) bool {
	switch {
	case m.Undecoded && m.Format == "":
		s.drop(stage.DropMalformed, "message without Zeek's four frames")
	case m.Undecoded:
		s.drop(stage.DropNoCodec, "no codec decodes the format", "format", m.Format)
	case m.Err != nil:
		s.drop(stage.DropMalformed, "payload does not decode", "format", m.Format, "err", m.Err.Error())
	case s.logs != nil && m.Log == nil:
		s.drop(DropNotLog, "not a log batch", "topic", m.Topic)
	case s.logs != nil:
		if err := s.logs.Write(m.Log); err != nil {
			s.rejected(m.Log, err)
			return false
		}
		return true
	case m.Event != nil:
		s.buf = jsonl.AppendEvent(s.buf, jsonl.Envelope{Time: time.Now(), Topic: m.Topic, Sender: m.Sender, Format: m.Format}, m.Event)
		return true
	case m.Log != nil:
		s.buf = jsonl.AppendLog(s.buf, m.Log, jsonl.LogOptions{Path: true})
		return true
	}
	return false
}

// write writes s.buf, holding n messages, to the file.
func (s *Sink) write(n int) error {
	if len(s.buf) == 0 {
		return nil
	}
	if _, err := s.file.Write(s.buf); err != nil {
		s.counters.Drop(DropWriteFailed, n)
		s.limiter.Warn("write failed; messages dropped", "file", s.file.Name(), "err", err.Error())
		return nil
	}
	s.counters.Sent(n)
	return nil
}

// drop counts a message dropped for reason and logs it, at most once per
// interval for each reason.
func (s *Sink) drop(reason, what string, args ...any) {
	s.counters.Drop(reason, 1)
	s.limiters[reason].Warn(what+"; dropped", args...)
}

// rotateCheck is how often a sink that rotates by time checks for log
// files due, so that a quiet log still rotates on time.
const rotateCheck = time.Second

// Run rotates quiet log files when due until the end of the input, then
// closes the files (a TSV log gets its #close line), synced to disk.
func (s *Sink) Run(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.Sync.Run(ctx) }()
	var tick <-chan time.Time
	if s.logs != nil && s.interval > 0 {
		t := time.NewTicker(rotateCheck)
		defer t.Stop()
		tick = t.C
	}
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-tick:
			s.mu.Lock()
			if rerr := s.logs.RotateDue(); rerr != nil {
				s.limiter.Warn("rotation failed", "err", rerr.Error())
			}
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.logs != nil {
		errs = append(errs, s.logs.Close())
	}
	if s.file != nil {
		errs = append(errs, s.file.Sync(), s.file.Close())
	}
	if e := errors.Join(errs...); e != nil {
		return fmt.Errorf("file: close: %w", e)
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
