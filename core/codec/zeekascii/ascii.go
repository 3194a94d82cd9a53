package zeekascii

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/zpipe/zpipe/core/value"
)

// Format is the name of this rendering, for codecs and writers that offer
// it as an output format.
const Format = "zeek-ascii"

// TimestampLayout is the time.Format layout of the #open and #close lines
// and of Zeek's rotated file names: strftime's "%Y-%m-%d-%H-%M-%S".
const TimestampLayout = "2006-01-02-15-04-05"

// The defaults of LogAscii's options, as Zeek writes them.
const (
	separator    = '\t'
	setSeparator = ','
	emptyField   = "(empty)"
	unsetField   = "-"
	metaPrefix   = '#'
)

// ErrMismatch is wrapped by the errors of AppendRecord, AppendRecords and
// CheckRecord when a record does not fit its fields: the wrong number of
// values, or a value whose kind is not that of its column's type.
var ErrMismatch = errors.New("record does not match its fields")

// AppendHeader appends the header Zeek's ASCII writer writes when it opens
// a file for b's path and fields: the separator lines, #path, #open (open
// formatted in its own location) and #fields and #types.
func AppendHeader(dst []byte, b *value.LogBatch, open time.Time) []byte {
	dst = append(dst, "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t"...)
	dst = appendHeaderEscaped(dst, b.Path)
	dst = append(dst, "\n#open\t"...)
	dst = open.AppendFormat(dst, TimestampLayout)
	dst = append(dst, "\n#fields"...)
	for _, f := range b.Fields {
		dst = append(dst, separator)
		dst = append(dst, f.Name...)
	}
	dst = append(dst, "\n#types"...)
	for _, f := range b.Fields {
		dst = append(dst, separator)
		dst = appendTypeName(dst, f.Type)
	}
	return append(dst, '\n')
}

// AppendClose appends the footer Zeek writes when it closes a file:
// "#close", a tab, t formatted in its own location, and a newline.
func AppendClose(dst []byte, t time.Time) []byte {
	dst = append(dst, "#close\t"...)
	dst = t.AppendFormat(dst, TimestampLayout)
	return append(dst, '\n')
}

// TypeName returns the name of f's type as Zeek writes it in #types:
// "count", "addr", "set[string]", "vector[interval]". (Log columns hold
// only sets, never other tables, so a table column is a set.)
func TypeName(f value.Field) string { return string(appendTypeName(nil, f.Type)) }

func appendTypeName(dst []byte, t value.Type) []byte {
	switch t.Tag {
	case value.TypeTable:
		dst = append(dst, "set["...)
	case value.TypeVector:
		dst = append(dst, "vector["...)
	default:
		return append(dst, t.Tag.String()...)
	}
	dst = append(dst, t.Sub.String()...)
	return append(dst, ']')
}

// AppendRecord appends one record as a line, newline included. It fails,
// leaving dst as it was, if rec does not have one value per field or a
// value does not fit its field's type (the error wraps ErrMismatch).
func AppendRecord(dst []byte, fields []value.Field, rec []value.Value) ([]byte, error) {
	var stack [32]column
	cols := columnsOf(stack[:0], fields)
	out, ok := appendLine(dst, cols, rec)
	if !ok {
		return dst, CheckRecord(fields, rec)
	}
	return out, nil
}

// AppendRecords appends every record of b as a line. It fails, leaving dst
// as it was, if any record does not fit b's fields; the error names the
// record and wraps ErrMismatch.
func AppendRecords(dst []byte, b *value.LogBatch) ([]byte, error) {
	var stack [32]column
	cols := columnsOf(stack[:0], b.Fields)
	start := len(dst)
	for i, rec := range b.Records {
		var ok bool
		if dst, ok = appendLine(dst, cols, rec); !ok {
			return dst[:start], fmt.Errorf("record %d: %w", i, CheckRecord(b.Fields, rec))
		}
	}
	return dst, nil
}

// Lines renders records of one set of fields as lines, as AppendRecord
// does, with what AppendRecord works out per field done once. The zero
// Lines renders records without fields; Reset sets the fields.
type Lines struct {
	fields []value.Field
	cols   []column
}

// Reset prepares l for records of fields, which it keeps (not a copy)
// until the next Reset.
func (l *Lines) Reset(fields []value.Field) {
	l.fields = fields
	l.cols = columnsOf(l.cols[:0], fields)
}

