// Package filter is the filter stage: it keeps the messages that match
// topic prefixes (frame 0), formats (frame 2), event names or log paths
// (decoded from the payload), and drops the rest, counted as "filtered".
package filter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/ratelog"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/stage"
)

// Kind is the filter stage kind.
var Kind = stage.Kind{
	Name: "filter",
	Description: "Keeps messages whose topic, format, event name or log path matches; drops the rest (counted as filtered). " +
		"Every condition given must hold; an empty list is no condition.",
	Schema: schema.Schema{Attributes: []schema.Attribute{
		{Name: "topics", Type: schema.ListString, Default: []string{},
			Description: "Keep messages whose topic (frame 0) starts with one of these prefixes."},
		{Name: "exclude_topics", Type: schema.ListString, Default: []string{},
			Description: "Drop messages whose topic starts with one of these prefixes."},
		{Name: "formats", Type: schema.ListString, Default: []string{},
			Description: "Keep messages whose format (frame 2) is one of these."},
		{Name: "events", Type: schema.ListString, Default: []string{},
			Description: "Keep events with one of these names (decodes the payload; log batches do not match)."},
		{Name: "log_paths", Type: schema.ListString, Default: []string{},
			Description: "Keep log batches for one of these paths, e.g. conn (decodes the payload; events do not match)."},
	}},
	New: New,
}

type config struct {
	Topics        []string `json:"topics"`
	ExcludeTopics []string `json:"exclude_topics"`
	Formats       []string `json:"formats"`
	Events        []string `json:"events"`
	LogPaths      []string `json:"log_paths"`
}

// Stage is a running filter.
type Stage struct {
	stage.Sync
	env      stage.Env
	cfg      config
	topics   [][]byte
	exclude  [][]byte
	decode   bool
	counters *stage.Counters
	limiter  *ratelog.Limiter
}

// New makes a filter stage.
func New(env stage.Env, raw []byte) (stage.Stage, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	s := &Stage{
		env: env, cfg: c,
		decode:   len(c.Events) > 0 || len(c.LogPaths) > 0,
		counters: stage.NewCounters(stage.DropFiltered, stage.DropNoCodec, stage.DropMalformed),
		limiter:  ratelog.New(env.Logger, ratelog.DefaultInterval),
	}
	for _, t := range c.Topics {
		s.topics = append(s.topics, []byte(t))
	}
	for _, t := range c.ExcludeTopics {
		s.exclude = append(s.exclude, []byte(t))
	}
	if s.decode && env.Codecs == nil {
		return nil, errors.New(`attributes "events" and "log_paths" decode payloads, and no codecs are available (no zpipe-codec-* plugin found)`)
	}
	return s, nil
}

// Stats returns the stage's counters.
func (s *Stage) Stats() stage.Stats { return s.counters.Stats() }

func hasPrefix(frame []byte, prefixes [][]byte) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(frame, p) {
			return true
		}
	}
	return false
}

// framesMatch applies the conditions on frames.
func (s *Stage) framesMatch(it *message.Iter) bool {
	if it.NumFrames() == 0 {
		return false
	}
	topic := it.Frame(0)
	if len(s.topics) > 0 && !hasPrefix(topic, s.topics) {
		return false
	}
	if hasPrefix(topic, s.exclude) {
		return false
	}
	if len(s.cfg.Formats) > 0 && (it.NumFrames() != 4 || !slices.Contains(s.cfg.Formats, string(it.Frame(2)))) {
		return false
	}
	return true
}

// Push passes on the messages of b that match.
func (s *Stage) Push(ctx context.Context, b *message.Batch) error {
	s.counters.Received(b.Len())
	var out message.Batch
	if !s.decode {
		for it := b.Iter(); it.Next(); {
			if s.framesMatch(&it) {
				out.AppendFrom(b, &it)
			}
		}
		s.counters.Drop(stage.DropFiltered, b.Len()-out.Len())
		return s.send(ctx, &out)
	}
	// Payload conditions: decode the candidates only.
	var candidates message.Batch
	for it := b.Iter(); it.Next(); {
		if s.framesMatch(&it) {
			candidates.AppendFrom(b, &it)
		}
	}
	s.counters.Drop(stage.DropFiltered, b.Len()-candidates.Len())
	msgs, err := s.env.Codecs.DecodeMessages(ctx, &candidates, registry.PassUndecoded)
	if err != nil {
		return fmt.Errorf("filter: decode: %w", err)
	}
	keep := make([]bool, candidates.Len())
	for _, m := range msgs {
		switch {
		case m.Undecoded && m.Format == "":
			s.counters.Drop(stage.DropMalformed, 1)
			s.limiter.Warn("message without Zeek's four frames; dropped")
		case m.Undecoded:
			s.counters.Drop(stage.DropNoCodec, 1)
			s.limiter.Warn("no codec decodes the format; dropped", "format", m.Format)
		case m.Err != nil:
			s.counters.Drop(stage.DropMalformed, 1)
			s.limiter.Warn("payload does not decode; dropped", "format", m.Format, "err", m.Err.Error())
		case m.Event != nil && slices.Contains(s.cfg.Events, m.Event.Name),
			m.Log != nil && slices.Contains(s.cfg.LogPaths, m.Log.Path):
			keep[m.Index] = true
		default:
			s.counters.Drop(stage.DropFiltered, 1)
		}
	}
	for it := candidates.Iter(); it.Next(); {
		if keep[it.Index()] {
			out.AppendFrom(&candidates, &it)
		}
	}
	return s.send(ctx, &out)
}

func (s *Stage) send(ctx context.Context, out *message.Batch) error {
	if out.Len() == 0 {
		return nil
	}
	if err := s.env.Out.Push(ctx, out); err != nil {
		return err
	}
	s.counters.Sent(out.Len())
	return nil
}
