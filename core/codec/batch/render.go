package batch

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/zpipe/zpipe/core/value"
)

// Renderer is implemented by codecs that render log batches straight into
// the lines of log files, for the formats whose Format.Renders lists the
// target: Render turns every item of in, a log batch payload in the named
// format, into its records as lines of target (one per record, each ending
// in a newline), and says what a log writer needs besides in out.Logs and
// out.Schemas. One bad payload fails only its item, as for Decode; an
// error is for the whole call (unknown format or target, codec
// unreachable, ctx ended). Implementations are safe for concurrent use.
type Renderer interface {
	Render(ctx context.Context, format, target string, in *Items, out *RenderResult) error
}

// RenderedLog describes the log batch of one rendered item.
type RenderedLog struct {
	Stream, Path string
	// Records is the number of records of the batch, and of lines of its
	// item.
	Records int
	// Schema is the index of the batch's fields in RenderResult.Schemas.
	Schema int
}

// RenderResult is what Render produces: per input item its lines and its
// log, the distinct schemas the logs refer to, and the failures.
type RenderResult struct {
	// Lines holds one item per input: the records as lines, empty for a
	// failed input.
	Lines Items
	// Logs holds one entry per input, the zero RenderedLog for a failed
	// one.
	Logs []RenderedLog
	// Schemas holds the fields of the batches; consecutive batches with
	// the same fields share an entry. Nothing in them aliases the input.
	Schemas [][]value.Field
	// Errors lists the failed inputs in index order.
	Errors []ItemError
}

// Reset empties r, keeping its capacity.
func (r *RenderResult) Reset() {
	r.Lines.Reset()
	r.Logs = r.Logs[:0]
	r.Schemas = r.Schemas[:0]
	r.Errors = r.Errors[:0]
}

// Err returns the failure of item i, or nil if it succeeded.
func (r *RenderResult) Err(i int) *ItemError { return errAt(r.Errors, i) }

// Check verifies that r answers a batch of n items: n items and logs,
// failures in increasing index order below n with empty items, schemas
// that exist, and as many lines in every item as its log has records.
// Results that arrive from another process are checked.
func (r *RenderResult) Check(n int) error {
	if err := checkItems(&r.Lines, r.Errors, n); err != nil {
		return err
	}
	if len(r.Logs) != n {
		return fmt.Errorf("result has %d logs for %d inputs", len(r.Logs), n)
	}
	for i, lines := range r.Lines.All() {
		l := &r.Logs[i]
		if r.Err(i) != nil {
			continue
		}
		if l.Schema < 0 || l.Schema >= len(r.Schemas) {
			return fmt.Errorf("log %d refers to schema %d of %d", i, l.Schema, len(r.Schemas))
		}
		if l.Records < 0 || countLines(lines) != l.Records {
			return fmt.Errorf("item %d holds %d lines for %d records", i, countLines(lines), l.Records)
		}
	}
	return nil
}

// countLines returns the number of lines of b, or -1 if b does not end
// with a newline.
func countLines(b []byte) int {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return -1
	}
	return bytes.Count(b, []byte{'\n'})
}

// LogRenderer renders log batch payloads of one format into the lines of
// one target, reusing its memory from call to call; it is not safe for
// concurrent use.
type LogRenderer interface {
	// Render appends the records of payload to dst as lines and returns
	// the batch without its records (stream, writer, filter, path and
	// fields, valid until the next call; its strings may alias payload)
	// and the number of records. On error, what it appended is garbage.
	Render(dst, payload []byte) ([]byte, *value.LogBatch, int, error)
}

// render renders every item of in with r into out.
func render(ctx context.Context, r LogRenderer, in *Items, out *RenderResult) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	out.Reset()
	var prev RenderedLog // the last log rendered, whose strings the next may share
	for i, p := range in.All() {
		start := len(out.Lines.Data)
		data, b, n, err := callRender(r, out.Lines.Data, p)
		if err != nil {
			out.Lines.Data = out.Lines.Data[:start]
			out.Lines.Sizes = append(out.Lines.Sizes, 0)
			out.Logs = append(out.Logs, RenderedLog{})
			out.Errors = append(out.Errors, itemError(i, err))
			continue
		}
		out.Lines.Data = data
		out.Lines.Sizes = append(out.Lines.Sizes, uint32(len(data)-start))
		// Consecutive batches of one log share strings and schema.
		l := RenderedLog{Stream: reuse(prev.Stream, b.Stream), Path: reuse(prev.Path, b.Path), Records: n, Schema: len(out.Schemas) - 1}
		if l.Schema < 0 || !slices.Equal(out.Schemas[l.Schema], b.Fields) {
			out.Schemas = append(out.Schemas, cloneFields(b.Fields))
			l.Schema = len(out.Schemas) - 1
		}
		out.Logs = append(out.Logs, l)
		prev = l
	}
	return nil
}

// reuse returns old if it equals s, else a copy of s that aliases nothing.
func reuse(old, s string) string {
	if old == s {
		return old
	}
	return strings.Clone(s)
}

// cloneFields returns a copy of fields that aliases nothing.
func cloneFields(fields []value.Field) []value.Field {
	out := make([]value.Field, len(fields))
	for i, f := range fields {
		f.Name, f.SecondaryName = strings.Clone(f.Name), strings.Clone(f.SecondaryName)
		out[i] = f
	}
	return out
}

// callRender runs r, turning a panic into an error, as call does.
func callRender(r LogRenderer, dst, payload []byte) (out []byte, b *value.LogBatch, n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, b, n, err = dst, nil, 0, fmt.Errorf("codec panicked: %v", p)
		}
	}()
	return r.Render(dst, payload)
}