// Append appends rec as a line, newline included. It fails as
// AppendRecord does, leaving dst as it was, if rec does not fit the
// fields.
func (l *Lines) Append(dst []byte, rec []value.Value) ([]byte, error) {
	out, ok := appendLine(dst, l.cols, rec)
	if !ok {
		return dst, CheckRecord(l.fields, rec)
	}
	return out, nil
}

// CheckRecord reports whether rec fits fields: one value per field, every
// field of a type that can be logged, and every value unset (None) or of
// its field's kind, set and vector elements of the element kind. Its error
// wraps ErrMismatch.
func CheckRecord(fields []value.Field, rec []value.Value) error {
	if len(rec) != len(fields) {
		return fmt.Errorf("%w: %d values for %d fields", ErrMismatch, len(rec), len(fields))
	}
	for i, v := range rec {
		if err := checkValue(fields[i].Type, v); err != nil {
			return fmt.Errorf("%w: field %d (%q): %s", ErrMismatch, i, fields[i].Name, err)
		}
	}
	return nil
}

// checkValue returns why v does not fit a column of type t, or nil.
func checkValue(t value.Type, v value.Value) error {
	want, ok := t.Tag.ValueKind()
	if !ok {
		return fmt.Errorf("type %s cannot be logged", t.Tag)
	}
	var elem value.Kind
	if t.Tag.IsContainer() {
		if elem, ok = t.Sub.ValueKind(); !ok || t.Sub.IsContainer() {
			return fmt.Errorf("type %s: element type %s cannot be logged", t, t.Sub)
		}
	}
	if v.IsNone() {
		return nil
	}
	if v.Kind() != want {
		return fmt.Errorf("want %s for type %s, have %s", want, t, v.Kind())
	}
	if t.Tag.IsContainer() {
		for j, e := range v.Elems() {
			if e.Kind() != elem && !e.IsNone() {
				return fmt.Errorf("element %d: want %s for type %s, have %s", j, elem, t.Sub, e.Kind())
			}
		}
	}
	return nil
}

// column is what rendering needs to know of a field's type: the kind of
// its values and, for sets and vectors, of their elements. A column of a
// type that cannot be logged fits no value.
type column struct {
	kind, elem value.Kind
	container  bool
	loggable   bool
}

// columnsOf appends the columns of fields to dst.
func columnsOf(dst []column, fields []value.Field) []column {
	for _, f := range fields {
		var c column
		c.kind, c.loggable = f.Type.Tag.ValueKind()
		if c.container = f.Type.Tag.IsContainer(); c.container {
			var ok bool
			c.elem, ok = f.Type.Sub.ValueKind()
			c.loggable = c.loggable && ok && !f.Type.Sub.IsContainer()
		}
		dst = append(dst, c)
	}
	return dst
}

// fits reports whether v can be a value of column c (checkValue returns
// nil).
func (c *column) fits(v *value.Value) bool {
	if !c.loggable {
		return false
	}
	if v.Kind() != c.kind {
		return v.IsNone()
	}
	if c.container {
		elems := v.Elems()
		for i := range elems {
			if k := elems[i].Kind(); k != c.elem && k != value.KindNone {
				return false
			}
		}
	}
	return true
}

// appendLine renders a record: values joined by tabs, a newline, and the
// first byte escaped if the line would start with the meta prefix. ok is
// false, and dst is garbage beyond its original length, if the record does
// not fit cols.
func appendLine(dst []byte, cols []column, rec []value.Value) (_ []byte, ok bool) {
	if len(rec) != len(cols) {
		return dst, false
	}
	start := len(dst)
	for i := range rec {
		v := &rec[i]
		if !cols[i].fits(v) {
			return dst, false
		}
		if i > 0 {
			dst = append(dst, separator)
		}
		dst = appendValue(dst, v, false)
	}
	if len(dst) > start && dst[start] == metaPrefix {
		// Zeek's DoWrite writes \x23 in place of the line's first byte.
		end := len(dst) + 3
		dst = append(dst, 0, 0, 0)
		copy(dst[start+4:], dst[start+1:end-3])
		appendHex(dst[:start], metaPrefix)
	}
	return append(dst, '\n'), true
}

