// Package registry maps payload format names to the codecs that handle
// them, and decodes and encodes through them at the level of values.
//
// Codecs come from sources, in order: typically one per codec plugin found
// in the plugin directories (core/plugin.CodecSources), so that the first
// plugin found wins a format two plugins announce; the conflict is logged.
// Sources are started lazily, one at a time, until one announces the format
// asked for: looking up broker-bin-v1 starts zpipe-codec-zeek and nothing
// else when it comes first.
//
// A message whose format no codec decodes is never an error of the batch it
// came in: DecodeMessages counts it and passes it on undecoded or drops it,
// as the caller says.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/zpipe/zpipe/core/codec/batch"
)

// Op is what a format is looked up for.
type Op int

// Operations.
const (
	OpDecode Op = iota
	OpEncode
)

func (op Op) String() string {
	if op == OpDecode {
		return "decode"
	}
	return "encode"
}

// Source is a codec the registry starts when it needs one.
type Source struct {
	// Name names the codec in logs and errors, e.g. "codec-zeek".
	Name string
	// Start starts the codec. The registry calls it at most once.
	Start func(ctx context.Context) (batch.Codec, error)
}

// LocalSource returns a source of a codec that runs in process.
func LocalSource(name string, c batch.Codec) Source {
	return Source{Name: name, Start: func(context.Context) (batch.Codec, error) { return c, nil }}
}

// Entry is a format the registry knows, for one operation, and the codec
// that handles it.
type Entry struct {
	Name string
	Op   Op
	// Kinds lists what the format's payloads hold.
	Kinds []batch.Kind
	// Source is the name of the source whose codec handles it.
	Source string
	// Description says what the format is.
	Description string
	// Renders lists the targets the codec renders the format's log
	// batches to (decode entries only; see batch.Renderer).
	Renders []string

	codec batch.Codec
}

// renders reports whether the codec of e renders the format into target.
func (e *Entry) renders(target string) bool {
	if _, ok := e.codec.(batch.Renderer); !ok || e.Op != OpDecode {
		return false
	}
	return slices.Contains(e.Renders, target)
}

// Codec returns the codec that handles the format.
func (e *Entry) Codec() batch.Codec { return e.codec }

type entryKey struct {
	name string
	op   Op
}

// Registry maps format names to codecs. It is safe for concurrent use.
type Registry struct {
	log *slog.Logger

	mu       sync.Mutex
	sources  []Source
	next     int // index of the next source to start
	started  []batch.Codec
	entries  map[entryKey]*Entry
	failures []error
	stats    counters
}

// New returns a registry of the codecs of sources, in order. A nil logger
// discards.
func New(log *slog.Logger, sources ...Source) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{log: log, sources: sources, entries: make(map[entryKey]*Entry), stats: newCounters()}
}

// Started returns the codecs started so far, in starting order.
func (r *Registry) Started() []batch.Codec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]batch.Codec(nil), r.started...)
}

// Lookup returns the entry of the codec that handles format for op,
// starting sources in order until one announces it. It fails with an error
// wrapping batch.ErrUnknownFormat, listing the formats known and the
// sources that failed to start, if none does.
func (r *Registry) Lookup(ctx context.Context, format string, op Op) (*Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.find(ctx, entryKey{format, op}); e != nil {
		return e, nil
	}
	return nil, r.unknown(format, op)
}

// find returns the entry of key, starting sources until one announces it;
// nil if none does. r.mu is held.
func (r *Registry) find(ctx context.Context, key entryKey) *Entry {
	for {
		if e, ok := r.entries[key]; ok {
			return e
		}
		if r.next >= len(r.sources) {
			return nil
		}
		r.startNext(ctx)
	}
}

// decoder returns the entry decoding format, or nil.
func (r *Registry) decoder(ctx context.Context, format string) *Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.find(ctx, entryKey{format, OpDecode})
}

// Load starts every source not started yet and returns every entry, sorted
// by name and operation, together with the errors of sources that failed to
// start.
func (r *Registry) Load(ctx context.Context) ([]Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.next < len(r.sources) {
		r.startNext(ctx)
	}
	out := make([]Entry, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Op < out[j].Op
	})
	return out, errors.Join(r.failures...)
}

// startNext starts the next source and registers its formats. The first
// codec to announce a format for an operation keeps it.
func (r *Registry) startNext(ctx context.Context) {
	src := r.sources[r.next]
	r.next++
	c, err := src.Start(ctx)
	if err != nil {
		r.failures = append(r.failures, fmt.Errorf("codec %s: %w", src.Name, err))
		r.log.Error("codec failed to start", "codec", src.Name, "err", err.Error())
		return
	}
	r.started = append(r.started, c)
	d, err := c.Describe(ctx)
	if err != nil {
		r.failures = append(r.failures, fmt.Errorf("codec %s: %w", src.Name, err))
		r.log.Error("codec failed to describe itself", "codec", src.Name, "err", err.Error())
		return
	}
	mine := make(map[entryKey]bool)
	for _, f := range d.Formats {
		for _, o := range []struct {
			op      Op
			offered bool
		}{{OpDecode, f.Decode}, {OpEncode, f.Encode}} {
			op := o.op
			if !o.offered {
				continue
			}
			key := entryKey{f.Name, op}
			if e, ok := r.entries[key]; ok && !mine[key] {
				r.log.Warn("format handled by an earlier codec; ignoring this one", "format", f.Name, "op", op.String(),
					"codec", src.Name, "kept", e.Source)
				continue
			}
			e, ok := r.entries[key]
			if !ok {
				e = &Entry{Name: f.Name, Op: op, Source: src.Name, Description: f.Description, codec: c}
				r.entries[key] = e
				mine[key] = true
			}
			e.Kinds = append(e.Kinds, f.Kind)
			if op == OpDecode {
				e.Renders = append(e.Renders, f.Renders...)
			}
		}
	}
	r.log.Debug("codec started", "codec", src.Name, "version", d.Version, "formats", len(d.Formats))
}

func (r *Registry) unknown(format string, op Op) error {
	var known []string
	for k := range r.entries {
		if k.op == op {
			known = append(known, k.name)
		}
	}
	sort.Strings(known)
	msg := fmt.Sprintf("no codec can %s format %q", op, format)
	if len(known) > 0 {
		msg += fmt.Sprintf(" (formats known: %s)", strings.Join(known, ", "))
	} else {
		msg += " (no codec offers any)"
	}
	err := fmt.Errorf("%s: %w", msg, batch.ErrUnknownFormat)
	if len(r.failures) > 0 {
		err = fmt.Errorf("%w; %w", err, errors.Join(r.failures...))
	}
	return err
}

// Close shuts down the codecs the registry started that can be shut down
// (plugin hosts).
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, c := range r.started {
		if s, ok := c.(interface{ Shutdown() error }); ok {
			errs = append(errs, s.Shutdown())
		}
	}
	r.started = nil
	return errors.Join(errs...)
}
