// Package jsonl renders Zeek events and log records as JSON lines, for
// files and for people: one JSON object per line, values as plain JSON.
//
// Log records come out exactly as Zeek's JSON log writer writes them
// (LogAscii::use_json = T): the column names as keys in column order, unset
// columns left out, times and intervals as seconds and doubles as JSON
// numbers in the shortest form that reads back to the same double (with
// ".0" on whole numbers, as rapidjson writes them; NaN and infinities as
// null), ports as their number, addresses, subnets and enums as strings,
// sets and vectors as arrays, vector holes as null. This matches Zeek's
// output for the captured batches byte for byte. Two corners are Zeek's by
// reading rather than by comparison: rapidjson's Grisu2 can pick a longer
// digit string than the shortest for a few rare doubles, and bytes of a
// string that are not UTF-8 are written as the text \xNN.
//
// An event is one line {"ts":…,"topic":…,"sender":…,"format":…,
// "event":"name","args":[…],"metadata":[…]}: the envelope fields come from
// the message (left out when unknown; "ts" falls back to the event's
// network timestamp), the arguments are rendered like log values except
// that ports keep their protocol ("443/tcp"), tables are arrays of
// [key, value] pairs and records are objects of their set fields.
//
// The rendering is one-way: JSON lines lose the distinctions the typed
// forms keep (count and int, time and double, string and enum). zpipe's
// lossless JSON is value's typed JSON; its lossless binary form is
// zpipe-msgpack-v1.
package jsonl

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/zpipe/zpipe/core/value"
)

// Format is the format name of the JSON-lines rendering, for codecs that
// offer it as an output format of events and log batches.
const Format = "zpipe-jsonl-v1"

// Envelope is what a message says about its payload: where and when it was
// seen. Empty fields are left out of the line.
type Envelope struct {
	// Time is when the message was received; if zero, the event's network
	// timestamp (if any) is used.
	Time   time.Time
	Topic  string
	Sender string
	Format string
}

// AppendEvent appends ev as one JSON line, newline included.
func AppendEvent(dst []byte, env Envelope, ev *value.Event) []byte {
	dst = append(dst, '{')
	sep := false
	key := func(k string) {
		if sep {
			dst = append(dst, ',')
		}
		sep = true
		dst = appendString(dst, k)
		dst = append(dst, ':')
	}
	switch ns, ok := ev.NetworkTimestamp(); {
	case !env.Time.IsZero():
		key("ts")
		dst = appendDouble(dst, float64(env.Time.Unix())+float64(env.Time.Nanosecond())/1e9)
	case ok:
		key("ts")
		dst = appendDouble(dst, value.NanosToSeconds(ns))
	}
	for _, f := range []struct{ k, v string }{{"topic", env.Topic}, {"sender", env.Sender}, {"format", env.Format}} {
		if f.v != "" {
			key(f.k)
			dst = appendString(dst, f.v)
		}
	}
	key("event")
	dst = appendString(dst, ev.Name)
	key("args")
	dst = append(dst, '[')
	for i := range ev.Args {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendValue(dst, &ev.Args[i], false)
	}
	dst = append(dst, ']')
	if len(ev.Metadata) > 0 {
		key("metadata")
		dst = append(dst, '[')
		for i := range ev.Metadata {
			m := &ev.Metadata[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			dst = strconv.AppendUint(dst, m.ID, 10)
			dst = append(dst, `,"value":`...)
			dst = appendValue(dst, &m.Value, false)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}', '\n')
}

// LogOptions adjusts the rendering of log records.
type LogOptions struct {
	// Path adds the batch's path as the first key, "_path", so that lines
	// of several logs can share a file.
	Path bool
}

// AppendLog appends every record of b as one JSON line each, newline
// included, as Zeek's JSON log writer writes them.
func AppendLog(dst []byte, b *value.LogBatch, opts LogOptions) []byte {
	for _, row := range b.Records {
		dst = AppendRecord(dst, b.Fields, row, opts, b.Path)
	}
	return dst
}

// AppendRecord appends one log record as a JSON line; path is used only if
// opts.Path is set.
func AppendRecord(dst []byte, fields []value.Field, row []value.Value, opts LogOptions, path string) []byte {
	dst = append(dst, '{')
	sep := false
	if opts.Path {
		dst = append(dst, `"_path":`...)
		dst = appendString(dst, path)
		sep = true
	}
	for i := range row {
		v := &row[i]
		if v.IsNone() || i >= len(fields) {
			continue
		}
		if sep {
			dst = append(dst, ',')
		}
		sep = true
		dst = appendString(dst, fields[i].Name)
		dst = append(dst, ':')
		dst = appendValue(dst, v, true)
	}
	return append(dst, '}', '\n')
}

// Lines renders log records of one set of fields as AppendRecord does
// (without the path), with the keys rendered once. The zero Lines renders
// records without fields; Reset sets the fields.
type Lines struct {
	keys []byte // every field's name as a JSON string and a colon
	ends []int  // where each field's key ends in keys
}

// Reset prepares l for records of fields.
func (l *Lines) Reset(fields []value.Field) {
	l.keys, l.ends = l.keys[:0], l.ends[:0]
	for _, f := range fields {
		l.keys = append(appendString(l.keys, f.Name), ':')
		l.ends = append(l.ends, len(l.keys))
	}
}

// Append appends row as a JSON line, newline included.
func (l *Lines) Append(dst []byte, row []value.Value) []byte {
	dst = append(dst, '{')
	sep := false
	for i := range row {
		v := &row[i]
		if v.IsNone() || i >= len(l.ends) {
			continue
		}
		if sep {
			dst = append(dst, ',')
		}
		sep = true
		start := 0
		if i > 0 {
			start = l.ends[i-1]
		}
		dst = append(dst, l.keys[start:l.ends[i]]...)
		dst = appendValue(dst, v, true)
	}
	return append(dst, '}', '\n')
}

// AppendValue appends the JSON rendering of v as a log value (ports as
// their number).
func AppendValue(dst []byte, v value.Value) []byte { return appendValue(dst, &v, true) }

// appendValue renders v; log selects Zeek's log rendering of ports.
func appendValue(dst []byte, v *value.Value, log bool) []byte {
	switch v.Kind() {
	case value.KindNone:
		return append(dst, "null"...)
	case value.KindBool:
		return strconv.AppendBool(dst, v.Bool())
	case value.KindCount:
		return strconv.AppendUint(dst, v.Count(), 10)
	case value.KindInt:
		return strconv.AppendInt(dst, v.Int(), 10)
	case value.KindReal:
		return appendDouble(dst, v.Real())
	case value.KindTime, value.KindInterval:
		return appendDouble(dst, v.Seconds())
	case value.KindString, value.KindEnum:
		return appendString(dst, v.Str())
	case value.KindAddr:
		dst = append(dst, '"')
		return append(value.AppendZeekAddr(dst, v.Addr()), '"')
	case value.KindSubnet:
		dst = append(dst, '"')
		dst = value.AppendZeekAddr(dst, v.Addr())
		dst = append(dst, '/')
		dst = strconv.AppendInt(dst, int64(v.Bits()), 10)
		return append(dst, '"')
	case value.KindPort:
		p := v.Port()
		if log {
			return strconv.AppendUint(dst, uint64(p.Num), 10)
		}
		return appendString(dst, p.String())
	case value.KindSet, value.KindVector:
		dst = append(dst, '[')
		elems := v.Elems()
		for i := range elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, &elems[i], log)
		}
		return append(dst, ']')
	case value.KindTable:
		dst = append(dst, '[')
		kv := v.Pairs()
		for i := 0; i < len(kv); i += 2 {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '[')
			dst = appendValue(dst, &kv[i], log)
			dst = append(dst, ',')
			dst = appendValue(dst, &kv[i+1], log)
			dst = append(dst, ']')
		}
		return append(dst, ']')
	case value.KindRecord:
		dst = append(dst, '{')
		sep := false
		elems := v.Elems()
		for i := range elems {
			e := &elems[i]
			if e.IsNone() {
				continue
			}
			if sep {
				dst = append(dst, ',')
			}
			sep = true
			dst = appendString(dst, v.FieldName(i))
			dst = append(dst, ':')
			dst = appendValue(dst, e, log)
		}
		return append(dst, '}')
	}
	return append(dst, "null"...)
}