// appendValue renders one value; inSet reports whether it is an element of
// a set or vector, where the set separator is escaped too.
func appendValue(dst []byte, v *value.Value, inSet bool) []byte {
	switch v.Kind() {
	case value.KindNone:
		return append(dst, unsetField...)
	case value.KindBool:
		if v.Bool() {
			return append(dst, 'T')
		}
		return append(dst, 'F')
	case value.KindCount:
		return strconv.AppendUint(dst, v.Count(), 10)
	case value.KindInt:
		return strconv.AppendInt(dst, v.Int(), 10)
	case value.KindReal:
		return appendDouble(dst, v.Real())
	case value.KindTime, value.KindInterval:
		return appendTime(dst, v.Seconds())
	case value.KindString, value.KindEnum:
		return appendString(dst, v.Str(), inSet)
	case value.KindAddr:
		return value.AppendZeekAddr(dst, v.Addr())
	case value.KindSubnet:
		dst = value.AppendZeekAddr(dst, v.Addr())
		dst = append(dst, '/')
		return strconv.AppendInt(dst, int64(v.Bits()), 10)
	case value.KindPort:
		return strconv.AppendUint(dst, uint64(v.Port().Num), 10)
	case value.KindSet, value.KindVector:
		elems := v.Elems()
		if len(elems) == 0 {
			return append(dst, emptyField...)
		}
		for i := range elems {
			if i > 0 {
				dst = append(dst, setSeparator)
			}
			dst = appendValue(dst, &elems[i], true)
		}
		return dst
	}
	// Tables and records cannot be logged; CheckRecord rejects them.
	return append(dst, unsetField...)
}

const hexDigits = "0123456789abcdef"

func appendHex(dst []byte, c byte) []byte {
	return append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
}

// appendString writes a string or enum as Zeek's Ascii formatter does:
// "(empty)" for "", the reserved words "-" and "(empty)" with their first
// byte escaped, and everything else through ODesc's escaping.
func appendString(dst []byte, s string, inSet bool) []byte {
	switch s {
	case "":
		return append(dst, emptyField...)
	case unsetField, emptyField:
		dst = appendHex(dst, s[0])
		s = s[1:]
	}
	// Fast path: printable ASCII without a backslash or separator.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' || (inSet && c == setSeparator) {
			return appendEscaped(dst, s, i, inSet)
		}
	}
	return append(dst, s...)
}

// appendEscaped writes s as ODesc::AddBytes does with escaping and UTF-8
// enabled, s[:clean] being known to be clean printable ASCII: backslashes
// and escape sequences (the separator, and the set separator inside
// containers) are escaped byte by byte, and the runs between them go
// through appendRun.
func appendEscaped(dst []byte, s string, clean int, inSet bool) []byte {
	start := 0
	for i := clean; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			dst = appendRun(dst, s[start:i])
			dst = append(dst, '\\', '\\')
		case c == separator || (inSet && c == setSeparator):
			dst = appendRun(dst, s[start:i])
			dst = appendHex(dst, c)
		default:
			continue
		}
		start = i + 1
	}
	return appendRun(dst, s[start:])
}

// appendRun writes a run of bytes without backslashes or separators as
// Zeek's escape_utf8 does with ESCAPE_PRINTABLE_CONTROLS and
// ESCAPE_UNPRINTABLE_CONTROLS: as is if it is clean UTF-8 (see
// cleanUTF8), else with every byte outside printable ASCII as \xNN.
func appendRun(dst []byte, run string) []byte {
	if cleanUTF8(run) {
		return append(dst, run...)
	}
	for i := 0; i < len(run); i++ {
		if c := run[i]; c >= 0x20 && c < 0x7f {
			dst = append(dst, c)
		} else {
			dst = appendHex(dst, c)
		}
	}
	return dst
}

// cleanUTF8 reports whether s holds only printable ASCII and valid UTF-8
// sequences of code points Zeek lets through (check_ok_utf8 in
// zeek/src/util.cc): no controls (C0, DEL, C1), no private use area
// U+E000-U+F8FF, no U+FFF0-U+FFFF. Surrogates, overlong and truncated
// sequences are invalid UTF-8.
func cleanUTF8(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return false // C0 control or DEL
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		if r <= 0x9f || (r >= 0xe000 && r <= 0xf8ff) || (r >= 0xfff0 && r <= 0xffff) {
			return false
		}
		i += size
	}
	return true
}

