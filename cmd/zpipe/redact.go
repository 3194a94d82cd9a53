package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/zpipe/zpipe/core/config"
)

// redactor hides the values of sensitive variables in what zpipe prints:
// errors and log lines, once a configuration is loaded.
type redactor struct {
	cfg atomic.Pointer[config.Config]
}

// use makes r hide the sensitive values of cfg.
func (r *redactor) use(cfg *config.Config) { r.cfg.Store(cfg) }

func (r *redactor) redact(s string) string { return r.cfg.Load().Redact(s) }

// redactHandler passes records to the handler it wraps with sensitive
// values hidden in the message and in every attribute value that prints as
// text. Attributes and groups added with WithAttrs and WithGroup are kept
// as given and applied, redacted, once the configuration is known, so that
// a logger made before the configuration was loaded hides its values too.
type redactHandler struct {
	base slog.Handler
	r    *redactor
	// with are the WithAttrs and WithGroup calls, in order.
	with []withCall
	// built is the base with those calls applied, for one configuration.
	built *atomic.Pointer[builtHandler]
}

// withCall is one WithAttrs (group empty) or WithGroup call.
type withCall struct {
	attrs []slog.Attr
	group string
}

type builtHandler struct {
	cfg *config.Config
	h   slog.Handler
}

func newRedactHandler(base slog.Handler, r *redactor) redactHandler {
	return redactHandler{base: base, r: r, built: new(atomic.Pointer[builtHandler])}
}

// handler returns the base handler with the With calls applied, redacted
// for the current configuration.
func (h redactHandler) handler() slog.Handler {
	cfg := h.r.cfg.Load()
	if b := h.built.Load(); b != nil && b.cfg == cfg {
		return b.h
	}
	next := h.base
	for _, w := range h.with {
		if w.group != "" {
			next = next.WithGroup(w.group)
			continue
		}
		red := make([]slog.Attr, len(w.attrs))
		for i, a := range w.attrs {
			red[i] = h.attr(a)
		}
		next = next.WithAttrs(red)
	}
	h.built.Store(&builtHandler{cfg: cfg, h: next})
	return next
}

func (h redactHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.base.Enabled(ctx, level)
}

func (h redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.handler().Handle(ctx, out)
}

func (h redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.plus(withCall{attrs: attrs})
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.plus(withCall{group: name})
}

func (h redactHandler) plus(w withCall) redactHandler {
	with := append(append([]withCall(nil), h.with...), w)
	return redactHandler{base: h.base, r: h.r, with: with, built: new(atomic.Pointer[builtHandler])}
}

// attr redacts one attribute: strings, groups, and values of other kinds
// whose text holds a sensitive value (which then print as redacted text).
func (h redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.redact(v.String()))
	case slog.KindGroup:
		group := v.Group()
		red := make([]any, len(group))
		for i, g := range group {
			red[i] = h.attr(g)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		var text string
		if err, ok := v.Any().(error); ok {
			text = err.Error()
		} else {
			text = fmt.Sprint(v.Any())
		}
		if red := h.r.redact(text); red != text {
			return slog.String(a.Key, red)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
