// Package logwrite builds the load of the logger benchmarks: Zeek
// log-write messages of any number of conn records, made from a captured
// batch.
package logwrite

import (
	"errors"
	"fmt"

	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/internal/zeektest"
)

// VectorFile is the captured log-write message (7 conn records of 22
// fields) the messages are made from.
const VectorFile = "zeek-log-conn-7rec.hex"

// Conn returns the frames of a log-write message holding n conn records:
// frames 0-2 of the captured batch (topic, sender, format) and a payload
// re-encoded with its records repeated; and that payload, decoded.
func Conn(n int) ([][]byte, *value.LogBatch, error) {
	if n < 1 {
		return nil, nil, errors.New("a log-write message holds at least 1 record")
	}
	frames, err := zeektest.LoadVector(VectorFile)
	if err != nil {
		return nil, nil, err
	}
	if len(frames) != 4 {
		return nil, nil, fmt.Errorf("%s: %d frames, want Zeek's 4", VectorFile, len(frames))
	}
	lb, err := zeeklog.Decode(frames[3])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: decode the log batch: %w", VectorFile, err)
	}
	rows := lb.Records
	if len(rows) == 0 {
		return nil, nil, fmt.Errorf("%s: no records", VectorFile)
	}
	lb.Records = nil
	for len(lb.Records) < n {
		lb.Records = append(lb.Records, rows[len(lb.Records)%len(rows)])
	}
	payload, err := zeeklog.Append(nil, lb)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: encode %d records: %w", VectorFile, n, err)
	}
	return [][]byte{frames[0], frames[1], frames[2], payload}, lb, nil
}
