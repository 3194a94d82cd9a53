package zmsgpack

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/value"
)

// Format is the format name of zpipe-msgpack-v1, as it appears in frame 2 of
// a message whose payload is a zpipe-msgpack-v1 document.
const Format = "zpipe-msgpack-v1"

// name prefixes every error of this codec.
const name = "zmsgpack"

// MaxDepth bounds the nesting of containers, in decoding and encoding.
const MaxDepth = 128

// Codec is the zpipe-msgpack-v1 codec of events and log batches.
type Codec struct{}

var (
	_ codec.EventCodec = Codec{}
	_ codec.LogCodec   = Codec{}
)

// Format returns "zpipe-msgpack-v1".
func (Codec) Format() string { return Format }

// DecodeEvent calls DecodeEvent.
func (Codec) DecodeEvent(payload []byte) (value.Event, error) { return DecodeEvent(payload) }

// AppendEvent calls AppendEvent.
func (Codec) AppendEvent(dst []byte, ev *value.Event) ([]byte, error) { return AppendEvent(dst, ev) }

// DecodeLogBatch calls DecodeLogBatch.
func (Codec) DecodeLogBatch(payload []byte) (*value.LogBatch, error) { return DecodeLogBatch(payload) }

// AppendLogBatch calls AppendLogBatch.
func (Codec) AppendLogBatch(dst []byte, b *value.LogBatch) ([]byte, error) {
	return AppendLogBatch(dst, b)
}

// Document keys.
const (
	keyEvent    = "event"
	keyArgs     = "args"
	keyMetadata = "metadata"

	keyLog     = "log"
	keyWriter  = "writer"
	keyFilter  = "filter"
	keyPath    = "path"
	keyFields  = "fields"
	keyRecords = "records"

	keyName          = "name"
	keyType          = "type"
	keySubtype       = "subtype"
	keyOptional      = "optional"
	keySecondaryName = "secondary_name"
	keyValueSubtype  = "value_subtype"
)

// AppendEvent appends the zpipe-msgpack-v1 document of ev to dst: a map of
// "event" (the name), "args" and, when there is any, "metadata".
func AppendEvent(dst []byte, ev *value.Event) ([]byte, error) {
	n := 2
	if len(ev.Metadata) > 0 {
		n = 3
	}
	dst = appendMapHeader(dst, n)
	dst = appendString(appendString(dst, keyEvent), ev.Name)
	if uint64(len(ev.Args)) > math.MaxUint32 {
		return dst, fmt.Errorf("%s: %w", name, errTooLong("event arguments", len(ev.Args)))
	}
	dst = appendArrayHeader(appendString(dst, keyArgs), len(ev.Args))
	var err error
	for i, a := range ev.Args {
		if dst, err = appendValue(dst, a, 1); err != nil {
			return dst, fmt.Errorf("%s: event %q argument %d: %w", name, ev.Name, i, err)
		}
	}
	if n == 3 {
		dst = appendArrayHeader(appendString(dst, keyMetadata), len(ev.Metadata))
		for i, m := range ev.Metadata {
			dst = appendUint(append(dst, 0x92), m.ID)
			if dst, err = appendValue(dst, m.Value, 2); err != nil {
				return dst, fmt.Errorf("%s: event %q metadata %d: %w", name, ev.Name, i, err)
			}
		}
	}
	return dst, nil
}

