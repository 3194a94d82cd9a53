package zeektest

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Broker binary format type tags (docs/zeek-wire.md#broker-bin-v1-events).
const (
	tagNone      = 0x00
	tagBool      = 0x01
	tagCount     = 0x02
	tagInteger   = 0x03
	tagReal      = 0x04
	tagString    = 0x05
	tagAddress   = 0x06
	tagSubnet    = 0x07
	tagPort      = 0x08
	tagTimestamp = 0x09
	tagTimespan  = 0x0a
	tagEnum      = 0x0b
	tagSet       = 0x0c
	tagTable     = 0x0d
	tagVector    = 0x0e
)

// maxDepth bounds the nesting of containers a decoder accepts.
const maxDepth = 64

// Event is a Zeek event carried in a broker-bin-v1 payload.
//
// Arguments decode to Go values: none → nil, boolean → bool, count → uint64,
// integer → int64, string → string, vector → []any. Every other Broker value
// (reals, addresses, ports, times, enums, sets, tables, …) is kept as Raw, its
// complete encoding, so decoding and re-encoding reproduces the input bytes.
type Event struct {
	Name string
	Args []any
	// Metadata is the optional third element of the content vector (a
	// vector of [id, value] pairs), or nil when the event has none.
	Metadata []any
}

// Raw is the complete broker-bin-v1 encoding (tag byte included) of a value
// this codec does not interpret. Encoding a Raw appends it unchanged.
type Raw []byte

// StringArgs returns the arguments as strings, or false if any argument is
// not a string.
func (e Event) StringArgs() ([]string, bool) {
	out := make([]string, len(e.Args))
	for i, a := range e.Args {
		s, ok := a.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

// EncodeEvent returns the broker-bin-v1 payload of the event name(args...)
// without metadata: vector(3)[count 1, count 1, vector(2)[name, args]].
// Arguments may be nil, bool, uint64 (count), int64 (integer), string,
// []any (vector) or Raw.
func EncodeEvent(name string, args ...any) ([]byte, error) {
	return Event{Name: name, Args: args}.Encode()
}

// Encode returns the broker-bin-v1 payload of e.
func (e Event) Encode() ([]byte, error) {
	content := []any{e.Name, e.Args}
	if e.Metadata != nil {
		content = append(content, e.Metadata)
	}
	return AppendValue(nil, []any{uint64(1), uint64(1), content})
}

// AppendValue appends the broker-bin-v1 encoding of v to dst. Supported
// types: nil, bool, uint64, int64, string, []any and Raw.
func AppendValue(dst []byte, v any) ([]byte, error) {
	return appendValue(dst, v, 0)
}

func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("broker-bin-v1 encode: nesting deeper than %d", maxDepth)
	}
	switch x := v.(type) {
	case nil:
		return append(dst, tagNone), nil
	case bool:
		b := byte(0)
		if x {
			b = 1
		}
		return append(dst, tagBool, b), nil
	case uint64:
		return binary.BigEndian.AppendUint64(append(dst, tagCount), x), nil
	case int64:
		return binary.BigEndian.AppendUint64(append(dst, tagInteger), uint64(x)), nil
	case string:
		return appendString(dst, tagString, x)
	case []any:
		if uint64(len(x)) > 0xffffffff {
			return nil, errors.New("broker-bin-v1 encode: vector longer than 2^32-1")
		}
		dst = appendVarbyte(append(dst, tagVector), uint32(len(x)))
		for i, e := range x {
			var err error
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
		}
		return dst, nil
	case Raw:
		if _, err := skipValue(x, 0, depth); err != nil {
			return nil, fmt.Errorf("broker-bin-v1 encode: raw value: %w", err)
		}
		return append(dst, x...), nil
	default:
		return nil, fmt.Errorf("broker-bin-v1 encode: unsupported value type %T (use uint64 for count, int64 for integer)", v)
	}
}

func appendString(dst []byte, tag byte, s string) ([]byte, error) {
	if uint64(len(s)) > 0xffffffff {
		return nil, errors.New("broker-bin-v1 encode: string longer than 2^32-1 bytes")
	}
	dst = appendVarbyte(append(dst, tag), uint32(len(s)))
	return append(dst, s...), nil
}

// appendVarbyte appends Broker's little-endian base-128 length encoding.
func appendVarbyte(dst []byte, n uint32) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

// readVarbyte reads a varbyte at b[off:]; it returns the value and the offset
// after it. At most 5 bytes are accepted and the value must fit 32 bits.
func readVarbyte(b []byte, off int) (uint32, int, error) {
	var v uint64
	for i := 0; i < 5; i++ {
		if off >= len(b) {
			return 0, 0, errors.New("truncated length")
		}
		c := b[off]
		off++
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if v > 0xffffffff {
				return 0, 0, errors.New("length does not fit 32 bits")
			}
			return uint32(v), off, nil
		}
	}
	return 0, 0, errors.New("length longer than 5 bytes")
}

