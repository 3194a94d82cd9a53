// Package subscribe is the subscribe stage: it subscribes the XSUB sources
// upstream of it to topic prefixes of its own, so that a pipeline can
// receive from a cluster what no downstream subscriber asked for — the
// way a Zeek node subscribes to its topics at start — and passes every
// message on unchanged.
package subscribe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/stage"
)

// Kind is the subscribe stage kind.
var Kind = stage.Kind{
	Name: "subscribe",
	Description: "Subscribes the upstream XSUB sources to topic prefixes when the pipeline starts and unsubscribes " +
		"them when it stops; passes every message on unchanged.",
	Schema: schema.Schema{Attributes: []schema.Attribute{
		{Name: "topics", Type: schema.ListString, Default: []string{},
			Description: `Topic prefixes to subscribe to; "" is every topic. At least one.`},
	}},
	New:      New,
	Validate: func(raw []byte) error { _, err := parse(raw); return err },
}

type config struct {
	Topics []string `json:"topics"`
}

// Stage is a running subscribe stage.
type Stage struct {
	env      stage.Env
	topics   []string
	counters *stage.Counters

	closeOnce sync.Once
	closed    chan struct{}
}

// New makes a subscribe stage. It needs Env.Upstream: a stage that
// subscribes nothing would be a silent no-op.
func New(env stage.Env, raw []byte) (stage.Stage, error) {
	c, err := parse(raw)
	if err != nil {
		return nil, err
	}
	if env.Upstream == nil {
		return nil, errors.New("subscribe: no subscription-accepting source (xsub) upstream of this stage to subscribe")
	}
	if env.Out == nil {
		return nil, errors.New("subscribe: no output to pass messages on to")
	}
	return &Stage{env: env, topics: c.Topics, counters: stage.NewCounters(), closed: make(chan struct{})}, nil
}

// Topics returns the prefixes the stage subscribes to.
func (s *Stage) Topics() []string { return append([]string(nil), s.topics...) }

// Run subscribes, waits for CloseInput, then unsubscribes. When ctx ends
// first it returns ctx's error without unsubscribing: the sockets closing
// end the subscriptions anyway.
func (s *Stage) Run(ctx context.Context) error {
	if err := s.send(ctx, true); err != nil {
		return err
	}
	s.env.Logger.Info("subscribed upstream", "topics", s.topics)
	select {
	case <-s.closed:
		return s.send(ctx, false)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Stage) send(ctx context.Context, subscribe bool) error {
	var b message.Batch
	for _, t := range s.topics {
		b.Append(message.SubscriptionFrame(subscribe, []byte(t)))
	}
	if err := s.env.Upstream.Push(ctx, &b); err != nil {
		if subscribe {
			return fmt.Errorf("subscribe to %q: %w", s.topics, err)
		}
		return fmt.Errorf("unsubscribe from %q: %w", s.topics, err)
	}
	return nil
}

// Push passes b on unchanged.
func (s *Stage) Push(ctx context.Context, b *message.Batch) error {
	n := b.Len()
	s.counters.Received(n)
	if n == 0 {
		return nil
	}
	if err := s.env.Out.Push(ctx, b); err != nil {
		return err
	}
	s.counters.Sent(n)
	return nil
}

// CloseInput says that no more Push calls will come; Run then
// unsubscribes and returns.
func (s *Stage) CloseInput() { s.closeOnce.Do(func() { close(s.closed) }) }

// Stats returns the stage's counters; it drops nothing.
func (s *Stage) Stats() stage.Stats { return s.counters.Stats() }

var _ stage.Stage = (*Stage)(nil)

// parse decodes and checks a configuration, naming the attribute at fault.
func parse(raw []byte) (config, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("subscribe: %w", err)
	}
	if len(c.Topics) == 0 {
		return c, errors.New(`attribute "topics": at least one topic prefix is required ("" subscribes to everything)`)
	}
	return c, nil
}
