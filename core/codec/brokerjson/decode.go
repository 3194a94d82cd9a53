package brokerjson

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/value"
)

// name prefixes every error of this codec.
const name = "brokerjson"

// MaxDepth is the deepest nesting of JSON objects and arrays the codec
// decodes, and of containers it encodes; CAF's JSON parser, which Zeek
// uses, has the same limit.
const MaxDepth = 128

// decoder reads one JSON payload. The payload is copied into s once;
// strings without escapes are substrings of it.
type decoder struct {
	s     string
	pos   int
	depth int
	// stack collects the elements of the containers being decoded,
	// innermost last; finished containers move theirs into the arena.
	stack []value.Value
	arena []value.Value
	// offs holds the offsets of set elements and table entries being
	// decoded, to report duplicates by offset.
	offs []int
}

// collect moves the values from stack[base:] into an exactly sized slice
// of the arena.
func (d *decoder) collect(base int) []value.Value {
	n := len(d.stack) - base
	if n == 0 {
		return nil
	}
	if cap(d.arena)-len(d.arena) < n {
		d.arena = make([]value.Value, 0, max(n, min(2*cap(d.arena)+16, (len(d.s)-d.pos)/32)))
	}
	l := len(d.arena)
	d.arena = append(d.arena, d.stack[base:]...)
	clear(d.stack[base:])
	d.stack = d.stack[:base]
	return d.arena[l : l+n : l+n]
}

func (d *decoder) errorf(offset int, format string, args ...any) error {
	return codec.Errorf(name, offset, format, args...)
}

// have describes what is at offset i, for error messages.
func (d *decoder) have(i int) string {
	if i >= len(d.s) {
		return "end of payload"
	}
	return strconv.QuoteRune(rune(d.s[i]))
}

