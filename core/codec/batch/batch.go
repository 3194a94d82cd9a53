// Package batch is the contract between zpipe and its codecs. A codec
// decodes payloads into zpipe-msgpack-v1 documents and encodes documents
// into payloads, many at a time: the batch is the unit that crosses the
// process boundary to a codec plugin, and one bad payload never fails its
// batch. A codec may also render log batches straight into the lines of
// log files (Renderer), so that a logger needs no document in between.
//
// Codec is what the core calls; Local runs Handlers in process and is what
// a codec plugin serves (core/plugin.ServeCodec) and what the core can use
// without a plugin. EventHandler and LogHandler turn the codecs of
// core/codec into Handlers.
package batch

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
)

// ProtocolVersion is the version of the codec plugin protocol. It is part
// of the plugin handshake and of every Description.
const ProtocolVersion = 1

// Kind is what the payloads of a format hold.
type Kind string

// Kinds of payloads.
const (
	KindEvent Kind = "event" // one event per payload
	KindLog   Kind = "log"   // one log batch per payload
)

// Valid reports whether k is KindEvent or KindLog.
func (k Kind) Valid() bool { return k == KindEvent || k == KindLog }

// Format is one payload format a codec handles for one kind of payload. A
// format that carries events and log batches (zpipe-msgpack-v1) appears
// once per kind.
type Format struct {
	// Name is the format name as it appears in frame 2 of a message, such as
	// "broker-bin-v1".
	Name string
	Kind Kind
	// Decode and Encode report what the codec does with the format.
	Decode, Encode bool
	// Description says what the format is, for people.
	Description string
	// Renders lists the targets the format's log batches render to (see
	// Renderer); only for KindLog.
	Renders []string
}

// Description is what a codec reports about itself.
type Description struct {
	Name     string
	Version  string
	Protocol uint32
	Formats  []Format
}

// Check reports a description that names no codec, declares a format with
// an empty name or an unknown kind, declares a format that it neither
// decodes nor encodes, or declares a format and kind twice.
func (d *Description) Check() error {
	if d.Name == "" {
		return errors.New("codec description without a name")
	}
	seen := make(map[struct{ name, kind string }]bool, len(d.Formats))
	for _, f := range d.Formats {
		switch {
		case f.Name == "":
			return fmt.Errorf("codec %q: format with an empty name", d.Name)
		case !f.Kind.Valid():
			return fmt.Errorf("codec %q: format %q: unknown kind %q (want %q or %q)", d.Name, f.Name, f.Kind, KindEvent, KindLog)
		case !f.Decode && !f.Encode:
			return fmt.Errorf("codec %q: format %q (%s) neither decodes nor encodes", d.Name, f.Name, f.Kind)
		case len(f.Renders) > 0 && f.Kind != KindLog:
			return fmt.Errorf("codec %q: format %q (%s) renders, and only log batches render", d.Name, f.Name, f.Kind)
		}
		for _, t := range f.Renders {
			if t == "" {
				return fmt.Errorf("codec %q: format %q renders to an empty target", d.Name, f.Name)
			}
		}
		key := struct{ name, kind string }{f.Name, string(f.Kind)}
		if seen[key] {
			return fmt.Errorf("codec %q: format %q (%s) declared twice", d.Name, f.Name, f.Kind)
		}
		seen[key] = true
	}
	return nil
}

// Errors of a codec call that fails as a whole.
var (
	// ErrUnknownFormat: the codec does not handle the format at all.
	ErrUnknownFormat = errors.New("unknown format")
	// ErrUnsupported wraps errors.ErrUnsupported: the codec knows the format
	// but does not decode (or encode) it.
	ErrUnsupported = fmt.Errorf("operation not offered for this format: %w", errors.ErrUnsupported)
)

