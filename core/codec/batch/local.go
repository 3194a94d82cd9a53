package batch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/codec/zmsgpack"
	"github.com/zpipe/zpipe/core/value"
)

// Handler decodes payloads of one format into zpipe-msgpack-v1 documents
// and encodes documents into payloads, one at a time.
type Handler struct {
	// Name is the format name, such as "broker-bin-v1".
	Name string
	// Description says what the format is, for people.
	Description string
	// Kinds lists what the format's payloads hold.
	Kinds []Kind
	// Decode appends the document of payload to dst; nil if the format is
	// not decoded.
	Decode func(dst, payload []byte) ([]byte, error)
	// Encode appends the payload of doc to dst; nil if the format is not
	// encoded.
	Encode func(dst, doc []byte) ([]byte, error)
	// Renders maps the targets the format's log batches render to (see
	// Renderer) to a function making a renderer; nil if none.
	Renders map[string]func() LogRenderer
}

// EventHandler returns the handler of an event codec.
func EventHandler(c codec.EventCodec, description string) Handler {
	return Handler{
		Name:        c.Format(),
		Description: description,
		Kinds:       []Kind{KindEvent},
		Decode: func(dst, payload []byte) ([]byte, error) {
			ev, err := c.DecodeEvent(payload)
			if err != nil {
				return dst, err
			}
			return zmsgpack.AppendEvent(dst, &ev)
		},
		Encode: func(dst, doc []byte) ([]byte, error) {
			ev, err := zmsgpack.DecodeEvent(doc)
			if err != nil {
				return dst, fmt.Errorf("document: %w", err)
			}
			return c.AppendEvent(dst, &ev)
		},
	}
}

// LogHandler returns the handler of a log batch codec.
func LogHandler(c codec.LogCodec, description string) Handler {
	return Handler{
		Name:        c.Format(),
		Description: description,
		Kinds:       []Kind{KindLog},
		Decode: func(dst, payload []byte) ([]byte, error) {
			b, err := c.DecodeLogBatch(payload)
			if err != nil {
				return dst, err
			}
			return zmsgpack.AppendLogBatch(dst, b)
		},
		Encode: func(dst, doc []byte) ([]byte, error) {
			b, err := zmsgpack.DecodeLogBatch(doc)
			if err != nil {
				return dst, fmt.Errorf("document: %w", err)
			}
			return c.AppendLogBatch(dst, b)
		},
	}
}

// MsgpackHandler returns the handler of zpipe-msgpack-v1 itself, for events
// and log batches: decoding and encoding both check a document and write
// its canonical form.
func MsgpackHandler(description string) Handler {
	canonical := func(dst, doc []byte) ([]byte, error) {
		d, err := zmsgpack.Decode(doc)
		if err != nil {
			return dst, err
		}
		if d.Event != nil {
			return zmsgpack.AppendEvent(dst, d.Event)
		}
		return zmsgpack.AppendLogBatch(dst, d.Log)
	}
	return Handler{
		Name:        zmsgpack.Format,
		Description: description,
		Kinds:       []Kind{KindEvent, KindLog},
		Decode:      canonical,
		Encode:      canonical,
	}
}

// RenderHandler returns an encode-only handler of an output format for
// events and log batches, such as JSON lines: event and log render a
// decoded document.
func RenderHandler(name, description string, event func(dst []byte, ev *value.Event) []byte, log func(dst []byte, b *value.LogBatch) []byte) Handler {
	return Handler{
		Name:        name,
		Description: description,
		Kinds:       []Kind{KindEvent, KindLog},
		Encode: func(dst, doc []byte) ([]byte, error) {
			d, err := zmsgpack.Decode(doc)
			if err != nil {
				return dst, fmt.Errorf("document: %w", err)
			}
			if d.Event != nil {
				return event(dst, d.Event), nil
			}
			return log(dst, d.Log), nil
		},
	}
}

// Local is a Codec that runs handlers in the calling process.
type Local struct {
	desc     Description
	handlers map[string]Handler
	// renderers keeps the renderers of each format and target between
	// calls, so that what they learnt (a log's fields) and their buffers
	// serve the next call.
	renderers map[renderKey]*sync.Pool
}

type renderKey struct{ format, target string }

var (
	_ Codec    = (*Local)(nil)
	_ Renderer = (*Local)(nil)
)

