// Package transcode is the transcode stage: it re-encodes the payload
// (frame 3) of Zeek-shaped messages from their format (frame 2) into
// another one, through the codecs, and rewrites frame 2 to match.
package transcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/ratelog"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/stage"
)

// Values of the unhandled attribute.
const (
	Pass = "pass"
	Drop = "drop"
)

// Kind is the transcode stage kind.
var Kind = stage.Kind{
	Name:        "transcode",
	Description: "Re-encodes payloads from their format (frame 2) into another, e.g. broker-bin-v1 into broker-json-v1.",
	Schema: schema.Schema{Attributes: []schema.Attribute{
		{Name: "to", Type: schema.String, Required: true,
			Description: "Format to encode into (a format a codec plugin encodes: zpipe plugins -v)."},
		{Name: "from", Type: schema.ListString, Default: []string{},
			Description: "Formats to re-encode; messages of other formats pass unchanged. Empty: every format."},
		{Name: "unhandled", Type: schema.String, Default: Pass, OneOf: []string{Pass, Drop},
			Description: "Messages whose format no codec decodes, or without Zeek's four frames: pass them on unchanged, or drop them (counted as no_codec or malformed)."},
	}},
	NeedsCodecs: true,
	New:         New,
}

type config struct {
	To        string   `json:"to"`
	From      []string `json:"from"`
	Unhandled string   `json:"unhandled"`
}

// Stage is a running transcode stage.
type Stage struct {
	stage.Sync
	env      stage.Env
	cfg      config
	counters *stage.Counters
	limiter  *ratelog.Limiter
}

// New makes a transcode stage. It fails if no codec encodes the target
// format, so a pipeline does not start with a transcode that cannot work.
func New(env stage.Env, raw []byte) (stage.Stage, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("transcode: %w", err)
	}
	if env.Codecs == nil {
		return nil, errors.New("transcode: no codecs available (no zpipe-codec-* plugin found)")
	}
	if c.To == "" {
		return nil, errors.New(`attribute "to": a format name is required`)
	}
	if _, err := env.Codecs.Lookup(context.Background(), c.To, registry.OpEncode); err != nil {
		return nil, fmt.Errorf("attribute \"to\": %w", err)
	}
	return &Stage{
		env: env, cfg: c,
		counters: stage.NewCounters(stage.DropNoCodec, stage.DropMalformed, stage.DropEncodeFailed),
		limiter:  ratelog.New(env.Logger, ratelog.DefaultInterval),
	}, nil
}

// Stats returns the stage's counters.
func (s *Stage) Stats() stage.Stats { return s.counters.Stats() }

// outcome of one message.
type outcome struct {
	keep       bool // pass on (original or transcoded)
	transcoded bool // payload replaces frame 3
	payload    []byte
}

// Push transcodes the messages of b that need it and passes the batch on
// in its original order.
func (s *Stage) Push(ctx context.Context, b *message.Batch) error {
	s.counters.Received(b.Len())
	outcomes := make([]outcome, b.Len())
	type group struct {
		idx      []int
		payloads batch.Items
	}
	groups := map[string]*group{}
	var order []string
	for it := b.Iter(); it.Next(); {
		i := it.Index()
		if it.NumFrames() != 4 {
			outcomes[i].keep = s.unhandled(stage.DropMalformed, "message without Zeek's four frames", "frames", it.NumFrames())
			continue
		}
		format := string(it.Frame(2))
		if format == s.cfg.To || (len(s.cfg.From) > 0 && !slices.Contains(s.cfg.From, format)) {
			outcomes[i].keep = true
			continue
		}
		g, ok := groups[format]
		if !ok {
			g = &group{}
			groups[format] = g
			order = append(order, format)
		}
		g.idx = append(g.idx, i)
		g.payloads.Append(it.Frame(3))
	}
	var results []registry.Transcoded
	for _, format := range order {
		g := groups[format]
		var err error
		results, err = s.env.Codecs.Transcode(ctx, format, s.cfg.To, &g.payloads, results)
		if errors.Is(err, batch.ErrUnknownFormat) {
			for _, i := range g.idx {
				outcomes[i].keep = s.unhandled(stage.DropNoCodec, "no codec decodes the format", "format", format)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("transcode %s to %s: %w", format, s.cfg.To, err)
		}
		for k, r := range results {
			i := g.idx[k]
			switch {
			case r.DecodeErr != nil:
				s.counters.Drop(stage.DropMalformed, 1)
				s.limiter.Warn("payload does not decode; dropped", "format", format, "err", r.DecodeErr.Error())
			case r.EncodeErr != nil:
				s.counters.Drop(stage.DropEncodeFailed, 1)
				s.limiter.Warn("payload cannot be encoded in the target format; dropped", "from", format, "to", s.cfg.To, "err", r.EncodeErr.Error())
			default:
				// Copied: results alias a buffer reused by the next group.
				outcomes[i] = outcome{keep: true, transcoded: true, payload: slices.Clone(r.Payload)}
			}
		}
	}
	var out message.Batch
	var frames [][]byte
	to := []byte(s.cfg.To)
	for it := b.Iter(); it.Next(); {
		o := outcomes[it.Index()]
		switch {
		case !o.keep:
		case o.transcoded:
			frames = it.Frames(frames[:0])
			out.Append(frames[0], frames[1], to, o.payload)
		default:
			out.AppendFrom(b, &it)
		}
	}
	if out.Len() == 0 {
		return nil
	}
	if err := s.env.Out.Push(ctx, &out); err != nil {
		return err
	}
	s.counters.Sent(out.Len())
	return nil
}

// unhandled applies the unhandled policy to one message and reports
// whether it is kept.
func (s *Stage) unhandled(reason, what string, args ...any) bool {
	if s.cfg.Unhandled == Pass {
		s.counters.Undecoded(1)
		return true
	}
	s.counters.Drop(reason, 1)
	s.limiter.Warn(what+"; dropped", args...)
	return false
}