// appendHeaderEscaped writes s as get_escaped_string(s, false) does for the
// #path line: whitespace and bytes outside printable ASCII as \xNN.
func appendHeaderEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > ' ' && c < 0x7f {
			dst = append(dst, c)
		} else {
			dst = appendHex(dst, c)
		}
	}
	return dst
}

// intMax is the threshold (INT_MAX) from which modp_dtoa and modp_dtoa3
// fall back to printf.
const intMax = float64(math.MaxInt32)

// modpSplit splits v (0 <= v < intMax) into its whole part and six
// decimals the way modp_dtoa does, rounding included: half-way cases round
// up when the last digit is odd or zero, and only a rounding of more than
// one half carries into the whole part (so frac can reach 1000000).
func modpSplit(v float64) (whole int64, frac uint32) {
	whole = int64(int32(v))
	tmp := float64((v - float64(whole)) * 1e6) // no fused multiply-add
	frac = uint32(tmp)
	switch diff := tmp - float64(frac); {
	case diff > 0.5:
		frac++
		if frac >= 1000000 {
			frac = 0
			whole++
		}
	case diff == 0.5 && (frac == 0 || frac&1 == 1):
		frac++
	}
	return whole, frac
}

// appendTime writes a time or interval in seconds as Zeek's
// Formatter::Render(double) does (modp_dtoa with precision 6).
func appendTime(dst []byte, d float64) []byte {
	if math.IsNaN(d) {
		return append(dst, "nan"...)
	}
	v := math.Abs(d)
	if v >= intMax {
		return appendExp(dst, d)
	}
	whole, frac := modpSplit(v)
	if d < 0 {
		dst = append(dst, '-')
	}
	dst = strconv.AppendInt(dst, whole, 10)
	dst = append(dst, '.')
	return appendFrac(dst, frac, 6)
}

// appendFrac writes frac zero-padded on the left to width digits.
func appendFrac(dst []byte, frac uint32, width int) []byte {
	var buf [10]byte
	digits := strconv.AppendUint(buf[:0], uint64(frac), 10)
	for range width - len(digits) {
		dst = append(dst, '0')
	}
	return append(dst, digits...)
}

// appendExp writes d as sprintf("%.16e") with the trailing zeros of the
// mantissa removed (and its point, if nothing is left after it), as
// modp_dtoa does for large values: 3e+09, 2.1532260005e+09, inf.
func appendExp(dst []byte, d float64) []byte {
	switch {
	case math.IsInf(d, 1):
		return append(dst, "inf"...)
	case math.IsInf(d, -1):
		return append(dst, "-inf"...)
	}
	var buf [32]byte
	s := strconv.AppendFloat(buf[:0], d, 'e', 16, 64)
	e := len(s) - 1
	for s[e] != 'e' {
		e--
	}
	m := e
	for s[m-1] == '0' {
		m--
	}
	if s[m-1] == '.' {
		m--
	}
	dst = append(dst, s[:m]...)
	return append(dst, s[e:]...)
}

// appendDouble writes a double as Zeek's ODesc::Add(d, no_exp = true)
// does: modp_dtoa3 with precision 6 (trailing zeros dropped, printf's
// "%.6f" from intMax up), then ".0" if d is finite and within 1e-9 of a
// whole number.
func appendDouble(dst []byte, d float64) []byte {
	if math.IsNaN(d) {
		return append(dst, "nan"...)
	}
	if math.IsInf(d, 0) {
		if d < 0 {
			return append(dst, "-inf"...)
		}
		return append(dst, "inf"...)
	}
	v := math.Abs(d)
	if v >= intMax {
		dst = strconv.AppendFloat(dst, d, 'f', 6, 64)
		for dst[len(dst)-1] == '0' {
			dst = dst[:len(dst)-1]
		}
		if dst[len(dst)-1] == '.' {
			dst = dst[:len(dst)-1]
		}
	} else {
		whole, frac := modpSplit(v)
		if d < 0 {
			dst = append(dst, '-')
		}
		dst = strconv.AppendInt(dst, whole, 10)
		if frac != 0 {
			width := 6
			for frac%10 == 0 {
				frac /= 10
				width--
			}
			dst = append(dst, '.')
			dst = appendFrac(dst, frac, width)
		}
	}
	if diff := d - math.RoundToEven(d); diff > -1e-9 && diff < 1e-9 {
		dst = append(dst, '.', '0')
	}
	return dst
}