// NewLocal returns a codec named name that runs handlers. Every handler
// needs a name, at least one kind and at least one of Decode and Encode;
// names must differ.
func NewLocal(name, version string, handlers ...Handler) (*Local, error) {
	l := &Local{
		desc:     Description{Name: name, Version: version, Protocol: ProtocolVersion},
		handlers: make(map[string]Handler, len(handlers)),
	}
	for _, h := range handlers {
		if _, dup := l.handlers[h.Name]; dup {
			return nil, fmt.Errorf("codec %q: two handlers of format %q", name, h.Name)
		}
		if len(h.Kinds) == 0 {
			return nil, fmt.Errorf("codec %q: format %q: no kinds", name, h.Name)
		}
		l.handlers[h.Name] = h
		for target, mk := range h.Renders {
			if mk == nil {
				return nil, fmt.Errorf("codec %q: format %q: no renderer for target %q", name, h.Name, target)
			}
			if l.renderers == nil {
				l.renderers = make(map[renderKey]*sync.Pool)
			}
			l.renderers[renderKey{h.Name, target}] = &sync.Pool{New: func() any { return mk() }}
		}
		for _, k := range h.Kinds {
			f := Format{Name: h.Name, Kind: k, Decode: h.Decode != nil, Encode: h.Encode != nil, Description: h.Description}
			if k == KindLog && len(h.Renders) > 0 {
				f.Renders = slices.Sorted(maps.Keys(h.Renders))
			}
			l.desc.Formats = append(l.desc.Formats, f)
		}
	}
	if err := l.desc.Check(); err != nil {
		return nil, err
	}
	return l, nil
}

// Describe implements Codec.
func (l *Local) Describe(context.Context) (*Description, error) {
	d := l.desc
	d.Formats = append([]Format(nil), l.desc.Formats...)
	for i := range d.Formats {
		d.Formats[i].Renders = slices.Clone(d.Formats[i].Renders)
	}
	return &d, nil
}

// Decode implements Codec.
func (l *Local) Decode(ctx context.Context, format string, in *Items, out *Result) error {
	h, ok := l.handlers[format]
	if !ok {
		return fmt.Errorf("codec %q: decode %q: %w", l.desc.Name, format, ErrUnknownFormat)
	}
	if h.Decode == nil {
		return fmt.Errorf("codec %q: decode %q: %w", l.desc.Name, format, ErrUnsupported)
	}
	return run(ctx, h.Decode, in, out)
}

// Encode implements Codec.
func (l *Local) Encode(ctx context.Context, format string, in *Items, out *Result) error {
	h, ok := l.handlers[format]
	if !ok {
		return fmt.Errorf("codec %q: encode %q: %w", l.desc.Name, format, ErrUnknownFormat)
	}
	if h.Encode == nil {
		return fmt.Errorf("codec %q: encode %q: %w", l.desc.Name, format, ErrUnsupported)
	}
	return run(ctx, h.Encode, in, out)
}

// Render implements Renderer.
func (l *Local) Render(ctx context.Context, format, target string, in *Items, out *RenderResult) error {
	h, ok := l.handlers[format]
	if !ok {
		return fmt.Errorf("codec %q: render %q: %w", l.desc.Name, format, ErrUnknownFormat)
	}
	pool, ok := l.renderers[renderKey{h.Name, target}]
	if !ok {
		return fmt.Errorf("codec %q: render %q as %q: %w", l.desc.Name, format, target, ErrUnsupported)
	}
	r := pool.Get().(LogRenderer)
	defer pool.Put(r)
	return render(ctx, r, in, out)
}

// run applies fn to every item of in. A failure, panics included, becomes
// the item's error; the other items go on.
func run(ctx context.Context, fn func(dst, src []byte) ([]byte, error), in *Items, out *Result) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	out.Reset()
	for i, p := range in.All() {
		start := len(out.Items.Data)
		data, err := call(fn, out.Items.Data, p)
		if err != nil {
			data = out.Items.Data[:start]
			out.Errors = append(out.Errors, itemError(i, err))
		}
		out.Items.Data = data
		out.Items.Sizes = append(out.Items.Sizes, uint32(len(data)-start))
	}
	return nil
}

// call runs fn, turning a panic into an error: a codec must not take the
// process down over one malformed payload.
func call(fn func(dst, src []byte) ([]byte, error), dst, src []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = dst, fmt.Errorf("codec panicked: %v", r)
		}
	}()
	return fn(dst, src)
}

// itemError describes the failure of item i; a codec.DecodeError gives the
// offset.
func itemError(i int, err error) ItemError {
	e := ItemError{Index: i, Offset: -1, Msg: err.Error()}
	var de *codec.DecodeError
	if errors.As(err, &de) {
		e.Offset = de.Offset
	}
	return e
}
