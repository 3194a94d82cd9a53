package value

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// The typed JSON form: every value is an object naming its kind in "@type",
// so nothing is lost in either direction. See the package documentation for
// the table of forms.

// MarshalJSON returns the typed JSON form of v.
func (v Value) MarshalJSON() ([]byte, error) { return AppendJSON(nil, v), nil }

// AppendJSON appends the typed JSON form of v to dst.
func AppendJSON(dst []byte, v Value) []byte {
	dst = append(dst, `{"@type":"`...)
	dst = append(dst, v.kind.String()...)
	dst = append(dst, '"')
	switch v.kind {
	case KindNone:
	case KindBool:
		dst = append(dst, `,"value":`...)
		dst = strconv.AppendBool(dst, v.lo != 0)
	case KindCount:
		dst = append(dst, `,"value":"`...)
		dst = strconv.AppendUint(dst, v.lo, 10)
		dst = append(dst, '"')
	case KindInt:
		dst = append(dst, `,"value":"`...)
		dst = strconv.AppendInt(dst, int64(v.lo), 10)
		dst = append(dst, '"')
	case KindReal:
		dst = append(dst, `,"value":`...)
		dst = appendJSONFloat(dst, math.Float64frombits(v.lo))
	case KindString, KindEnum:
		dst = append(dst, ',')
		dst = appendBytesField(dst, "value", v.str)
	case KindAddr:
		dst = append(dst, `,"value":"`...)
		dst = v.Addr().AppendTo(dst)
		dst = append(dst, '"')
	case KindSubnet:
		dst = append(dst, `,"value":"`...)
		dst = v.Subnet().AppendTo(dst)
		dst = append(dst, '"')
	case KindPort:
		dst = append(dst, `,"value":"`...)
		dst = append(dst, v.Port().String()...)
		dst = append(dst, '"')
	case KindTime, KindInterval:
		if v.aux == formSeconds {
			dst = append(dst, `,"seconds":`...)
			dst = appendJSONFloat(dst, math.Float64frombits(v.lo))
			break
		}
		dst = append(dst, `,"value":"`...)
		if v.kind == KindTime {
			dst = time.Unix(0, int64(v.lo)).UTC().AppendFormat(dst, time.RFC3339Nano)
		} else {
			dst = append(dst, time.Duration(v.lo).String()...)
		}
		dst = append(dst, '"')
	case KindSet, KindVector:
		dst = append(dst, `,"value":[`...)
		for i, e := range v.elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSON(dst, e)
		}
		dst = append(dst, ']')
	case KindTable:
		dst = append(dst, `,"value":[`...)
		for i := 0; i+1 < len(v.elems); i += 2 {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"key":`...)
			dst = AppendJSON(dst, v.elems[i])
			dst = append(dst, `,"value":`...)
			dst = AppendJSON(dst, v.elems[i+1])
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	case KindRecord:
		dst = append(dst, `,"value":[`...)
		for i, e := range v.Elems() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '{')
			dst = appendBytesField(dst, "name", v.FieldName(i))
			dst = append(dst, `,"value":`...)
			dst = AppendJSON(dst, e)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// appendJSONFloat appends f as the shortest JSON number that parses back to
// f, or as the string "NaN", "+Inf" or "-Inf".
func appendJSONFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Inf"`...)
	}
	// Like encoding/json: plain decimals unless very small or large.
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(dst, f, format, -1, 64)
}

