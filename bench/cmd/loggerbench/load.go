package main

import (
	"bytes"
	"fmt"
	"time"

	"github.com/zpipe/zpipe/bench/internal/logwrite"
	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	"github.com/zpipe/zpipe/core/value"
)

// load is the message of one batch size and what it must add to conn.log.
type load struct {
	records int
	// frames are the log-write message (see logwrite.Conn).
	frames [][]byte
	// batch is the payload, decoded.
	batch *value.LogBatch
	// lines are the bytes one message adds to the file: its records
	// rendered by zpipe's reference renderers (zeekascii, jsonl), which
	// the tests hold to the files Zeek wrote.
	lines []byte
	// json says the file is in Zeek's JSON format (no header).
	json bool
}

func newLoad(n int, format string) (*load, error) {
	frames, lb, err := logwrite.Conn(n)
	if err != nil {
		return nil, err
	}
	l := &load{records: n, frames: frames, batch: lb, json: format == "json"}
	if l.json {
		l.lines = jsonl.AppendLog(nil, lb, jsonl.LogOptions{})
	} else if l.lines, err = zeekascii.AppendRecords(nil, lb); err != nil {
		return nil, fmt.Errorf("render %d records: %w", n, err)
	}
	return l, nil
}

// check reports whether data is exactly batches messages' lines, after
// the file's header if header is set (TSV).
func (l *load) check(data []byte, batches int, header bool) error {
	if header && !l.json {
		h, err := l.header(data)
		if err != nil {
			return err
		}
		data = data[len(h):]
	}
	if want := batches * len(l.lines); len(data) != want {
		return fmt.Errorf("conn.log holds %d bytes of records, want %d (%d messages of %d bytes)", len(data), want, batches, len(l.lines))
	}
	for i := range batches {
		chunk := data[i*len(l.lines) : (i+1)*len(l.lines)]
		if !bytes.Equal(chunk, l.lines) {
			at := i * len(l.lines)
			for j := range chunk {
				if chunk[j] != l.lines[j] {
					at += j
					break
				}
			}
			return fmt.Errorf("conn.log differs from the expected records at byte %d of the records (message %d)", at, i)
		}
	}
	return nil
}

// header returns the TSV header at the start of data, checked against
// Zeek's header for the batch with the #open time data shows.
func (l *load) header(data []byte) ([]byte, error) {
	const key = "\n#open\t"
	i := bytes.Index(data, []byte(key))
	if i < 0 || len(data) < i+len(key)+len(zeekascii.TimestampLayout) {
		return nil, fmt.Errorf("conn.log has no #open line")
	}
	stamp := string(data[i+len(key) : i+len(key)+len(zeekascii.TimestampLayout)])
	open, err := time.ParseInLocation(zeekascii.TimestampLayout, stamp, time.Local)
	if err != nil {
		return nil, fmt.Errorf("conn.log: #open %q: %w", stamp, err)
	}
	want := zeekascii.AppendHeader(nil, l.batch, open)
	if !bytes.HasPrefix(data, want) {
		return nil, fmt.Errorf("conn.log does not start with Zeek's header for the batch:\n%s", want)
	}
	return want, nil
}
