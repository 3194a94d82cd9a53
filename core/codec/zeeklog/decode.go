package zeeklog

import (
	"math"
	"net/netip"
	"slices"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/value"
)

// name prefixes every error of this codec.
const name = "zeeklog"

// Smallest encodings, used to bound counts by the bytes left before
// allocating for them.
const (
	minFieldSize = 1 + 4 + 4 + 4 + 1 // no secondary name, empty name, type, subtype, optional
	minValueSize = 4 + 4 + 1         // type, subtype, present = 00
)

// Header is the part of a log batch that routes it: stream, writer, filter
// and path.
type Header struct {
	Stream, Writer, Filter, Path string
}

// decoder reads one payload. The payload is copied into s once; every
// string decoded is a substring of it, and container elements are carved
// out of a shared arena.
type decoder struct {
	s     string
	pos   int
	arena []value.Value
}

func (d *decoder) errorf(offset int, format string, args ...any) error {
	return codec.Errorf(name, offset, format, args...)
}

func (d *decoder) remaining() int { return len(d.s) - d.pos }

func (d *decoder) need(n int, what string) error {
	if d.remaining() < n {
		return d.errorf(d.pos, "want %d bytes of %s, have %d", n, what, d.remaining())
	}
	return nil
}

func (d *decoder) u8(what string) (byte, error) {
	if err := d.need(1, what); err != nil {
		return 0, err
	}
	b := d.s[d.pos]
	d.pos++
	return b, nil
}

// flag reads a bool byte, which must be 00 or 01.
func (d *decoder) flag(what string) (bool, error) {
	at := d.pos
	b, err := d.u8(what)
	if err != nil {
		return false, err
	}
	if b > 1 {
		return false, d.errorf(at, "want %s 0x00 or 0x01, have 0x%02x", what, b)
	}
	return b == 1, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	if err := d.need(4, what); err != nil {
		return 0, err
	}
	s := d.s[d.pos : d.pos+4]
	d.pos += 4
	return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3]), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	if err := d.need(8, what); err != nil {
		return 0, err
	}
	s := d.s[d.pos : d.pos+8]
	d.pos += 8
	return uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
		uint64(s[4])<<24 | uint64(s[5])<<16 | uint64(s[6])<<8 | uint64(s[7]), nil
}

