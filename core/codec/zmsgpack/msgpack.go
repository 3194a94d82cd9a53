package zmsgpack

import (
	"encoding/binary"
	"fmt"
	"math"
)

// MessagePack format bytes (https://github.com/msgpack/msgpack/blob/master/spec.md).
const (
	mpNil      = 0xc0
	mpNever    = 0xc1
	mpFalse    = 0xc2
	mpTrue     = 0xc3
	mpBin8     = 0xc4
	mpBin16    = 0xc5
	mpBin32    = 0xc6
	mpExt8     = 0xc7
	mpExt16    = 0xc8
	mpExt32    = 0xc9
	mpFloat32  = 0xca
	mpFloat64  = 0xcb
	mpUint8    = 0xcc
	mpUint16   = 0xcd
	mpUint32   = 0xce
	mpUint64   = 0xcf
	mpInt8     = 0xd0
	mpInt16    = 0xd1
	mpInt32    = 0xd2
	mpInt64    = 0xd3
	mpFixExt1  = 0xd4
	mpFixExt2  = 0xd5
	mpFixExt4  = 0xd6
	mpFixExt8  = 0xd7
	mpFixExt16 = 0xd8
	mpStr8     = 0xd9
	mpStr16    = 0xda
	mpStr32    = 0xdb
	mpArray16  = 0xdc
	mpArray32  = 0xdd
	mpMap16    = 0xde
	mpMap32    = 0xdf
)

// Extension types of zpipe-msgpack-v1. Times in nanoseconds use
// MessagePack's timestamp extension.
const (
	extTimestamp       int8 = -1 // MessagePack timestamp: time, nanoseconds
	extAddr            int8 = 1  // 4 or 16 address bytes
	extSubnet          int8 = 2  // address bytes, then the prefix length
	extPort            int8 = 3  // number (2 bytes), protocol (1 byte)
	extTimeSeconds     int8 = 4  // float 64 seconds since the epoch
	extInterval        int8 = 5  // int 64 nanoseconds
	extIntervalSeconds int8 = 6  // float 64 seconds
	extEnum            int8 = 7  // the name's bytes
	extSet             int8 = 8  // one nested array of the elements
	extRecord          int8 = 9  // one nested map of field name to value
)

// extName names an extension type in messages.
func extName(t int8) string {
	switch t {
	case extTimestamp:
		return "timestamp"
	case extAddr:
		return "addr"
	case extSubnet:
		return "subnet"
	case extPort:
		return "port"
	case extTimeSeconds:
		return "time in seconds"
	case extInterval:
		return "interval"
	case extIntervalSeconds:
		return "interval in seconds"
	case extEnum:
		return "enum"
	case extSet:
		return "set"
	case extRecord:
		return "record"
	}
	return fmt.Sprintf("unknown type %d", t)
}

// describe names the MessagePack format that starts with b, for messages
// such as "have 0x93 (fixarray of 3)".
func describe(b byte) string {
	var what string
	switch {
	case b <= 0x7f:
		what = fmt.Sprintf("positive fixint %d", b)
	case b <= 0x8f:
		what = fmt.Sprintf("fixmap of %d", b&0x0f)
	case b <= 0x9f:
		what = fmt.Sprintf("fixarray of %d", b&0x0f)
	case b <= 0xbf:
		what = fmt.Sprintf("fixstr of %d bytes", b&0x1f)
	case b >= 0xe0:
		what = fmt.Sprintf("negative fixint %d", int8(b))
	default:
		what = [...]string{
			"nil", "never used", "false", "true", "bin 8", "bin 16", "bin 32", "ext 8",
			"ext 16", "ext 32", "float 32", "float 64", "uint 8", "uint 16", "uint 32", "uint 64",
			"int 8", "int 16", "int 32", "int 64", "fixext 1", "fixext 2", "fixext 4", "fixext 8",
			"fixext 16", "str 8", "str 16", "str 32", "array 16", "array 32", "map 16", "map 32",
		}[b-0xc0]
	}
	return fmt.Sprintf("0x%02x (%s)", b, what)
}