// appendBytesField appends `"<key>":"<s>"` if s is UTF-8, else
// `"<key>_base64":"<base64 of s>"`.
func appendBytesField(dst []byte, key, s string) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	if !utf8.ValidString(s) {
		dst = append(dst, `_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, []byte(s))
		return append(dst, '"')
	}
	dst = append(dst, `":`...)
	return appendJSONString(dst, s)
}

// appendJSONString appends s, which must be UTF-8, as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// typedJSON is the wire shape of the typed JSON form while decoding.
type typedJSON struct {
	Type       *string         `json:"@type"`
	Value      json.RawMessage `json:"value"`
	Base64     *string         `json:"value_base64"`
	Seconds    json.RawMessage `json:"seconds"`
	Key        json.RawMessage `json:"key"`
	Name       *string         `json:"name"`
	NameBase64 *string         `json:"name_base64"`
}

// UnmarshalJSON parses the typed JSON form. JSON null is accepted as none.
func (v *Value) UnmarshalJSON(data []byte) error {
	out, err := parseJSONValue(data, 0)
	if err != nil {
		return err
	}
	*v = out
	return nil
}

// maxJSONDepth bounds the nesting of typed JSON values.
const maxJSONDepth = 256

func parseJSONValue(data []byte, depth int) (Value, error) {
	if depth > maxJSONDepth {
		return Value{}, fmt.Errorf("values nested deeper than %d", maxJSONDepth)
	}
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("null")) {
		return Value{}, nil
	}
	var t typedJSON
	if err := json.Unmarshal(data, &t); err != nil {
		return Value{}, fmt.Errorf("typed value: %w", err)
	}
	if t.Type == nil {
		return Value{}, errors.New(`typed value: missing "@type"`)
	}
	kind, err := ParseKind(*t.Type)
	if err != nil {
		return Value{}, fmt.Errorf("typed value: %w", err)
	}
	v, err := t.decode(kind, depth)
	if err != nil {
		return Value{}, fmt.Errorf("%s: %w", kind, err)
	}
	return v, nil
}

func (t *typedJSON) decode(kind Kind, depth int) (Value, error) {
	switch kind {
	case KindNone:
		return Value{}, nil
	case KindString, KindEnum:
		s, err := t.bytesField("value", t.Value, t.Base64)
		if err != nil {
			return Value{}, err
		}
		return Value{kind: kind, str: s}, nil
	case KindTime, KindInterval:
		if t.Seconds != nil {
			f, err := parseJSONFloat(t.Seconds)
			if err != nil {
				return Value{}, fmt.Errorf(`"seconds": %w`, err)
			}
			return Value{kind: kind, aux: formSeconds, lo: math.Float64bits(f)}, nil
		}
	}
	if t.Value == nil {
		return Value{}, errors.New(`missing "value"`)
	}
	switch kind {
	case KindBool:
		var b bool
		if err := json.Unmarshal(t.Value, &b); err != nil {
			return Value{}, err
		}
		return Bool(b), nil
	case KindCount:
		s, err := numberText(t.Value)
		if err != nil {
			return Value{}, err
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return Value{}, err
		}
		return Count(n), nil
	case KindInt:
		s, err := numberText(t.Value)
		if err != nil {
			return Value{}, err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Value{}, err
		}
		return Int(n), nil
	case KindReal:
		f, err := parseJSONFloat(t.Value)
		if err != nil {
			return Value{}, err
		}
		return Real(f), nil
	}
	if kind >= KindSet {
		return t.decodeContainer(kind, depth)
	}
	var s string
	if err := json.Unmarshal(t.Value, &s); err != nil {
		return Value{}, err
	}
	switch kind {
	case KindAddr:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return Value{}, err
		}
		if a.Zone() != "" {
			return Value{}, fmt.Errorf("address %q: zones are not supported", s)
		}
		return Addr(a), nil
	case KindSubnet:
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Value{}, err
		}
		return Subnet(p), nil
	case KindPort:
		p, err := ParsePort(s)
		if err != nil {
			return Value{}, err
		}
		return PortOf(p.Num, p.Proto), nil
	case KindTime:
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Value{}, err
		}
		ns := tm.UnixNano()
		if !time.Unix(0, ns).Equal(tm) {
			return Value{}, fmt.Errorf("time %q is outside the years 1678 to 2262", s)
		}
		return Time(ns), nil
	case KindInterval:
		d, err := time.ParseDuration(s)
		if err != nil {
			return Value{}, err
		}
		return Interval(d), nil
	}
	return Value{}, fmt.Errorf("unsupported kind %s", kind)
}