// AppendValue appends the zpipe-msgpack-v1 encoding of one value to dst.
func AppendValue(dst []byte, v value.Value) ([]byte, error) {
	out, err := appendValue(dst, v, 0)
	if err != nil {
		return out, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// appendString appends s as str if it is UTF-8, else as bin. Strings of 4
// GiB and more do not occur: Go cannot hold a batch that large in one
// gRPC message, and every producer of values is bounded far below.
func appendString(dst []byte, s string) []byte {
	if utf8.ValidString(s) {
		dst = appendStrHeader(dst, len(s))
	} else {
		dst = appendBinHeader(dst, len(s))
	}
	return append(dst, s...)
}

func appendValue(dst []byte, v value.Value, depth int) ([]byte, error) {
	switch v.Kind() {
	case value.KindNone:
		return append(dst, mpNil), nil
	case value.KindBool:
		return appendBool(dst, v.Bool()), nil
	case value.KindCount:
		return appendUint(dst, v.Count()), nil
	case value.KindInt:
		return appendInt(dst, v.Int()), nil
	case value.KindReal:
		return appendFloat64(dst, v.Real()), nil
	case value.KindString:
		if uint64(len(v.Str())) > math.MaxUint32 {
			return dst, errTooLong("string", len(v.Str()))
		}
		return appendString(dst, v.Str()), nil
	case value.KindEnum:
		if uint64(len(v.Str())) > math.MaxUint32 {
			return dst, errTooLong("enum name", len(v.Str()))
		}
		return append(appendExtHeader(dst, extEnum, len(v.Str())), v.Str()...), nil
	case value.KindAddr:
		return appendAddr(appendExtHeader(dst, extAddr, addrLen(v)), v), nil
	case value.KindSubnet:
		dst = appendAddr(appendExtHeader(dst, extSubnet, addrLen(v)+1), v)
		return append(dst, byte(v.Bits())), nil
	case value.KindPort:
		p := v.Port()
		if p.Proto > value.ProtoICMP {
			return dst, fmt.Errorf("port protocol %d is none of unknown (0), tcp (1), udp (2) and icmp (3)", p.Proto)
		}
		dst = binary.BigEndian.AppendUint16(appendExtHeader(dst, extPort, 3), p.Num)
		return append(dst, byte(p.Proto)), nil
	case value.KindTime:
		if v.SecondsForm() {
			dst = appendExtHeader(dst, extTimeSeconds, 8)
			return binary.BigEndian.AppendUint64(dst, math.Float64bits(v.Seconds())), nil
		}
		return appendTimestamp(dst, v.Nanos()), nil
	case value.KindInterval:
		if v.SecondsForm() {
			dst = appendExtHeader(dst, extIntervalSeconds, 8)
			return binary.BigEndian.AppendUint64(dst, math.Float64bits(v.Seconds())), nil
		}
		dst = appendExtHeader(dst, extInterval, 8)
		return binary.BigEndian.AppendUint64(dst, uint64(v.Nanos())), nil
	}
	if depth >= MaxDepth {
		return dst, fmt.Errorf("containers nested deeper than %d", MaxDepth)
	}
	n := v.Len()
	if uint64(n) > math.MaxUint32 {
		return dst, errTooLong(v.Kind().String(), n)
	}
	var err error
	switch v.Kind() {
	case value.KindVector:
		dst = appendArrayHeader(dst, n)
		for i, e := range v.Elems() {
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return dst, fmt.Errorf("vector element %d: %w", i, err)
			}
		}
		return dst, nil
	case value.KindSet:
		dst, start := beginNested(dst)
		dst = appendArrayHeader(dst, n)
		for i, e := range v.Elems() {
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return dst, fmt.Errorf("set element %d: %w", i, err)
			}
		}
		return endNested(dst, start, extSet)
	case value.KindTable:
		dst = appendMapHeader(dst, n)
		kv := v.Pairs()
		for i := 0; i < len(kv); i += 2 {
			if dst, err = appendValue(dst, kv[i], depth+1); err != nil {
				return dst, fmt.Errorf("table key %d: %w", i/2, err)
			}
			if dst, err = appendValue(dst, kv[i+1], depth+1); err != nil {
				return dst, fmt.Errorf("table value %d: %w", i/2, err)
			}
		}
		return dst, nil
	case value.KindRecord:
		dst, start := beginNested(dst)
		dst = appendMapHeader(dst, n)
		for i, e := range v.Elems() {
			dst = appendString(dst, v.FieldName(i))
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return dst, fmt.Errorf("record field %d (%q): %w", i, v.FieldName(i), err)
			}
		}
		return endNested(dst, start, extRecord)
	}
	return dst, fmt.Errorf("cannot encode a value of kind %s", v.Kind())
}

func addrLen(v value.Value) int {
	if v.Is4() {
		return 4
	}
	return 16
}

// appendAddr appends the 4 bytes of an IPv4 or the 16 of an IPv6 address.
func appendAddr(dst []byte, v value.Value) []byte {
	b := v.As16()
	if v.Is4() {
		return append(dst, b[12:]...)
	}
	return append(dst, b[:]...)
}

// appendTimestamp appends ns nanoseconds since the epoch as MessagePack's
// timestamp extension, in its shortest form: timestamp 32 for whole seconds
// from 1970 to 2106, timestamp 64 up to 2514, else timestamp 96.
func appendTimestamp(dst []byte, ns int64) []byte {
	sec, nsec := ns/1e9, ns%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	switch {
	case sec >= 0 && sec>>32 == 0 && nsec == 0:
		return binary.BigEndian.AppendUint32(appendExtHeader(dst, extTimestamp, 4), uint32(sec))
	case sec >= 0 && sec>>34 == 0:
		return binary.BigEndian.AppendUint64(appendExtHeader(dst, extTimestamp, 8), uint64(nsec)<<34|uint64(sec))
	}
	dst = binary.BigEndian.AppendUint32(appendExtHeader(dst, extTimestamp, 12), uint32(nsec))
	return binary.BigEndian.AppendUint64(dst, uint64(sec))
}