// appendUint appends n in the shortest unsigned format.
func appendUint(dst []byte, n uint64) []byte {
	switch {
	case n <= 0x7f:
		return append(dst, byte(n))
	case n <= math.MaxUint8:
		return append(dst, mpUint8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpUint16), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, mpUint32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpUint64), n)
}

// appendInt appends n in the shortest signed format: a negative fixint for
// -32 to -1, else int 8, 16, 32 or 64. Non-negative ints are never written
// as positive fixints, which mean counts.
func appendInt(dst []byte, n int64) []byte {
	switch {
	case n >= -32 && n < 0:
		return append(dst, byte(n))
	case n >= math.MinInt8 && n <= math.MaxInt8:
		return append(dst, mpInt8, byte(n))
	case n >= math.MinInt16 && n <= math.MaxInt16:
		return binary.BigEndian.AppendUint16(append(dst, mpInt16), uint16(n))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(dst, mpInt32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpInt64), uint64(n))
}

func appendFloat64(dst []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, mpFloat64), math.Float64bits(f))
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, mpTrue)
	}
	return append(dst, mpFalse)
}

// errTooLong reports a string, container or extension whose length does not
// fit MessagePack's 32-bit lengths.
func errTooLong(what string, n int) error {
	return fmt.Errorf("%s of %d exceeds MessagePack's limit of 2^32-1", what, n)
}

// appendStrHeader appends the shortest str header for n bytes.
func appendStrHeader(dst []byte, n int) []byte {
	switch {
	case n < 32:
		return append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		return append(dst, mpStr8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpStr16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, mpStr32), uint32(n))
}

// appendBinHeader appends the shortest bin header for n bytes.
func appendBinHeader(dst []byte, n int) []byte {
	switch {
	case n <= math.MaxUint8:
		return append(dst, mpBin8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpBin16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, mpBin32), uint32(n))
}

// appendArrayHeader appends the shortest array header for n elements.
func appendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpArray16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, mpArray32), uint32(n))
}

// appendMapHeader appends the shortest map header for n entries.
func appendMapHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpMap16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, mpMap32), uint32(n))
}

// appendExtHeader appends the shortest header of an extension of type t
// with n bytes of data.
func appendExtHeader(dst []byte, t int8, n int) []byte {
	switch n {
	case 1:
		return append(dst, mpFixExt1, byte(t))
	case 2:
		return append(dst, mpFixExt2, byte(t))
	case 4:
		return append(dst, mpFixExt4, byte(t))
	case 8:
		return append(dst, mpFixExt8, byte(t))
	case 16:
		return append(dst, mpFixExt16, byte(t))
	}
	switch {
	case n <= math.MaxUint8:
		return append(dst, mpExt8, byte(n), byte(t))
	case n <= math.MaxUint16:
		return append(binary.BigEndian.AppendUint16(append(dst, mpExt16), uint16(n)), byte(t))
	}
	return append(binary.BigEndian.AppendUint32(append(dst, mpExt32), uint32(n)), byte(t))
}

// maxExtHeader is the longest extension header (ext 32).
const maxExtHeader = 6

// beginNested reserves room for the header of an extension whose data is
// about to be appended; endNested writes the shortest header and moves the
// data up to it.
func beginNested(dst []byte) ([]byte, int) {
	start := len(dst)
	return append(dst, make([]byte, maxExtHeader)...), start
}

func endNested(dst []byte, start int, t int8) ([]byte, error) {
	body := start + maxExtHeader
	n := len(dst) - body
	if uint64(n) > math.MaxUint32 {
		return dst, errTooLong(extName(t)+" data", n)
	}
	var hdr [maxExtHeader]byte
	h := appendExtHeader(hdr[:0], t, n)
	copy(dst[start+len(h):], dst[body:])
	copy(dst[start:], h)
	return dst[:start+len(h)+n], nil
}