func (t *typedJSON) decodeContainer(kind Kind, depth int) (Value, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(t.Value, &items); err != nil {
		return Value{}, err
	}
	switch kind {
	case KindSet, KindVector:
		elems := make([]Value, len(items))
		for i, raw := range items {
			e, err := parseJSONValue(raw, depth+1)
			if err != nil {
				return Value{}, fmt.Errorf("element %d: %w", i, err)
			}
			elems[i] = e
		}
		return Value{kind: kind, elems: elems}, nil
	case KindTable:
		kv := make([]Value, 0, 2*len(items))
		for i, raw := range items {
			var entry typedJSON
			if err := json.Unmarshal(raw, &entry); err != nil {
				return Value{}, fmt.Errorf("entry %d: %w", i, err)
			}
			if entry.Key == nil || entry.Value == nil {
				return Value{}, fmt.Errorf(`entry %d: want {"key":…,"value":…}`, i)
			}
			k, err := parseJSONValue(entry.Key, depth+1)
			if err != nil {
				return Value{}, fmt.Errorf("entry %d key: %w", i, err)
			}
			val, err := parseJSONValue(entry.Value, depth+1)
			if err != nil {
				return Value{}, fmt.Errorf("entry %d value: %w", i, err)
			}
			kv = append(kv, k, val)
		}
		return Value{kind: KindTable, elems: kv}, nil
	case KindRecord:
		n := len(items)
		elems := make([]Value, 2*n)
		for i, raw := range items {
			var field typedJSON
			if err := json.Unmarshal(raw, &field); err != nil {
				return Value{}, fmt.Errorf("field %d: %w", i, err)
			}
			name, err := field.bytesField("name", nil, field.NameBase64)
			if field.Name != nil {
				name, err = *field.Name, nil
			}
			if err != nil {
				return Value{}, fmt.Errorf("field %d: %w", i, err)
			}
			if field.Value == nil {
				return Value{}, fmt.Errorf(`field %d (%q): missing "value"`, i, name)
			}
			val, err := parseJSONValue(field.Value, depth+1)
			if err != nil {
				return Value{}, fmt.Errorf("field %d (%q): %w", i, name, err)
			}
			elems[i], elems[n+i] = val, String(name)
		}
		return Value{kind: KindRecord, elems: elems}, nil
	}
	return Value{}, fmt.Errorf("unsupported kind %s", kind)
}

// bytesField returns the string held in raw, or the bytes held in b64.
func (t *typedJSON) bytesField(key string, raw json.RawMessage, b64 *string) (string, error) {
	switch {
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return "", fmt.Errorf(`"%s_base64": %w`, key, err)
		}
		return string(b), nil
	case raw != nil:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf(`"%s": %w`, key, err)
		}
		return s, nil
	}
	return "", fmt.Errorf(`missing "%s"`, key)
}

