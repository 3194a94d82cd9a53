package builtin

import (
	"fmt"

	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/value"
)

// zeekLogRenders are the targets zeek-bin-serializer log batches render
// to: Zeek's TSV lines and Zeek's JSON lines, exactly as Zeek's logger
// writes them into its files.
var zeekLogRenders = map[string]func() batch.LogRenderer{
	zeekascii.Format: func() batch.LogRenderer { return &tsvRenderer{} },
	jsonl.Format:     func() batch.LogRenderer { return &jsonRenderer{} },
}

// tsvRenderer renders zeek-bin-serializer payloads as Zeek's TSV lines in
// one pass: each record is decoded into a reused row and rendered at once.
type tsvRenderer struct {
	rows  zeeklog.Rows
	lines zeekascii.Lines
}

// Render implements batch.LogRenderer.
func (r *tsvRenderer) Render(dst, payload []byte) ([]byte, *value.LogBatch, int, error) {
	b, err := r.rows.Start(payload)
	if err != nil {
		return dst, nil, 0, err
	}
	r.lines.Reset(b.Fields)
	for i := 0; r.rows.More(); i++ {
		row, err := r.rows.Next()
		if err != nil {
			return dst, nil, 0, err
		}
		if dst, err = r.lines.Append(dst, row); err != nil {
			return dst, nil, 0, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return dst, b, r.rows.Records(), r.rows.End()
}

// jsonRenderer renders zeek-bin-serializer payloads as Zeek's JSON lines
// in one pass. (Rows yields only values that fit their columns, which is
// what Zeek's JSON lines need.)
type jsonRenderer struct {
	rows  zeeklog.Rows
	lines jsonl.Lines
}

// Render implements batch.LogRenderer.
func (r *jsonRenderer) Render(dst, payload []byte) ([]byte, *value.LogBatch, int, error) {
	b, err := r.rows.Start(payload)
	if err != nil {
		return dst, nil, 0, err
	}
	r.lines.Reset(b.Fields)
	for r.rows.More() {
		row, err := r.rows.Next()
		if err != nil {
			return dst, nil, 0, err
		}
		dst = r.lines.Append(dst, row)
	}
	return dst, b, r.rows.Records(), r.rows.End()
}
