package zeeklog

import (
	"fmt"
	"math"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/value"
)

// Codec is the zeek-bin-serializer log batch codec.
type Codec struct{}

var _ codec.LogCodec = Codec{}

// Format returns "zeek-bin-serializer".
func (Codec) Format() string { return codec.FormatZeekLog }

// DecodeLogBatch calls Decode.
func (Codec) DecodeLogBatch(payload []byte) (*value.LogBatch, error) { return Decode(payload) }

// AppendLogBatch calls Append.
func (Codec) AppendLogBatch(dst []byte, b *value.LogBatch) ([]byte, error) { return Append(dst, b) }

// Append appends the zeek-bin-serializer encoding of b to dst. Every record
// must have one value per field, each None (unset) or of its column's kind
// (see value.LogBatch.Validate). Times and intervals in nanosecond form are
// converted to float seconds (ns / 10⁹); each value header carries the
// column's ValueSubtype.
func Append(dst []byte, b *value.LogBatch) ([]byte, error) {
	var err error
	for _, s := range []struct{ what, s string }{
		{"stream name", b.Stream}, {"writer name", b.Writer}, {"filter name", b.Filter}, {"path", b.Path},
	} {
		if dst, err = appendString(dst, s.s); err != nil {
			return dst, fmt.Errorf("%s: %s: %w", name, s.what, err)
		}
	}
	if len(b.Fields) > math.MaxInt32 || len(b.Records) > math.MaxInt32 {
		return dst, fmt.Errorf("%s: %d fields and %d records exceed 2^31-1", name, len(b.Fields), len(b.Records))
	}
	if len(b.Fields) == 0 && len(b.Records) > 0 {
		return dst, fmt.Errorf("%s: %d records but no fields", name, len(b.Records))
	}
	dst = appendU32(dst, uint32(len(b.Fields)))
	for i, f := range b.Fields {
		if !loggable(f.Type) {
			return dst, fmt.Errorf("%s: field %d (%q): type %s cannot be logged", name, i, f.Name, f.Type)
		}
		if f.SecondaryName != "" {
			dst = append(dst, 1)
			if dst, err = appendString(dst, f.SecondaryName); err != nil {
				return dst, fmt.Errorf("%s: field %d secondary name: %w", name, i, err)
			}
		} else {
			dst = append(dst, 0)
		}
		if dst, err = appendString(dst, f.Name); err != nil {
			return dst, fmt.Errorf("%s: field %d name: %w", name, i, err)
		}
		dst = appendU32(dst, uint32(f.Type.Tag))
		dst = appendU32(dst, uint32(f.Type.Sub))
		dst = appendBool(dst, f.Optional)
	}
	dst = appendU32(dst, uint32(len(b.Records)))
	for r, row := range b.Records {
		if len(row) != len(b.Fields) {
			return dst, fmt.Errorf("%s: record %d has %d values, want %d (one per field)", name, r, len(row), len(b.Fields))
		}
		for i, v := range row {
			f := &b.Fields[i]
			if dst, err = appendValue(dst, v, f.Type.Tag, f); err != nil {
				return dst, fmt.Errorf("%s: record %d field %d (%q): %w", name, r, i, f.Name, err)
			}
		}
	}
	return dst, nil
}

func appendU32(dst []byte, n uint32) []byte {
	return append(dst, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendU64(dst []byte, n uint64) []byte {
	return append(dst, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendString(dst []byte, s string) ([]byte, error) {
	if len(s) > math.MaxInt32 {
		return dst, fmt.Errorf("string of %d bytes exceeds 2^31-1", len(s))
	}
	return append(appendU32(dst, uint32(len(s))), s...), nil
}

func appendAddr(dst []byte, v value.Value) []byte {
	b := v.As16()
	if v.Is4() {
		return append(append(dst, 4), b[12:]...)
	}
	return append(append(dst, 6), b[:]...)
}

// appendValue appends v as a value of type tag in column f.
func appendValue(dst []byte, v value.Value, tag value.TypeTag, f *value.Field) ([]byte, error) {
	dst = appendU32(dst, uint32(tag))
	dst = appendU32(dst, uint32(f.ValueSubtype))
	if v.Kind() == value.KindNone {
		return append(dst, 0), nil
	}
	if want, _ := tag.ValueKind(); v.Kind() != want {
		return dst, fmt.Errorf("want %s for type %s, have %s", want, tag, v.Kind())
	}
	dst = append(dst, 1)
	switch tag {
	case value.TypeBool:
		if v.Bool() {
			return appendU64(dst, 1), nil
		}
		return appendU64(dst, 0), nil
	case value.TypeInt:
		return appendU64(dst, uint64(v.Int())), nil
	case value.TypeCount:
		return appendU64(dst, v.Count()), nil
	case value.TypeDouble:
		return appendU64(dst, math.Float64bits(v.Real())), nil
	case value.TypeTime, value.TypeInterval:
		return appendU64(dst, math.Float64bits(v.Seconds())), nil
	case value.TypeString, value.TypeFunc, value.TypeFile, value.TypeEnum:
		return appendString(dst, v.Str())
	case value.TypePort:
		p := v.Port()
		return appendU32(appendU64(dst, uint64(p.Num)), uint32(p.Proto)), nil
	case value.TypeAddr:
		return appendAddr(dst, v), nil
	case value.TypeSubnet:
		return appendAddr(append(dst, v.WireBits()), v), nil
	}
	// A set (TABLE) or vector of atomic values.
	elems := v.Elems()
	dst = appendU64(dst, uint64(len(elems)))
	var err error
	for i, e := range elems {
		if dst, err = appendValue(dst, e, f.Type.Sub, f); err != nil {
			return dst, fmt.Errorf("element %d: %w", i, err)
		}
	}
	return dst, nil
}