// str reads a u32 length (at most 2³¹-1, as Zeek reads it signed) and that
// many bytes.
func (d *decoder) str(what string) (string, error) {
	at := d.pos
	if d.remaining() < 4 {
		return "", d.errorf(d.pos, "want 4 bytes of %s length, have %d", what, d.remaining())
	}
	n, _ := d.u32("")
	if n > math.MaxInt32 {
		return "", d.errorf(at, "want %s length below 2^31, have %d", what, n)
	}
	if int(n) > d.remaining() {
		return "", d.errorf(d.pos, "want %d bytes of %s, have %d", n, what, d.remaining())
	}
	s := d.s[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return s, nil
}

// count reads a u32 count of items of at least minSize bytes each.
func (d *decoder) count(what string, minSize int) (int, error) {
	at := d.pos
	n, err := d.u32(what)
	if err != nil {
		return 0, err
	}
	if uint64(n)*uint64(minSize) > uint64(d.remaining()) {
		return 0, d.errorf(at, "%s %d cannot fit in the remaining %d bytes", what, n, d.remaining())
	}
	return int(n), nil
}

func (d *decoder) alloc(n int) []value.Value {
	if n == 0 {
		return nil
	}
	if cap(d.arena)-len(d.arena) < n {
		size := max(n, min(2*cap(d.arena)+16, d.remaining()/minValueSize))
		d.arena = make([]value.Value, 0, size)
	}
	l := len(d.arena)
	d.arena = d.arena[:l+n]
	return d.arena[l : l+n : l+n]
}

// DecodeHeader decodes only the stream, writer, filter and path of a
// zeek-bin-serializer log batch, enough to route it.
func DecodeHeader(payload []byte) (Header, error) {
	// Copy only the four strings when they are intact; otherwise copy it
	// all and let header report the problem.
	end := 0
	for range 4 {
		if len(payload)-end < 4 {
			end = len(payload)
			break
		}
		n := uint64(payload[end])<<24 | uint64(payload[end+1])<<16 | uint64(payload[end+2])<<8 | uint64(payload[end+3])
		if n > uint64(len(payload)-end-4) {
			end = len(payload)
			break
		}
		end += 4 + int(n)
	}
	d := &decoder{s: string(payload[:end])}
	return d.header()
}

func (d *decoder) header() (Header, error) {
	var h Header
	var err error
	if h.Stream, err = d.str("stream name"); err != nil {
		return h, err
	}
	if h.Writer, err = d.str("writer name"); err != nil {
		return h, err
	}
	if h.Filter, err = d.str("filter name"); err != nil {
		return h, err
	}
	h.Path, err = d.str("path")
	return h, err
}

// Decode decodes a zeek-bin-serializer log batch. The payload must be
// consumed exactly. The batch does not share memory with payload.
func Decode(payload []byte) (*value.LogBatch, error) {
	d := &decoder{s: string(payload)}
	b := &value.LogBatch{}
	nrecords, err := d.start(b)
	if err != nil {
		return nil, err
	}
	if nrecords > 0 {
		nfields := len(b.Fields)
		b.Records = make([][]value.Value, nrecords)
		cells := make([]value.Value, nrecords*nfields)
		for r := range b.Records {
			row := cells[r*nfields : (r+1)*nfields : (r+1)*nfields]
			if err := d.record(b.Fields, row, r == 0); err != nil {
				return nil, err
			}
			b.Records[r] = row
		}
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return b, nil
}

// start decodes the header and the fields into b, reusing the capacity of
// b.Fields, and returns the number of records that follow.
func (d *decoder) start(b *value.LogBatch) (int, error) {
	if err := d.batchHeader(b); err != nil {
		return 0, err
	}
	var err error
	if b.Fields, err = d.fields(b.Fields[:0]); err != nil {
		return 0, err
	}
	return d.recordCount(len(b.Fields))
}

// batchHeader decodes the stream, writer, filter and path into b.
func (d *decoder) batchHeader(b *value.LogBatch) error {
	h, err := d.header()
	b.Stream, b.Writer, b.Filter, b.Path = h.Stream, h.Writer, h.Filter, h.Path
	return err
}

// fields decodes the field count and the fields into dst's memory.
func (d *decoder) fields(dst []value.Field) ([]value.Field, error) {
	nfields, err := d.count("field count", minFieldSize)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst[:0], nfields)[:nfields]
	for i := range dst {
		if dst[i], err = d.field(i); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// recordCount decodes the number of records of a batch of nfields fields.
func (d *decoder) recordCount(nfields int) (int, error) {
	at := d.pos
	nrecords, err := d.count("record count", nfields*minValueSize)
	if err != nil {
		return 0, err
	}
	if nfields == 0 && nrecords > 0 {
		return 0, d.errorf(at, "want no records in a batch without fields, have %d", nrecords)
	}
	return nrecords, nil
}

// record decodes one record into row, which holds one value per field;
// first records each column's value subtype.
func (d *decoder) record(fields []value.Field, row []value.Value, first bool) error {
	for i := range row {
		f := &fields[i]
		if err := d.value(&row[i], f.Type.Tag, f, first); err != nil {
			return err
		}
	}
	return nil
}

// end checks that the payload was consumed exactly.
func (d *decoder) end() error {
	if d.pos != len(d.s) {
		return d.errorf(d.pos, "want end of payload, have %d trailing bytes", len(d.s)-d.pos)
	}
	return nil
}

func (d *decoder) field(i int) (value.Field, error) {
	var f value.Field
	has, err := d.flag("secondary name flag")
	if err != nil {
		return f, err
	}
	if has {
		if f.SecondaryName, err = d.str("secondary field name"); err != nil {
			return f, err
		}
	}
	if f.Name, err = d.str("field name"); err != nil {
		return f, err
	}
	at := d.pos
	tag, err := d.u32("field type")
	if err != nil {
		return f, err
	}
	f.Type.Tag = value.TypeTag(int32(tag))
	sub, err := d.u32("field subtype")
	if err != nil {
		return f, err
	}
	f.Type.Sub = value.TypeTag(int32(sub))
	if !loggable(f.Type) {
		return f, d.errorf(at, "field %d (%q): type %s cannot be logged", i, f.Name, f.Type)
	}
	if f.Optional, err = d.flag("optional flag"); err != nil {
		return f, err
	}
	return f, nil
}

// loggable reports whether t is a column type Zeek can log.
func loggable(t value.Type) bool {
	if _, ok := t.Tag.ValueKind(); !ok {
		return false
	}
	if !t.Tag.IsContainer() {
		return true
	}
	_, ok := t.Sub.ValueKind()
	return ok && !t.Sub.IsContainer()
}

// value decodes one value of type want in column f into dst (values are
// decoded in place: they are large, and most decoding is copying them);
// first records the column's value subtype.
func (d *decoder) value(dst *value.Value, want value.TypeTag, f *value.Field, first bool) error {
	// Fast path: the value header (type, subtype, present flag) is whole
	// and as expected; anything else takes the checks below, which say
	// what is wrong.
	if d.remaining() >= valueHeaderSize {
		h := d.s[d.pos : d.pos+valueHeaderSize]
		if value.TypeTag(int32(be32(h))) == want && h[8] <= 1 {
			if first {
				f.ValueSubtype = value.TypeTag(int32(be32(h[4:])))
			}
			d.pos += valueHeaderSize
			if h[8] == 0 {
				*dst = value.Value{}
				return nil
			}
			return d.content(dst, want, f)
		}
	}
	*dst = value.Value{}
	at := d.pos
	tag, err := d.u32("value type")
	if err != nil {
		return err
	}
	if value.TypeTag(int32(tag)) != want {
		return d.errorf(at, "field %q: want value type %s (%d), have %s", f.Name, want, int32(want), value.TypeTag(int32(tag)))
	}
	sub, err := d.u32("value subtype")
	if err != nil {
		return err
	}
	if first {
		f.ValueSubtype = value.TypeTag(int32(sub))
	}
	present, err := d.flag("present flag")
	if err != nil || !present {
		return err
	}
	return d.content(dst, want, f)
}

// valueHeaderSize is the size of a value's type, subtype and present flag.
const valueHeaderSize = 4 + 4 + 1

func be32(s string) uint32 {
	return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
}

// content decodes the content of a present value of type want in column
// f into dst.
func (d *decoder) content(dst *value.Value, want value.TypeTag, f *value.Field) error {
	at := d.pos
	var err error
	switch want {
	case value.TypeBool:
		var n uint64
		n, err = d.u64("bool")
		*dst = value.Bool(n != 0)
	case value.TypeInt:
		var n uint64
		n, err = d.u64("int")
		*dst = value.Int(int64(n))
	case value.TypeCount:
		var n uint64
		n, err = d.u64("count")
		*dst = value.Count(n)
	case value.TypeDouble:
		var n uint64
		n, err = d.u64("double")
		*dst = value.Real(math.Float64frombits(n))
	case value.TypeTime:
		var n uint64
		n, err = d.u64("time")
		*dst = value.TimeSeconds(math.Float64frombits(n))
	case value.TypeInterval:
		var n uint64
		n, err = d.u64("interval")
		*dst = value.IntervalSeconds(math.Float64frombits(n))
	case value.TypeString, value.TypeFunc, value.TypeFile:
		var s string
		s, err = d.str("string")
		*dst = value.String(s)
	case value.TypeEnum:
		var s string
		s, err = d.str("enum name")
		*dst = value.Enum(s)
	case value.TypePort:
		*dst, err = d.port()
	case value.TypeAddr:
		var a netip.Addr
		a, err = d.addr("address")
		*dst = value.Addr(a)
	case value.TypeSubnet:
		*dst, err = d.subnet()
	case value.TypeTable, value.TypeVector:
		*dst, err = d.container(want, f)
	default:
		*dst = value.Value{}
		err = d.errorf(at, "field %q: type %s cannot be logged", f.Name, want)
	}
	return err
}

func (d *decoder) port() (value.Value, error) {
	at := d.pos
	num, err := d.u64("port number")
	if err != nil {
		return value.Value{}, err
	}
	if num > math.MaxUint16 {
		return value.Value{}, d.errorf(at, "want port number below 65536, have %d", num)
	}
	at = d.pos
	proto, err := d.u32("port protocol")
	if err != nil {
		return value.Value{}, err
	}
	if proto > uint32(value.ProtoICMP) {
		return value.Value{}, d.errorf(at, "want port protocol 0 to 3, have %d", int32(proto))
	}
	return value.PortOf(uint16(num), value.Proto(proto)), nil
}

// addr reads a family byte (4 or 6) and the address bytes.
func (d *decoder) addr(what string) (netip.Addr, error) {
	at := d.pos
	if d.remaining() < 1 {
		return netip.Addr{}, d.errorf(d.pos, "want 1 bytes of %s family, have 0", what)
	}
	family, _ := d.u8("")
	switch family {
	case 4:
		if err := d.need(4, what); err != nil {
			return netip.Addr{}, err
		}
		var b [4]byte
		d.pos += copy(b[:], d.s[d.pos:d.pos+4])
		return netip.AddrFrom4(b), nil
	case 6:
		if err := d.need(16, what); err != nil {
			return netip.Addr{}, err
		}
		var b [16]byte
		d.pos += copy(b[:], d.s[d.pos:d.pos+16])
		return netip.AddrFrom16(b), nil
	}
	return netip.Addr{}, d.errorf(at, "want %s family 4 or 6, have %d", what, family)
}

// subnet reads a length relative to 128 bits, then an address.
func (d *decoder) subnet() (value.Value, error) {
	at := d.pos
	length, err := d.u8("subnet length")
	if err != nil {
		return value.Value{}, err
	}
	a, err := d.addr("subnet address")
	if err != nil {
		return value.Value{}, err
	}
	bits := int(length)
	if a.Is4() {
		if length < 96 || length > 128 {
			return value.Value{}, d.errorf(at, "want IPv4 subnet length 96 to 128 (96 + prefix length), have %d", length)
		}
		bits -= 96
	} else if length > 128 {
		return value.Value{}, d.errorf(at, "want IPv6 subnet length of at most 128, have %d", length)
	}
	return value.Subnet(netip.PrefixFrom(a, bits)), nil
}

// container reads the elements of a set (TABLE) or vector.
func (d *decoder) container(tag value.TypeTag, f *value.Field) (value.Value, error) {
	at := d.pos
	n, err := d.u64("element count")
	if err != nil {
		return value.Value{}, err
	}
	if n > uint64(d.remaining()/minValueSize) {
		return value.Value{}, d.errorf(at, "%d elements cannot fit in the remaining %d bytes", int64(n), d.remaining())
	}
	elems := d.alloc(int(n))
	for i := range elems {
		if err := d.value(&elems[i], f.Type.Sub, f, false); err != nil {
			return value.Value{}, err
		}
	}
	if tag == value.TypeTable {
		return value.Set(elems...), nil
	}
	return value.Vector(elems...), nil
}