// appendDouble writes f as rapidjson's Writer::Double does, through Zeek's
// NullDoubleWriter: null for NaN and infinities, "0.0" for zero, else the
// shortest digits that read back to f, in plain notation with ".0" on whole
// numbers when the decimal exponent is at most 21 and above -6, and in
// exponent notation ("1e30", "1.5e-7") otherwise.
func appendDouble(dst []byte, f float64) []byte {
	// From 1e-6 up to 1e21 the notation is plain: strconv's shortest
	// digits in 'f' form are those, with ".0" added to whole numbers.
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
		for _, c := range dst[start:] {
			if c == '.' {
				return dst
			}
		}
		return append(dst, '.', '0')
	}
	return appendDoubleDigits(dst, f)
}

// appendDoubleDigits is appendDouble for every double, working from the
// shortest digits and the decimal exponent.
func appendDoubleDigits(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if math.Signbit(f) {
		dst = append(dst, '-')
		f = -f
	}
	if f == 0 {
		return append(dst, "0.0"...)
	}
	// Shortest digits d1…dn and the decimal exponent: f = 0.d1…dn × 10^kk.
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	mant, exp, _ := cutByte(e, 'e')
	digits := make([]byte, 0, 20)
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	x, _ := strconv.Atoi(string(exp))
	n := len(digits)
	kk := x + 1 // 10^(kk-1) <= f < 10^kk
	k := kk - n // f = digits × 10^k
	switch {
	case k >= 0 && kk <= 21: // 1234e7 → 12340000000.0
		dst = append(dst, digits...)
		for range k {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	case kk > 0 && kk <= 21: // 1234e-2 → 12.34
		dst = append(dst, digits[:kk]...)
		dst = append(dst, '.')
		return append(dst, digits[kk:]...)
	case kk > -6 && kk <= 0: // 1234e-6 → 0.001234
		dst = append(dst, '0', '.')
		for range -kk {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	case n == 1: // 1e30
		dst = append(dst, digits[0], 'e')
		return strconv.AppendInt(dst, int64(kk-1), 10)
	}
	// 1234e30 → 1.234e33
	dst = append(dst, digits[0], '.')
	dst = append(dst, digits[1:]...)
	dst = append(dst, 'e')
	return strconv.AppendInt(dst, int64(kk-1), 10)
}

func cutByte(s []byte, sep byte) (before, after []byte, found bool) {
	for i, c := range s {
		if c == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, nil, false
}

// appendString writes s as a JSON string the way Zeek's JSON writer does:
// bytes that are not UTF-8 become the text \xNN (Zeek's escaping), then
// rapidjson escapes ", \ and control characters (\b \f \n \r \t, others
// as \u00XX).
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	const lower = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		// Copy the run of bytes that need no escaping in one go.
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] < utf8.RuneSelf && s[j] != '"' && s[j] != '\\' {
			j++
		}
		dst = append(dst, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, '\\', '\\', 'x', lower[c>>4], lower[c&0xf])
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
	}
	return append(dst, '"')
}
