package zeeklog

import (
	"testing"

	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/value/valuetest"
	"github.com/zpipe/zpipe/internal/vectors"
)

// checkRows decodes payload with rows and with Decode and fails unless
// both give the same header, fields and records, or the same error (Rows
// may give the records before the fault first).
func checkRows(t *testing.T, rows *Rows, payload []byte) {
	t.Helper()
	want, wantErr := Decode(payload)
	b, err := rows.Start(payload)
	n := 0
	for err == nil && rows.More() {
		var row []value.Value
		if row, err = rows.Next(); err != nil {
			break
		}
		if want == nil {
			n++ // records before the fault decode; the error must be Decode's
			continue
		}
		if n >= len(want.Records) {
			t.Fatalf("Rows decoded record %d, Decode has %d", n, len(want.Records))
		}
		for i := range row {
			if !value.Equal(row[i], want.Records[n][i]) {
				t.Fatalf("record %d field %d: Rows %v, Decode %v", n, i, row[i], want.Records[n][i])
			}
		}
		n++
	}
	if err == nil {
		err = rows.End()
	}
	if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
		t.Fatalf("Rows: %v; Decode: %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if n != len(want.Records) || rows.Records() != n {
		t.Fatalf("Rows decoded %d records (Records %d), Decode %d", n, rows.Records(), len(want.Records))
	}
	if b.Stream != want.Stream || b.Writer != want.Writer || b.Filter != want.Filter || b.Path != want.Path || len(b.Records) != 0 {
		t.Fatalf("header %+v, want %+v", b, want)
	}
	if len(b.Fields) != len(want.Fields) {
		t.Fatalf("%d fields, want %d", len(b.Fields), len(want.Fields))
	}
	for i := range b.Fields {
		if b.Fields[i] != want.Fields[i] {
			t.Fatalf("field %d: %+v, want %+v", i, b.Fields[i], want.Fields[i])
		}
	}
}

// TestRows: Rows, reused from batch to batch, decodes what Decode decodes
// and rejects what it rejects with the same error: captured batches,
// generated ones and every prefix of two.
func TestRows(t *testing.T) {
	var rows Rows
	var payloads [][]byte
	for _, path := range vectors.Glob(t, "captured/zeek-log-*.hex") {
		payloads = append(payloads, vectors.Frames(t, path)[3])
	}
	for _, rel := range []string{"derived/log-write-cluster.hex", "derived/log-write-demo.hex", "derived/zeek-bin-unit-test-log.hex"} {
		payloads = append(payloads, vectors.Payload(t, rel))
	}
	g := valuetest.New(3)
	g.Seconds = true
	for range 500 {
		p, err := Append(nil, g.LogBatch())
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, p)
	}
	for _, p := range payloads {
		checkRows(t, &rows, p)
		checkRows(t, &rows, p) // again, with the fields of the last batch
	}
	// A batch without records after one of the same fields: no value
	// subtype is known.
	g2 := valuetest.New(4)
	for range 50 {
		b := g2.LogBatch()
		p, err := Append(nil, b)
		if err != nil {
			continue
		}
		b.Records = nil
		empty, err := Append(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		checkRows(t, &rows, p)
		checkRows(t, &rows, empty)
	}
	for _, p := range payloads[:3] {
		for n := range len(p) {
			checkRows(t, &rows, p[:n])
		}
	}
	if _, err := rows.Next(); err == nil {
		t.Error("Next after the last record succeeded")
	}
}

// TestRowsReuse: once its buffers have grown, Rows decodes a batch without
// allocating.
func TestRowsReuse(t *testing.T) {
	payload := vectors.Payload(t, "captured/zeek-log-conn-7rec.hex")
	var rows Rows
	decode := func() {
		if _, err := rows.Start(payload); err != nil {
			t.Fatal(err)
		}
		for rows.More() {
			if _, err := rows.Next(); err != nil {
				t.Fatal(err)
			}
		}
		if err := rows.End(); err != nil {
			t.Fatal(err)
		}
	}
	decode()
	if allocs := testing.AllocsPerRun(100, decode); allocs != 0 {
		t.Errorf("%v allocations per batch, want 0", allocs)
	}
}
