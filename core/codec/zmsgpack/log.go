package zmsgpack

import (
	"fmt"
	"math"
	"net/netip"
	"slices"

	"github.com/zpipe/zpipe/core/value"
)

// Defaults of the log batch keys a producer may leave out.
const (
	DefaultWriter = "Log::WRITER_ASCII"
	DefaultFilter = "default"
)

// AppendLogBatch appends the zpipe-msgpack-v1 document of b to dst: a map of
// "log" (the stream), "writer", "filter", "path", "fields" and "records".
// The batch must be valid (see value.LogBatch.Validate).
func AppendLogBatch(dst []byte, b *value.LogBatch) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return dst, fmt.Errorf("%s: log batch: %w", name, err)
	}
	if uint64(len(b.Fields)) > math.MaxUint32 || uint64(len(b.Records)) > math.MaxUint32 {
		return dst, fmt.Errorf("%s: log batch of %d fields and %d records exceeds MessagePack's limit of 2^32-1",
			name, len(b.Fields), len(b.Records))
	}
	dst = appendMapHeader(dst, 6)
	dst = appendString(appendString(dst, keyLog), b.Stream)
	dst = appendString(appendString(dst, keyWriter), b.Writer)
	dst = appendString(appendString(dst, keyFilter), b.Filter)
	dst = appendString(appendString(dst, keyPath), b.Path)
	dst = appendArrayHeader(appendString(dst, keyFields), len(b.Fields))
	for _, f := range b.Fields {
		dst = appendField(dst, f)
	}
	dst = appendArrayHeader(appendString(dst, keyRecords), len(b.Records))
	var err error
	for r, row := range b.Records {
		dst = appendArrayHeader(dst, len(row))
		for i, v := range row {
			if dst, err = appendValue(dst, v, 2); err != nil {
				return dst, fmt.Errorf("%s: record %d field %d (%q): %w", name, r, i, b.Fields[i].Name, err)
			}
		}
	}
	return dst, nil
}

// appendField appends a field descriptor: a map of "name" and "type", then
// "subtype", "optional", "secondary_name" and "value_subtype" when they are
// not void, false, empty and void.
func appendField(dst []byte, f value.Field) []byte {
	n := 2
	for _, set := range []bool{f.Type.Sub != value.TypeVoid, f.Optional, f.SecondaryName != "", f.ValueSubtype != value.TypeVoid} {
		if set {
			n++
		}
	}
	dst = appendMapHeader(dst, n)
	dst = appendString(appendString(dst, keyName), f.Name)
	dst = appendString(appendString(dst, keyType), f.Type.Tag.String())
	if f.Type.Sub != value.TypeVoid {
		dst = appendString(appendString(dst, keySubtype), f.Type.Sub.String())
	}
	if f.Optional {
		dst = appendBool(appendString(dst, keyOptional), true)
	}
	if f.SecondaryName != "" {
		dst = appendString(appendString(dst, keySecondaryName), f.SecondaryName)
	}
	if f.ValueSubtype != value.TypeVoid {
		dst = appendString(appendString(dst, keyValueSubtype), f.ValueSubtype.String())
	}
	return dst
}

// coerce returns v as a value of a log column of type t: v itself when it
// has the column's kind (or is none), or v's plain form read as the
// column's kind — an integer of the other signedness for a count or int,
// a real for a time or interval in seconds, a string for an enum, address,
// subnet or port, a vector for a set. Elements of sets and vectors are
// coerced to the element type. When v does not fit the column, coerce
// returns the reason.
func coerce(v value.Value, t value.Type) (value.Value, string) {
	if v.IsNone() {
		return v, ""
	}
	if !t.Tag.IsContainer() {
		k, _ := t.Tag.ValueKind()
		return coerceScalar(v, k, t.Tag)
	}
	switch {
	case t.Tag == value.TypeTable && (v.Kind() == value.KindSet || v.Kind() == value.KindVector),
		t.Tag == value.TypeVector && v.Kind() == value.KindVector:
	default:
		want, _ := t.Tag.ValueKind()
		return v, fmt.Sprintf("want %s for type %s, have %s", want, t, v.Kind())
	}
	src := v.Elems()
	out, cloned := src, false
	for i, e := range src {
		c, why := coerce(e, value.Type{Tag: t.Sub})
		if why != "" {
			return v, fmt.Sprintf("element %d: %s", i, why)
		}
		if !value.Equal(c, e) {
			if !cloned {
				out, cloned = slices.Clone(src), true
			}
			out[i] = c
		}
	}
	if t.Tag == value.TypeVector {
		if !cloned {
			return v, ""
		}
		return value.Vector(out...), ""
	}
	if !cloned && v.Kind() == value.KindSet {
		return v, ""
	}
	return value.Set(out...), ""
}

func coerceScalar(v value.Value, k value.Kind, tag value.TypeTag) (value.Value, string) {
	if v.Kind() == k {
		return v, ""
	}
	bad := func() (value.Value, string) {
		return v, fmt.Sprintf("want %s for type %s, have %s", k, tag, v.Kind())
	}
	switch {
	case k == value.KindCount && v.Kind() == value.KindInt:
		if v.Int() < 0 {
			return v, fmt.Sprintf("want a count for type %s, have the negative int %d", tag, v.Int())
		}
		return value.Count(uint64(v.Int())), ""
	case k == value.KindInt && v.Kind() == value.KindCount:
		if v.Count() > math.MaxInt64 {
			return v, fmt.Sprintf("want an int for type %s, have the count %d, which exceeds 2^63-1", tag, v.Count())
		}
		return value.Int(int64(v.Count())), ""
	case k == value.KindTime && v.Kind() == value.KindReal:
		return value.TimeSeconds(v.Real()), ""
	case k == value.KindInterval && v.Kind() == value.KindReal:
		return value.IntervalSeconds(v.Real()), ""
	case v.Kind() != value.KindString:
		return bad()
	}
	s := v.Str()
	switch k {
	case value.KindEnum:
		return value.Enum(s), ""
	case value.KindAddr:
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return v, fmt.Sprintf("want an address for type %s, have the string %q", tag, s)
		}
		return value.Addr(a), ""
	case value.KindSubnet:
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return v, fmt.Sprintf("want a subnet for type %s, have the string %q", tag, s)
		}
		return value.Subnet(p), ""
	case value.KindPort:
		p, err := value.ParsePort(s)
		if err != nil {
			return v, fmt.Sprintf("want a port such as \"443/tcp\" for type %s, have the string %q", tag, s)
		}
		return value.PortOf(p.Num, p.Proto), ""
	}
	return bad()
}