func (d *decoder) ws() {
	for d.pos < len(d.s) {
		switch d.s[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	if d.pos < len(d.s) {
		return d.s[d.pos]
	}
	return 0
}

// expect skips whitespace and consumes c.
func (d *decoder) expect(c byte, what string) error {
	d.ws()
	if d.pos >= len(d.s) || d.s[d.pos] != c {
		return d.errorf(d.pos, "want %s, have %s", what, d.have(d.pos))
	}
	d.pos++
	return nil
}

func (d *decoder) enter(at int) error {
	if d.depth >= MaxDepth {
		return d.errorf(at, "nested deeper than %d", MaxDepth)
	}
	d.depth++
	return nil
}

// str parses a JSON string. Besides the standard escapes it accepts \v
// (which Zeek writes) and raw control and non-UTF-8 bytes (which Zeek
// copies into its output unescaped).
func (d *decoder) str(what string) (string, error) {
	d.ws()
	if d.peek() != '"' {
		return "", d.errorf(d.pos, "want %s string, have %s", what, d.have(d.pos))
	}
	start := d.pos + 1
	i := start
	for i < len(d.s) && d.s[i] != '"' && d.s[i] != '\\' {
		i++
	}
	if i < len(d.s) && d.s[i] == '"' { // no escapes: share the payload copy
		d.pos = i + 1
		return d.s[start:i], nil
	}
	buf := []byte(d.s[start:i])
	for {
		if i >= len(d.s) {
			return "", d.errorf(d.pos, "unterminated %s string", what)
		}
		c := d.s[i]
		switch c {
		case '"':
			d.pos = i + 1
			return string(buf), nil
		case '\\':
			if i+1 >= len(d.s) {
				return "", d.errorf(i, "unterminated %s string", what)
			}
			esc := d.s[i+1]
			switch esc {
			case '"', '\\', '/':
				buf = append(buf, esc)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'v':
				buf = append(buf, '\v')
			case 'u':
				var err error
				if buf, i, err = d.unicode(buf, i); err != nil {
					return "", err
				}
				continue
			default:
				return "", d.errorf(i, "want an escape of \", \\, /, b, f, n, r, t, v or u, have %s", d.have(i+1))
			}
			i += 2
		default:
			buf = append(buf, c)
			i++
		}
	}
}

// unicode decodes the \uXXXX escape (and a trailing low surrogate) at i,
// appending UTF-8 as CAF does: a lone low surrogate becomes its 3-byte
// encoding.
func (d *decoder) unicode(buf []byte, i int) ([]byte, int, error) {
	hex4 := func(at int) (rune, error) {
		if at+6 > len(d.s) || d.s[at] != '\\' || d.s[at+1] != 'u' {
			return 0, d.errorf(at, "want \\u and 4 hex digits")
		}
		n, err := strconv.ParseUint(d.s[at+2:at+6], 16, 16)
		if err != nil {
			return 0, d.errorf(at, "want \\u and 4 hex digits, have %q", d.s[at:at+6])
		}
		return rune(n), nil
	}
	r, err := hex4(i)
	if err != nil {
		return nil, i, err
	}
	i += 6
	if r >= 0xd800 && r < 0xdc00 {
		low, err := hex4(i)
		if err != nil {
			return nil, i, d.errorf(i, "want a low surrogate \\uDC00 to \\uDFFF after \\u%04X", r)
		}
		if low < 0xdc00 || low > 0xdfff {
			return nil, i, d.errorf(i, "want a low surrogate \\uDC00 to \\uDFFF after \\u%04X, have \\u%04X", r, low)
		}
		r = (r-0xd800)<<10 | (low - 0xdc00) + 0x10000
		i += 6
	}
	if r >= 0xd800 && r <= 0xdfff { // lone low surrogate, kept as CAF keeps it
		return append(buf, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f), i, nil
	}
	return utf8.AppendRune(buf, r), i, nil
}

// number returns the text of a JSON number, or of one of the words nan,
// -nan, inf, -inf (which Zeek writes for special reals).
func (d *decoder) number(what string) (string, error) {
	d.ws()
	start := d.pos
	for _, w := range []string{"nan", "-nan", "inf", "-inf"} {
		if strings.HasPrefix(d.s[start:], w) {
			d.pos += len(w)
			return w, nil
		}
	}
	i := start
	digits := func() int {
		n := 0
		for i < len(d.s) && d.s[i] >= '0' && d.s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(d.s) && d.s[i] == '-' {
		i++
	}
	if digits() == 0 {
		return "", d.errorf(start, "want %s number, have %s", what, d.have(start))
	}
	if i < len(d.s) && d.s[i] == '.' {
		i++
		if digits() == 0 {
			return "", d.errorf(i, "want digits after the decimal point, have %s", d.have(i))
		}
	}
	if i < len(d.s) && (d.s[i] == 'e' || d.s[i] == 'E') {
		i++
		if i < len(d.s) && (d.s[i] == '+' || d.s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return "", d.errorf(i, "want exponent digits, have %s", d.have(i))
		}
	}
	d.pos = i
	return d.s[start:i], nil
}

// skip skips one JSON value of any kind.
func (d *decoder) skip() error {
	d.ws()
	at := d.pos
	switch c := d.peek(); {
	case c == '"':
		_, err := d.str("a")
		return err
	case c == '{' || c == '[':
		if err := d.enter(at); err != nil {
			return err
		}
		defer func() { d.depth-- }()
		d.pos++
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		d.ws()
		if d.peek() == closing {
			d.pos++
			return nil
		}
		for {
			if c == '{' {
				if _, err := d.str("a key"); err != nil {
					return err
				}
				if err := d.expect(':', "':'"); err != nil {
					return err
				}
			}
			if err := d.skip(); err != nil {
				return err
			}
			d.ws()
			switch d.peek() {
			case ',':
				d.pos++
			case closing:
				d.pos++
				return nil
			default:
				return d.errorf(d.pos, "want ',' or %q, have %s", closing, d.have(d.pos))
			}
		}
	case c == 't' && strings.HasPrefix(d.s[at:], "true"):
		d.pos += 4
	case c == 'f' && strings.HasPrefix(d.s[at:], "false"):
		d.pos += 5
	case c == 'n' && strings.HasPrefix(d.s[at:], "null"):
		d.pos += 4
	default:
		_, err := d.number("a")
		return err
	}
	return nil
}

// object is an opened value object {"@data-type": …, "data": …}.
type object struct {
	start  int
	typ    string
	data   bool // "data" is present
	inline bool // the object continues after the data value
	end    int  // offset after the object, if !inline
}

// open parses a value object up to its data, leaving d.pos at the data
// value. Keys may come in any order; other keys are skipped.
func (d *decoder) open() (object, error) {
	d.ws()
	o := object{start: d.pos}
	if err := d.enter(d.pos); err != nil {
		return o, err
	}
	if err := d.expect('{', "a value object '{'"); err != nil {
		return o, err
	}
	dataAt := -1
	d.ws()
	if d.peek() == '}' {
		d.pos++
		return o, d.errorf(o.start, `want "@data-type" in the value object`)
	}
	for {
		keyAt := d.pos
		key, err := d.str("a key")
		if err != nil {
			return o, err
		}
		if err := d.expect(':', "':'"); err != nil {
			return o, err
		}
		d.ws()
		switch key {
		case "@data-type":
			if o.typ != "" {
				return o, d.errorf(keyAt, `duplicate key "@data-type"`)
			}
			if o.typ, err = d.str(`"@data-type"`); err != nil {
				return o, err
			}
			if o.typ == "" {
				return o, d.errorf(keyAt, `want a type name in "@data-type", have ""`)
			}
		case "data":
			if o.data {
				return o, d.errorf(keyAt, `duplicate key "data"`)
			}
			o.data = true
			if o.typ != "" {
				o.inline = true
				return o, nil
			}
			dataAt = d.pos
			if err := d.skip(); err != nil {
				return o, err
			}
		default:
			if err := d.skip(); err != nil {
				return o, err
			}
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
			d.ws()
			continue
		case '}':
			d.pos++
		default:
			return o, d.errorf(d.pos, "want ',' or '}', have %s", d.have(d.pos))
		}
		break
	}
	if o.typ == "" {
		return o, d.errorf(o.start, `want "@data-type" in the value object`)
	}
	o.end = d.pos
	if dataAt >= 0 {
		d.pos = dataAt
	}
	return o, nil
}

// close finishes the object after its data value has been consumed.
func (d *decoder) close(o object) error {
	d.depth--
	if !o.inline {
		d.pos = o.end
		return nil
	}
	for {
		d.ws()
		switch d.peek() {
		case '}':
			d.pos++
			return nil
		case ',':
			d.pos++
			keyAt := d.pos
			key, err := d.str("a key")
			if err != nil {
				return err
			}
			if key == "@data-type" || key == "data" {
				return d.errorf(keyAt, "duplicate key %q", key)
			}
			if err := d.expect(':', "':'"); err != nil {
				return err
			}
			if err := d.skip(); err != nil {
				return err
			}
		default:
			return d.errorf(d.pos, "want ',' or '}', have %s", d.have(d.pos))
		}
	}
}

// array calls elem for each element of the JSON array at d.pos.
func (d *decoder) array(what string, elem func(i int) error) (int, error) {
	d.ws()
	if d.peek() != '[' {
		return 0, d.errorf(d.pos, "want %s array '[', have %s", what, d.have(d.pos))
	}
	d.pos++
	d.ws()
	if d.peek() == ']' {
		d.pos++
		return 0, nil
	}
	for n := 0; ; n++ {
		if err := elem(n); err != nil {
			return 0, err
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return n + 1, nil
		default:
			return 0, d.errorf(d.pos, "want ',' or ']', have %s", d.have(d.pos))
		}
	}
}

// vector parses a vector value object, calling elem for each element.
func (d *decoder) vector(what string, elem func(i int) error) (n, start int, err error) {
	o, err := d.open()
	if err != nil {
		return 0, o.start, err
	}
	if o.typ != "vector" {
		return 0, o.start, d.errorf(o.start, "want %s of @data-type \"vector\", have %q", what, o.typ)
	}
	if !o.data {
		return 0, o.start, d.errorf(o.start, `want "data" in the %s`, what)
	}
	if n, err = d.array(what, elem); err != nil {
		return 0, o.start, err
	}
	return n, o.start, d.close(o)
}

// DecodeEvent decodes a broker-json-v1 event payload: the JSON form of the
// vector of protocol version 1, message type 1 and the content vector of
// name, arguments and optional metadata. Keys may come in any order and
// keys other than "@data-type" and "data" (such as "type" and "topic" of
// the WebSocket framing) are ignored. The event does not share memory with
// payload.
func DecodeEvent(payload []byte) (value.Event, error) {
	d := &decoder{s: string(payload)}
	var ev value.Event
	n, start, err := d.vector("event vector", func(i int) error {
		switch i {
		case 0, 1:
			at := d.pos
			v, err := d.value()
			if err != nil {
				return err
			}
			what := []string{"protocol version", "message type 1 (event)"}[i]
			if v.Kind() != value.KindCount || v.Count() != 1 {
				return d.errorf(at, "want %s count 1, have %s %v", what, v.Kind(), v)
			}
			return nil
		case 2:
			return d.content(&ev)
		}
		return d.errorf(d.pos, "want event vector of 3 elements, have more")
	})
	if err != nil {
		return value.Event{}, err
	}
	if n != 3 {
		return value.Event{}, d.errorf(start, "want event vector of 3 elements, have %d", n)
	}
	if err := d.end(); err != nil {
		return value.Event{}, err
	}
	return ev, nil
}

func (d *decoder) content(ev *value.Event) error {
	n, start, err := d.vector("event content vector", func(i int) error {
		switch i {
		case 0:
			at := d.pos
			v, err := d.value()
			if err != nil {
				return err
			}
			if v.Kind() != value.KindString {
				return d.errorf(at, "want event name string, have %s", v.Kind())
			}
			ev.Name = v.Str()
			return nil
		case 1:
			base := len(d.stack)
			_, _, err := d.vector("event arguments vector", func(int) error {
				v, err := d.value()
				d.stack = append(d.stack, v)
				return err
			})
			ev.Args = d.collect(base)
			return err
		case 2:
			_, _, err := d.vector("metadata vector", func(int) error { return d.metadata(ev) })
			return err
		}
		return d.errorf(d.pos, "want event content vector of 2 or 3 elements, have more")
	})
	if err != nil {
		return err
	}
	if n != 2 && n != 3 {
		return d.errorf(start, "want event content vector of 2 or 3 elements, have %d", n)
	}
	return nil
}

func (d *decoder) metadata(ev *value.Event) error {
	var m value.Metadata
	n, start, err := d.vector("metadata entry vector", func(i int) error {
		at := d.pos
		v, err := d.value()
		if err != nil {
			return err
		}
		switch i {
		case 0:
			if v.Kind() != value.KindCount {
				return d.errorf(at, "want metadata id count, have %s", v.Kind())
			}
			m.ID = v.Count()
		case 1:
			m.Value = v
		default:
			return d.errorf(at, "want metadata entry vector of 2 elements, have more")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n != 2 {
		return d.errorf(start, "want metadata entry vector of 2 elements, have %d", n)
	}
	ev.Metadata = append(ev.Metadata, m)
	return nil
}

func (d *decoder) end() error {
	d.ws()
	if d.pos != len(d.s) {
		return d.errorf(d.pos, "want end of payload, have %s", d.have(d.pos))
	}
	return nil
}

// DecodeValue decodes one broker-json-v1 value object that fills payload
// (but for whitespace).
func DecodeValue(payload []byte) (value.Value, error) {
	d := &decoder{s: string(payload)}
	v, err := d.value()
	if err != nil {
		return value.Value{}, err
	}
	if err := d.end(); err != nil {
		return value.Value{}, err
	}
	return v, nil
}

// value decodes one value object.
func (d *decoder) value() (value.Value, error) {
	o, err := d.open()
	if err != nil {
		return value.Value{}, err
	}
	if !o.data && o.typ != "none" {
		return value.Value{}, d.errorf(o.start, `want "data" in the %q value object`, o.typ)
	}
	d.ws()
	at := d.pos
	var v value.Value
	switch o.typ {
	case "none":
		if o.data {
			err = d.skip() // Zeek accepts anything here
		}
	case "boolean":
		switch {
		case strings.HasPrefix(d.s[at:], "true"):
			v, d.pos = value.Bool(true), at+4
		case strings.HasPrefix(d.s[at:], "false"):
			v, d.pos = value.Bool(false), at+5
		default:
			err = d.errorf(at, "want boolean true or false, have %s", d.have(at))
		}
	case "count":
		v, err = d.count(at)
	case "integer":
		v, err = d.integer(at)
	case "real":
		v, err = d.real(at)
	case "string", "enum-value":
		var s string
		if s, err = d.str(o.typ); err == nil {
			v = value.String(s)
			if o.typ == "enum-value" {
				v = value.Enum(s)
			}
		}
	case "address", "subnet", "port", "timestamp", "timespan":
		var s string
		if s, err = d.str(o.typ); err == nil {
			v, err = parseText(o.typ, s)
			if err != nil {
				err = d.errorf(at, "%v", err)
			}
		}
	case "set", "vector":
		v, err = d.list(o.typ)
	case "table":
		v, err = d.table()
	default:
		err = d.errorf(o.start, "unknown @data-type %q", o.typ)
	}
	if err != nil {
		return value.Value{}, err
	}
	return v, d.close(o)
}

func (d *decoder) count(at int) (value.Value, error) {
	s, err := d.number("count")
	if err != nil {
		return value.Value{}, err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return value.Value{}, d.errorf(at, "want count (an integer from 0 to 2^64-1), have %s", s)
	}
	return value.Count(n), nil
}

func (d *decoder) integer(at int) (value.Value, error) {
	s, err := d.number("integer")
	if err != nil {
		return value.Value{}, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return value.Value{}, d.errorf(at, "want integer (from -2^63 to 2^63-1), have %s", s)
	}
	return value.Int(n), nil
}

func (d *decoder) real(at int) (value.Value, error) {
	s, err := d.number("real")
	if err != nil {
		return value.Value{}, err
	}
	switch s {
	case "nan":
		return value.Real(math.NaN()), nil
	case "-nan":
		return value.Real(math.Copysign(math.NaN(), -1)), nil
	case "inf":
		return value.Real(math.Inf(1)), nil
	case "-inf":
		return value.Real(math.Inf(-1)), nil
	}
	if !strings.ContainsAny(s, ".eE") {
		return value.Value{}, d.errorf(at, "want real with a decimal point or exponent, have %s", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) { // overflow reads as ±Inf
		return value.Value{}, d.errorf(at, "want real, have %s", s)
	}
	return value.Real(f), nil
}

// list decodes the elements of a set or vector; a set must not hold two
// equal elements.
func (d *decoder) list(typ string) (value.Value, error) {
	base, offBase := len(d.stack), len(d.offs)
	defer func() { d.offs = d.offs[:offBase] }()
	_, err := d.array(typ, func(int) error {
		d.ws()
		d.offs = append(d.offs, d.pos)
		v, err := d.value()
		d.stack = append(d.stack, v)
		return err
	})
	if err != nil {
		return value.Value{}, err
	}
	elems := d.collect(base)
	if typ == "vector" {
		return value.Vector(elems...), nil
	}
	v := value.Set(elems...)
	if i, j, dup := value.FindDuplicate(v); dup {
		return value.Value{}, d.errorf(d.offs[offBase+j], "set element %d duplicates set element %d", j, i)
	}
	return v, nil
}

// table decodes [{"key": …, "value": …}, …]; keys must be unique.
func (d *decoder) table() (value.Value, error) {
	base, offBase := len(d.stack), len(d.offs)
	defer func() { d.offs = d.offs[:offBase] }()
	_, err := d.array("table", func(i int) error {
		d.ws()
		entryAt := d.pos
		d.offs = append(d.offs, entryAt)
		if err := d.enter(entryAt); err != nil {
			return err
		}
		defer func() { d.depth-- }()
		var key, val value.Value
		var haveKey, haveVal bool
		_, err := d.members(func(name string, at int) error {
			var err error
			switch name {
			case "key":
				if haveKey {
					return d.errorf(at, `duplicate key "key"`)
				}
				key, err = d.value()
				haveKey = true
			case "value":
				if haveVal {
					return d.errorf(at, `duplicate key "value"`)
				}
				val, err = d.value()
				haveVal = true
			default:
				err = d.skip()
			}
			return err
		})
		if err != nil {
			return err
		}
		if !haveKey || !haveVal {
			return d.errorf(entryAt, `want table entry {"key": …, "value": …}`)
		}
		d.stack = append(d.stack, key, val)
		return nil
	})
	if err != nil {
		return value.Value{}, err
	}
	v, err := value.TableFromPairs(d.collect(base))
	if err != nil {
		return value.Value{}, d.errorf(d.pos, "%v", err)
	}
	if i, j, dup := value.FindDuplicate(v); dup {
		return value.Value{}, d.errorf(d.offs[offBase+j], "table entry %d duplicates table entry %d", j, i)
	}
	return v, nil
}

// members parses a JSON object, calling member with d.pos at each member's
// value.
func (d *decoder) members(member func(name string, at int) error) (int, error) {
	if err := d.expect('{', "an object '{'"); err != nil {
		return 0, err
	}
	d.ws()
	if d.peek() == '}' {
		d.pos++
		return 0, nil
	}
	for n := 0; ; n++ {
		d.ws()
		at := d.pos
		key, err := d.str("a key")
		if err != nil {
			return 0, err
		}
		if err := d.expect(':', "':'"); err != nil {
			return 0, err
		}
		if err := member(key, at); err != nil {
			return 0, err
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return n + 1, nil
		default:
			return 0, d.errorf(d.pos, "want ',' or '}', have %s", d.have(d.pos))
		}
	}
}

// parseText parses the textual forms of addresses, subnets, ports,
// timestamps and timespans.
func parseText(typ, s string) (value.Value, error) {
	switch typ {
	case "address":
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return value.Value{}, errorText("address", s, "an IPv4 or IPv6 address")
		}
		return value.Addr(a), nil
	case "subnet":
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return value.Value{}, errorText("subnet", s, "<address>/<length>")
		}
		return value.Subnet(p), nil
	case "port":
		return parsePort(s)
	case "timestamp":
		return parseTimestamp(s)
	}
	return parseTimespan(s)
}

// errorText describes a malformed textual value.
func errorText(typ, s, want string) error {
	return fmt.Errorf("want %s %s, have %q", typ, want, s)
}

// parsePort parses "<n>/<proto>" as Broker does: tcp, udp and icmp are
// known, any other protocol is unknown, and a bare number is tcp.
func parsePort(s string) (value.Value, error) {
	num, proto, slash := strings.Cut(s, "/")
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil {
		return value.Value{}, errorText("port", s, "<number 0 to 65535>/<protocol>")
	}
	p := value.ProtoTCP
	if slash {
		switch proto {
		case "tcp":
		case "udp":
			p = value.ProtoUDP
		case "icmp":
			p = value.ProtoICMP
		default:
			p = value.ProtoUnknown
		}
	}
	return value.PortOf(uint16(n), p), nil
}

// parseTimestamp parses an ISO 8601 date-time with an optional fraction
// and an optional zone (Z or ±HH:MM); without a zone it is UTC.
func parseTimestamp(s string) (value.Value, error) {
	layout := "2006-01-02T15:04:05" // Zeek's form: no zone
	if len(s) > 19 && strings.ContainsAny(s[19:], "Z+-") {
		layout = "2006-01-02T15:04:05Z07:00"
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return value.Value{}, errorText("timestamp", s, "YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]")
	}
	ns := t.UnixNano()
	if !time.Unix(0, ns).Equal(t) {
		return value.Value{}, errorText("timestamp", s, "between the years 1678 and 2262")
	}
	return value.Time(ns), nil
}

// timespanUnits are the units a timespan may carry, in nanoseconds.
var timespanUnits = []struct {
	suffix string
	ns     int64
}{
	{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"min", 60e9}, {"s", 1e9}, {"h", 3600e9},
}

// parseTimespan parses "<signed integer><unit>", unit ns, us, ms, s, min
// or h.
func parseTimespan(s string) (value.Value, error) {
	for _, u := range timespanUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			break
		}
		if err != nil || n > math.MaxInt64/u.ns || n < math.MinInt64/u.ns {
			return value.Value{}, errorText("timespan", s, "within ±2^63 nanoseconds")
		}
		return value.Interval(time.Duration(n * u.ns)), nil
	}
	return value.Value{}, errorText("timespan", s, "<integer><unit> with unit ns, us, ms, s, min or h")
}