// DecodeEvent decodes a broker-bin-v1 event payload (frame 3).
func DecodeEvent(payload []byte) (Event, error) {
	v, off, err := decodeValue(payload, 0, 0)
	if err != nil {
		return Event{}, fmt.Errorf("broker-bin-v1 event: %w", err)
	}
	if off != len(payload) {
		return Event{}, fmt.Errorf("broker-bin-v1 event: %d trailing bytes", len(payload)-off)
	}
	outer, ok := v.([]any)
	if !ok || len(outer) != 3 {
		return Event{}, errors.New("broker-bin-v1 event: want a vector of 3 elements")
	}
	if outer[0] != uint64(1) || outer[1] != uint64(1) {
		return Event{}, fmt.Errorf("broker-bin-v1 event: version/type %v/%v, want count 1/count 1", outer[0], outer[1])
	}
	content, ok := outer[2].([]any)
	if !ok || len(content) < 2 || len(content) > 3 {
		return Event{}, errors.New("broker-bin-v1 event: content must be a vector of 2 or 3 elements")
	}
	ev := Event{}
	if ev.Name, ok = content[0].(string); !ok {
		return Event{}, errors.New("broker-bin-v1 event: name is not a string")
	}
	if ev.Args, ok = content[1].([]any); !ok {
		return Event{}, fmt.Errorf("broker-bin-v1 event %s: arguments are not a vector", ev.Name)
	}
	if len(content) == 3 {
		if ev.Metadata, ok = content[2].([]any); !ok {
			return Event{}, fmt.Errorf("broker-bin-v1 event %s: metadata is not a vector", ev.Name)
		}
	}
	return ev, nil
}

func decodeValue(b []byte, off, depth int) (any, int, error) {
	if depth > maxDepth {
		return nil, 0, fmt.Errorf("nesting deeper than %d", maxDepth)
	}
	if off >= len(b) {
		return nil, 0, errors.New("truncated value")
	}
	start := off
	tag := b[off]
	off++
	switch tag {
	case tagNone:
		return nil, off, nil
	case tagBool:
		if off+1 > len(b) {
			return nil, 0, errors.New("truncated boolean")
		}
		return b[off] != 0, off + 1, nil
	case tagCount, tagInteger:
		if off+8 > len(b) {
			return nil, 0, fmt.Errorf("truncated 8-byte value (tag %#02x)", tag)
		}
		u := binary.BigEndian.Uint64(b[off:])
		if tag == tagCount {
			return u, off + 8, nil
		}
		return int64(u), off + 8, nil
	case tagString:
		n, off, err := readVarbyte(b, off)
		if err != nil {
			return nil, 0, fmt.Errorf("string: %w", err)
		}
		if uint64(off)+uint64(n) > uint64(len(b)) {
			return nil, 0, errors.New("truncated string")
		}
		return string(b[off : off+int(n)]), off + int(n), nil
	case tagVector:
		n, off, err := readVarbyte(b, off)
		if err != nil {
			return nil, 0, fmt.Errorf("vector: %w", err)
		}
		if uint64(n) > uint64(len(b)-off) { // every element takes at least one byte
			return nil, 0, fmt.Errorf("vector of %d elements does not fit in %d bytes", n, len(b)-off)
		}
		out := make([]any, 0, n)
		for i := uint32(0); i < n; i++ {
			var v any
			if v, off, err = decodeValue(b, off, depth+1); err != nil {
				return nil, 0, fmt.Errorf("vector element %d: %w", i, err)
			}
			out = append(out, v)
		}
		return out, off, nil
	default:
		end, err := skipValue(b, start, depth)
		if err != nil {
			return nil, 0, err
		}
		return Raw(b[start:end:end]), end, nil
	}
}

// fixedSize returns the payload size of a tag with a fixed layout.
func fixedSize(tag byte) (int, bool) {
	switch tag {
	case tagNone:
		return 0, true
	case tagBool:
		return 1, true
	case tagPort:
		return 3, true // u16 port + u8 protocol
	case tagCount, tagInteger, tagReal, tagTimestamp, tagTimespan:
		return 8, true
	case tagAddress:
		return 16, true
	case tagSubnet:
		return 17, true // address + u8 prefix length
	}
	return 0, false
}

// skipValue validates the value starting at b[off] and returns the offset
// after it.
func skipValue(b []byte, off, depth int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("nesting deeper than %d", maxDepth)
	}
	if off >= len(b) {
		return 0, errors.New("truncated value")
	}
	tag := b[off]
	off++
	if size, ok := fixedSize(tag); ok {
		if off+size > len(b) {
			return 0, fmt.Errorf("truncated value (tag %#02x)", tag)
		}
		if tag == tagPort && b[off+2] > 3 {
			return 0, fmt.Errorf("port protocol %d out of range", b[off+2])
		}
		return off + size, nil
	}
	switch tag {
	case tagString, tagEnum:
		n, off, err := readVarbyte(b, off)
		if err != nil {
			return 0, err
		}
		if uint64(off)+uint64(n) > uint64(len(b)) {
			return 0, fmt.Errorf("truncated string (tag %#02x)", tag)
		}
		return off + int(n), nil
	case tagSet, tagTable, tagVector:
		n, off, err := readVarbyte(b, off)
		if err != nil {
			return 0, err
		}
		elems := uint64(n)
		if tag == tagTable {
			elems *= 2
		}
		if elems > uint64(len(b)-off) {
			return 0, fmt.Errorf("container of %d values does not fit in %d bytes", elems, len(b)-off)
		}
		for i := uint64(0); i < elems; i++ {
			if off, err = skipValue(b, off, depth+1); err != nil {
				return 0, err
			}
		}
		return off, nil
	default:
		return 0, fmt.Errorf("unknown type tag %#02x", tag)
	}
}
