// Package filesource is the file source: it replays a message file, as
// the raw file sink writes them (core/msgfile), into a pipeline, message
// by message and frame for frame, as fast as the pipeline takes them or at
// a given rate.
package filesource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/msgfile"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/stage"
)

// Batch limits: a batch is pushed once it holds this many messages or
// bytes.
const (
	maxBatchMessages = 1024
	maxBatchBytes    = 1 << 20
)

// DropTruncated counts the message a file cut short (by a crash of its
// writer) ends inside of.
const DropTruncated = "truncated"

// Kind is the file source kind.
var Kind = stage.Kind{
	Name: "file",
	Description: "Replays a message file written by a raw file sink (sink \"file\" with format = \"raw\") into the pipeline, " +
		"every message frame for frame, then stops.",
	Schema: schema.Schema{Attributes: []schema.Attribute{
		{Name: "path", Type: schema.String, Required: true,
			Description: "The message file (.zpmsg) to replay."},
		{Name: "rate", Type: schema.Number, Default: 0,
			Description: "Messages per second; 0 replays as fast as the pipeline takes them (backpressure paces it)."},
	}},
	Source:   true,
	New:      New,
	Validate: func(raw []byte) error { _, err := parse(raw); return err },
}

type config struct {
	Path string  `json:"path"`
	Rate float64 `json:"rate"`
}

// Source is a running file source.
type Source struct {
	env      stage.Env
	path     string
	rate     float64
	file     *os.File
	reader   *msgfile.Reader
	counters *stage.Counters

	closeOnce sync.Once
	closed    chan struct{}
	done      chan struct{}
}

// New opens the file and checks its magic, so that a wrong path fails the
// pipeline at start rather than later.
func New(env stage.Env, raw []byte) (stage.Stage, error) {
	c, err := parse(raw)
	if err != nil {
		return nil, err
	}
	if env.Out == nil {
		return nil, errors.New("file source: feeds nothing")
	}
	f, err := os.Open(c.Path)
	if err != nil {
		return nil, fmt.Errorf(`attribute "path": %w`, err)
	}
	r, err := msgfile.NewReader(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf(`attribute "path": %s: %w`, c.Path, err)
	}
	return &Source{
		env: env, path: c.Path, rate: c.Rate, file: f, reader: r,
		counters: stage.NewCounters(DropTruncated),
		closed:   make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// Run replays the file into Env.Out until its end, CloseInput or ctx's
// end, then closes the file. A file that ends inside a message (its
// writer was killed) replays every complete message and counts the last
// one dropped as truncated; a malformed file is an error naming the
// offset, after every message before it was passed on.
func (s *Source) Run(ctx context.Context) error {
	defer close(s.done)
	defer s.file.Close()
	start := time.Now()
	var (
		b    message.Batch
		sent int
	)
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		if err := s.env.Out.Push(ctx, &b); err != nil {
			return err
		}
		s.counters.Sent(b.Len())
		sent += b.Len()
		b.Reset()
		return nil
	}
	for {
		select {
		case <-s.closed:
			s.env.Logger.Info("replay stopped before the end of the file", "path", s.path, "messages", sent)
			return flush()
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		err := s.reader.Next(&b)
		switch {
		case err == nil:
			s.counters.Received(1)
		case errors.Is(err, io.EOF):
			if err := flush(); err != nil {
				return err
			}
			s.env.Logger.Info("replay finished", "path", s.path, "messages", sent, "seconds", time.Since(start).Seconds())
			return nil
		case errors.Is(err, io.ErrUnexpectedEOF):
			if err := flush(); err != nil {
				return err
			}
			s.counters.Drop(DropTruncated, 1)
			s.env.Logger.Warn("message file ends inside a message (its writer was cut off); replayed every message before it",
				"path", s.path, "messages", sent, "err", err.Error())
			return nil
		default:
			if ferr := flush(); ferr != nil {
				return ferr
			}
			return fmt.Errorf("replay %s after %d messages: %w", s.path, sent, err)
		}
		if s.rate > 0 {
			// Push what is due, then wait until the next message is.
			if err := flush(); err != nil {
				return err
			}
			due := start.Add(time.Duration(float64(sent) / s.rate * float64(time.Second)))
			if err := sleepUntil(ctx, s.closed, due); err != nil {
				return err
			}
			continue
		}
		if b.Len() >= maxBatchMessages || b.Bytes() >= maxBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// sleepUntil waits until t, CloseInput (closed) or ctx's end (its error).
func sleepUntil(ctx context.Context, closed <-chan struct{}, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-closed:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Push is not used: a source has no input.
func (s *Source) Push(context.Context, *message.Batch) error {
	return errors.New("file source: has no input")
}

// CloseInput stops the replay at the next message.
func (s *Source) CloseInput() { s.closeOnce.Do(func() { close(s.closed) }) }

// Stats returns the source's counters: Received counts messages read,
// Sent those passed on.
func (s *Source) Stats() stage.Stats { return s.counters.Stats() }

var _ stage.Stage = (*Source)(nil)

// parse decodes and checks a configuration, naming the attribute at fault.
func parse(raw []byte) (config, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("file source: %w", err)
	}
	if c.Path == "" {
		return c, errors.New(`attribute "path": required`)
	}
	if c.Rate < 0 {
		return c, fmt.Errorf(`attribute "rate": want 0 or more messages per second, have %v`, c.Rate)
	}
	return c, nil
}
