package zeeklog

import (
	"slices"
	"strings"
	"unsafe"

	"github.com/zpipe/zpipe/core/value"
)

// Rows decodes log batches one record at a time into memory it reuses, for
// callers that render records and keep nothing of them: no value tree is
// built and nothing is allocated once its buffers have grown. The strings
// it returns alias the payload, which must not change while they are used.
// The zero Rows is ready; a Rows is not safe for concurrent use.
//
//	b, err := rows.Start(payload)
//	for rows.More() {
//		row, err := rows.Next()
//		…
//	}
//	err = rows.End()
//
// Rows accepts exactly what Decode accepts and fails with the same errors.
type Rows struct {
	d     decoder
	batch value.LogBatch
	row   []value.Value
	left  int // records not decoded yet
	index int // index of the next record
	// fields is the encoded field section of the last batch, whose fields
	// batch.Fields holds (their strings copied): batches of one log repeat
	// it, and then it need not be decoded again.
	fields string
}

// Start begins decoding payload: it decodes the header and the fields and
// returns them in a batch without records, valid until the next Start.
// The header's strings alias payload; the fields' do not.
func (r *Rows) Start(payload []byte) (*value.LogBatch, error) {
	r.d = decoder{s: unsafe.String(unsafe.SliceData(payload), len(payload)), arena: r.d.arena[:0]}
	r.left, r.index = 0, 0
	if err := r.d.batchHeader(&r.batch); err != nil {
		return nil, err
	}
	if rest := r.d.s[r.d.pos:]; r.fields != "" && strings.HasPrefix(rest, r.fields) {
		r.d.pos += len(r.fields)
		for i := range r.batch.Fields {
			r.batch.Fields[i].ValueSubtype = 0 // until the first record says
		}
	} else {
		r.fields = ""
		at := r.d.pos
		var err error
		if r.batch.Fields, err = r.d.fields(r.batch.Fields[:0]); err != nil {
			return nil, err
		}
		for i := range r.batch.Fields {
			f := &r.batch.Fields[i]
			f.Name, f.SecondaryName = strings.Clone(f.Name), strings.Clone(f.SecondaryName)
		}
		r.fields = strings.Clone(r.d.s[at:r.d.pos])
	}
	n, err := r.d.recordCount(len(r.batch.Fields))
	if err != nil {
		return nil, err
	}
	r.left = n
	return &r.batch, nil
}

// Records returns the number of records the batch holds.
func (r *Rows) Records() int { return r.index + r.left }

// More reports whether a record is left to decode.
func (r *Rows) More() bool { return r.left > 0 }

// Next decodes the next record: one value per field, valid until the next
// call of Next or Start. It fails when no record is left.
func (r *Rows) Next() ([]value.Value, error) {
	if r.left == 0 {
		return nil, r.d.errorf(r.d.pos, "no record left to decode")
	}
	r.row = slices.Grow(r.row[:0], len(r.batch.Fields))[:len(r.batch.Fields)]
	r.d.arena = r.d.arena[:0]
	if err := r.d.record(r.batch.Fields, r.row, r.index == 0); err != nil {
		r.left = 0
		return nil, err
	}
	r.left--
	r.index++
	return r.row, nil
}

// End checks, once every record was decoded, that the payload ends there.
func (r *Rows) End() error { return r.d.end() }