// Codec decodes and encodes payloads in batches. Decode turns every item of
// in, a payload in the named format, into a zpipe-msgpack-v1 document;
// Encode turns every document of in into a payload. Either fills out with
// one item per input item, in order, and records the inputs that failed in
// out.Errors (their items are empty); it returns an error only when the
// whole call fails (unknown format, codec unreachable, ctx ended).
// Implementations are safe for concurrent use.
type Codec interface {
	Describe(ctx context.Context) (*Description, error)
	Decode(ctx context.Context, format string, in *Items, out *Result) error
	Encode(ctx context.Context, format string, in *Items, out *Result) error
}

// Items is a run of byte strings stored back to back: Data holds them all,
// Sizes their lengths. It is how payloads and documents travel, and it is
// reused by calling Reset, which keeps the buffers.
type Items struct {
	Data  []byte
	Sizes []uint32
}

// Len returns the number of items.
func (it *Items) Len() int { return len(it.Sizes) }

// Reset empties it, keeping its capacity.
func (it *Items) Reset() {
	it.Data = it.Data[:0]
	it.Sizes = it.Sizes[:0]
}

// Append adds one item, a copy of p.
func (it *Items) Append(p []byte) {
	it.Data = append(it.Data, p...)
	it.Sizes = append(it.Sizes, uint32(len(p)))
}

// All iterates over the items with their indexes. The slices alias Data.
func (it *Items) All() iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		off := 0
		for i, s := range it.Sizes {
			end := off + int(s)
			if !yield(i, it.Data[off:end:end]) {
				return
			}
			off = end
		}
	}
}

// Slices returns the items as slices of Data.
func (it *Items) Slices() [][]byte {
	out := make([][]byte, 0, it.Len())
	for _, p := range it.All() {
		out = append(out, p)
	}
	return out
}

// Validate checks that the sizes add up to the data, as items that arrive
// from another process must.
func (it *Items) Validate() error {
	var total uint64
	for _, s := range it.Sizes {
		total += uint64(s)
	}
	if total != uint64(len(it.Data)) {
		return fmt.Errorf("items: sizes add up to %d bytes, data holds %d", total, len(it.Data))
	}
	return nil
}

// ItemError is the failure of one item of a batch.
type ItemError struct {
	// Index is the item's position in the batch.
	Index int
	// Offset is the byte offset in the item where decoding failed, or -1
	// when the codec did not say.
	Offset int
	// Msg says what went wrong, as the codec said it.
	Msg string
}

// Error returns "item 3: " and the codec's message.
func (e *ItemError) Error() string { return fmt.Sprintf("item %d: %s", e.Index, e.Msg) }

// Result is what Decode and Encode produce: one item per input, and the
// failures.
type Result struct {
	Items Items
	// Errors lists the failed inputs in index order; their items are empty.
	Errors []ItemError
}

// Reset empties r, keeping its capacity.
func (r *Result) Reset() {
	r.Items.Reset()
	r.Errors = r.Errors[:0]
}

// Err returns the failure of item i, or nil if it succeeded.
func (r *Result) Err(i int) *ItemError { return errAt(r.Errors, i) }

// errAt returns the failure of item i in errs (in index order), or nil.
func errAt(errs []ItemError, i int) *ItemError {
	j := sort.Search(len(errs), func(j int) bool { return errs[j].Index >= i })
	if j < len(errs) && errs[j].Index == i {
		return &errs[j]
	}
	return nil
}

// Check verifies that r answers a batch of n items: n items, failures in
// increasing index order below n with empty items. Results that arrive
// from another process are checked.
func (r *Result) Check(n int) error { return checkItems(&r.Items, r.Errors, n) }

func checkItems(items *Items, errs []ItemError, n int) error {
	if items.Len() != n {
		return fmt.Errorf("result has %d items for %d inputs", items.Len(), n)
	}
	if err := items.Validate(); err != nil {
		return err
	}
	last := -1
	for _, e := range errs {
		if e.Index <= last || e.Index >= n {
			return fmt.Errorf("result reports item %d failed, out of order or beyond the %d inputs", e.Index, n)
		}
		if items.Sizes[e.Index] != 0 {
			return fmt.Errorf("result holds %d bytes for the failed item %d", items.Sizes[e.Index], e.Index)
		}
		last = e.Index
	}
	return nil
}