// numberText returns the digits of a JSON number or of a JSON string
// holding one.
func numberText(raw json.RawMessage) (string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// parseJSONFloat parses a JSON number or one of the strings "NaN", "+Inf",
// "Inf", "-Inf".
func parseJSONFloat(raw json.RawMessage) (float64, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		switch s {
		case "NaN":
			return math.NaN(), nil
		case "+Inf", "Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		}
		return 0, fmt.Errorf("real %q: want a number, NaN, +Inf or -Inf", s)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	return strconv.ParseFloat(n.String(), 64)
}

// checkUTF8 fails if s cannot be carried losslessly as a JSON string.
func checkUTF8(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q is not UTF-8 and has no lossless JSON form", what, s)
	}
	return nil
}

// MarshalJSON returns the tag's name as a JSON string.
func (t TypeTag) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// UnmarshalJSON accepts a tag name or number, as a string or a number.
func (t *TypeTag) UnmarshalJSON(data []byte) error {
	s, err := numberText(data)
	if err != nil {
		return fmt.Errorf("zeek type: %w", err)
	}
	tag, err := ParseTypeTag(s)
	if err != nil {
		return err
	}
	*t = tag
	return nil
}

type metadataJSON struct {
	ID    uint64 `json:"id"`
	Value Value  `json:"value"`
}

type eventJSON struct {
	Name     string         `json:"name"`
	Args     []Value        `json:"args"`
	Metadata []metadataJSON `json:"metadata,omitempty"`
}

// MarshalJSON returns the event as {"name":…,"args":[…],"metadata":[{"id":…,
// "value":…}]} with typed values; metadata is left out when empty.
func (e Event) MarshalJSON() ([]byte, error) {
	if err := checkUTF8("event name", e.Name); err != nil {
		return nil, err
	}
	out := eventJSON{Name: e.Name, Args: e.Args}
	if out.Args == nil {
		out.Args = []Value{}
	}
	for _, m := range e.Metadata {
		out.Metadata = append(out.Metadata, metadataJSON(m))
	}
	return json.Marshal(out)
}

// UnmarshalJSON parses the form MarshalJSON writes.
func (e *Event) UnmarshalJSON(data []byte) error {
	var in eventJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("event: %w", err)
	}
	*e = Event{Name: in.Name, Args: in.Args}
	for _, m := range in.Metadata {
		e.Metadata = append(e.Metadata, Metadata(m))
	}
	return nil
}

type fieldJSON struct {
	Name          string  `json:"name"`
	Type          TypeTag `json:"type"`
	Subtype       TypeTag `json:"subtype"`
	Optional      bool    `json:"optional"`
	SecondaryName string  `json:"secondary_name,omitempty"`
	ValueSubtype  TypeTag `json:"value_subtype,omitempty"`
}

// MarshalJSON returns the field as {"name":…,"type":"table",
// "subtype":"string","optional":…}; secondary_name and value_subtype are
// present only when set.
func (f Field) MarshalJSON() ([]byte, error) {
	if err := checkUTF8("field name", f.Name); err != nil {
		return nil, err
	}
	if err := checkUTF8("secondary field name", f.SecondaryName); err != nil {
		return nil, err
	}
	return json.Marshal(fieldJSON{
		Name: f.Name, Type: f.Type.Tag, Subtype: f.Type.Sub, Optional: f.Optional,
		SecondaryName: f.SecondaryName, ValueSubtype: f.ValueSubtype,
	})
}

// UnmarshalJSON parses the form MarshalJSON writes.
func (f *Field) UnmarshalJSON(data []byte) error {
	var in fieldJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("field: %w", err)
	}
	*f = Field{
		Name: in.Name, Type: Type{Tag: in.Type, Sub: in.Subtype}, Optional: in.Optional,
		SecondaryName: in.SecondaryName, ValueSubtype: in.ValueSubtype,
	}
	return nil
}

type logBatchJSON struct {
	Stream  string    `json:"stream"`
	Writer  string    `json:"writer"`
	Filter  string    `json:"filter"`
	Path    string    `json:"path"`
	Fields  []Field   `json:"fields"`
	Records [][]Value `json:"records"`
}

// MarshalJSON returns the batch as {"stream","writer","filter","path",
// "fields":[…],"records":[[…],…]} with typed values; unset columns are
// {"@type":"none"}.
func (b LogBatch) MarshalJSON() ([]byte, error) {
	for what, s := range map[string]string{"stream": b.Stream, "writer": b.Writer, "filter": b.Filter, "path": b.Path} {
		if err := checkUTF8(what, s); err != nil {
			return nil, err
		}
	}
	out := logBatchJSON(b)
	if out.Fields == nil {
		out.Fields = []Field{}
	}
	if out.Records == nil {
		out.Records = [][]Value{}
	}
	return json.Marshal(out)
}

// UnmarshalJSON parses the form MarshalJSON writes and validates the result
// (see Validate).
func (b *LogBatch) UnmarshalJSON(data []byte) error {
	var in logBatchJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("log batch: %w", err)
	}
	out := LogBatch(in)
	if err := out.Validate(); err != nil {
		return fmt.Errorf("log batch: %w", err)
	}
	*b = out
	return nil
}
