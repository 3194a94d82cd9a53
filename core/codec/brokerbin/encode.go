package brokerbin

import (
	"errors"
	"fmt"
	"math"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/value"
)

// Codec is the broker-bin-v1 event codec.
type Codec struct{}

var _ codec.EventCodec = Codec{}

// Format returns "broker-bin-v1".
func (Codec) Format() string { return codec.FormatBrokerBin }

// DecodeEvent calls DecodeEvent.
func (Codec) DecodeEvent(payload []byte) (value.Event, error) { return DecodeEvent(payload) }

// AppendEvent calls AppendEvent.
func (Codec) AppendEvent(dst []byte, ev *value.Event) ([]byte, error) { return AppendEvent(dst, ev) }

// AppendEvent appends the broker-bin-v1 payload of ev to dst: vector(3)
// [count 1, count 1, vector[name, vector(args), metadata]], the metadata
// vector present only if ev has entries. Sets and tables are written in the
// order they hold (see value.Sorted for Zeek's order); a set with two equal
// elements or a table with two equal keys is an error, since Zeek rejects
// them.
func AppendEvent(dst []byte, ev *value.Event) ([]byte, error) {
	dst = append(dst, tagVector, 3,
		tagCount, 0, 0, 0, 0, 0, 0, 0, protocolVersion,
		tagCount, 0, 0, 0, 0, 0, 0, 0, messageEvent,
		tagVector)
	if len(ev.Metadata) > 0 {
		dst = append(dst, 3)
	} else {
		dst = append(dst, 2)
	}
	var err error
	if dst, err = appendBytes(dst, tagString, ev.Name); err != nil {
		return dst, fmt.Errorf("%s: event name: %w", name, err)
	}
	if len(ev.Args) > math.MaxUint32 {
		return dst, fmt.Errorf("%s: %d arguments exceed 2^32-1", name, len(ev.Args))
	}
	dst = appendVarbyte(append(dst, tagVector), len(ev.Args))
	for i, a := range ev.Args {
		if dst, err = appendValue(dst, a, 3); err != nil {
			return dst, fmt.Errorf("%s: event %s argument %d: %w", name, ev.Name, i, err)
		}
	}
	if len(ev.Metadata) == 0 {
		return dst, nil
	}
	if len(ev.Metadata) > math.MaxUint32 {
		return dst, fmt.Errorf("%s: %d metadata entries exceed 2^32-1", name, len(ev.Metadata))
	}
	dst = appendVarbyte(append(dst, tagVector), len(ev.Metadata))
	for i, m := range ev.Metadata {
		dst = append(dst, tagVector, 2, tagCount)
		dst = appendU64(dst, m.ID)
		if dst, err = appendValue(dst, m.Value, 4); err != nil {
			return dst, fmt.Errorf("%s: event %s metadata entry %d: %w", name, ev.Name, i, err)
		}
	}
	return dst, nil
}

// AppendValue appends the broker-bin-v1 encoding of v to dst. A record is
// written as the vector of its field values (unset fields as none), as Zeek
// does.
func AppendValue(dst []byte, v value.Value) ([]byte, error) {
	dst, err := appendValue(dst, v, 0)
	if err != nil {
		return dst, fmt.Errorf("%s: %w", name, err)
	}
	return dst, nil
}

func appendU64(dst []byte, n uint64) []byte {
	return append(dst, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendVarbyte(dst []byte, n int) []byte {
	x := uint32(n)
	for x > 0x7f {
		dst = append(dst, byte(x)|0x80)
		x >>= 7
	}
	return append(dst, byte(x))
}

func appendBytes(dst []byte, tag byte, s string) ([]byte, error) {
	if len(s) > math.MaxUint32 {
		return dst, fmt.Errorf("%d bytes exceed 2^32-1", len(s))
	}
	dst = appendVarbyte(append(dst, tag), len(s))
	return append(dst, s...), nil
}

var errTooDeep = fmt.Errorf("containers nested deeper than %d", MaxDepth)

func appendValue(dst []byte, v value.Value, depth int) ([]byte, error) {
	switch v.Kind() {
	case value.KindNone:
		return append(dst, tagNone), nil
	case value.KindBool:
		if v.Bool() {
			return append(dst, tagBoolean, 1), nil
		}
		return append(dst, tagBoolean, 0), nil
	case value.KindCount:
		return appendU64(append(dst, tagCount), v.Count()), nil
	case value.KindInt:
		return appendU64(append(dst, tagInteger), uint64(v.Int())), nil
	case value.KindReal:
		return appendU64(append(dst, tagReal), packReal(v.Real())), nil
	case value.KindString:
		return appendBytes(dst, tagString, v.Str())
	case value.KindEnum:
		return appendBytes(dst, tagEnumValue, v.Str())
	case value.KindAddr:
		b := v.As16()
		return append(append(dst, tagAddress), b[:]...), nil
	case value.KindSubnet:
		b := v.As16()
		return append(append(append(dst, tagSubnet), b[:]...), v.WireBits()), nil
	case value.KindPort:
		p := v.Port()
		return append(dst, tagPort, byte(p.Num>>8), byte(p.Num), byte(p.Proto)), nil
	case value.KindTime, value.KindInterval:
		ns := v.Nanos()
		if v.SecondsForm() {
			var ok bool
			if ns, ok = value.SecondsToNanos(v.Seconds()); !ok {
				return dst, fmt.Errorf("%s of %g seconds does not fit in int64 nanoseconds", v.Kind(), v.Seconds())
			}
		}
		tag := byte(tagTimestamp)
		if v.Kind() == value.KindInterval {
			tag = tagTimespan
		}
		return appendU64(append(dst, tag), uint64(ns)), nil
	}
	if depth >= MaxDepth {
		return dst, errTooDeep
	}
	var tag byte
	var elems []value.Value
	switch v.Kind() {
	case value.KindSet:
		tag, elems = tagSet, v.Elems()
		if i, j, dup := value.FindDuplicate(v); dup {
			return dst, fmt.Errorf("set element %d duplicates element %d", j, i)
		}
	case value.KindTable:
		tag, elems = tagTable, v.Pairs()
		if i, j, dup := value.FindDuplicate(v); dup {
			return dst, fmt.Errorf("table key %d duplicates key %d", j, i)
		}
	case value.KindVector, value.KindRecord:
		tag, elems = tagVector, v.Elems()
	default:
		return dst, fmt.Errorf("cannot encode a value of kind %s", v.Kind())
	}
	if v.Len() > math.MaxUint32 {
		return dst, errors.New("container of more than 2^32-1 elements")
	}
	dst = appendVarbyte(append(dst, tag), v.Len())
	var err error
	for i, e := range elems {
		if dst, err = appendValue(dst, e, depth+1); err != nil {
			return dst, fmt.Errorf("%s element %d: %w", v.Kind(), i, err)
		}
	}
	return dst, nil
}
