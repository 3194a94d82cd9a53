package brokerbin

import (
	"fmt"
	"math"
	"time"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/value"
)

// name prefixes every error of this codec.
const name = "brokerbin"

// Broker's type tags (broker: libbroker/broker/variant_tag.hh).
const (
	tagNone      = 0x00
	tagBoolean   = 0x01
	tagCount     = 0x02
	tagInteger   = 0x03
	tagReal      = 0x04
	tagString    = 0x05
	tagAddress   = 0x06
	tagSubnet    = 0x07
	tagPort      = 0x08
	tagTimestamp = 0x09
	tagTimespan  = 0x0a
	tagEnumValue = 0x0b
	tagSet       = 0x0c
	tagTable     = 0x0d
	tagVector    = 0x0e
)

var tagNames = [...]string{
	"none", "boolean", "count", "integer", "real", "string", "address", "subnet",
	"port", "timestamp", "timespan", "enum_value", "set", "table", "vector",
}

// tagName describes a tag byte for error messages.
func tagName(t byte) string {
	if int(t) < len(tagNames) {
		return fmt.Sprintf("0x%02x (%s)", t, tagNames[t])
	}
	return fmt.Sprintf("0x%02x (no such tag)", t)
}

// MaxDepth is the deepest nesting of containers the codec decodes or
// encodes: a container may sit inside at most MaxDepth-1 others. The
// vectors that frame an event count.
const MaxDepth = 128

// Zeek's event message constants (broker: libbroker/broker/zeek.hh).
const (
	protocolVersion = 1
	messageEvent    = 1
)

// decoder reads one payload. The payload is copied into s once, and every
// string and enum name decoded is a substring of it; container elements
// are carved out of a shared arena, so a payload costs a handful of
// allocations however many values it holds.
type decoder struct {
	s     string
	pos   int
	depth int
	arena []value.Value
	// offs holds the offsets of the elements of the sets and tables being
	// decoded, innermost last, to report duplicates by offset.
	offs []int
}

func (d *decoder) errorf(offset int, format string, args ...any) error {
	return codec.Errorf(name, offset, format, args...)
}

func (d *decoder) remaining() int { return len(d.s) - d.pos }

// need fails unless n more bytes are available for what.
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

func (d *decoder) u16(what string) (uint16, error) {
	if err := d.need(2, what); err != nil {
		return 0, err
	}
	s := d.s[d.pos:]
	d.pos += 2
	return uint16(s[0])<<8 | uint16(s[1]), nil
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

func (d *decoder) addr16(what string) ([16]byte, error) {
	var b [16]byte
	if err := d.need(16, what); err != nil {
		return b, err
	}
	copy(b[:], d.s[d.pos:])
	d.pos += 16
	return b, nil
}

// varbyte reads Broker's varbyte: little-endian base 128, at most 5 bytes,
// value below 2³². what and suffix name it in errors (they are joined only
// then, to keep the success path free of allocations).
func (d *decoder) varbyte(what, suffix string) (int, error) {
	start := d.pos
	var x uint64
	for i := range 5 {
		if d.pos >= len(d.s) {
			return 0, d.errorf(d.pos, "want varbyte %s%s, have end of payload", what, suffix)
		}
		b := d.s[d.pos]
		d.pos++
		x |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if x > math.MaxUint32 {
				return 0, d.errorf(start, "varbyte %s%s %d exceeds 2^32-1", what, suffix, x)
			}
			return int(x), nil
		}
	}
	return 0, d.errorf(start, "varbyte %s%s longer than 5 bytes", what, suffix)
}

// bytes reads a varbyte length and that many bytes.
func (d *decoder) bytes(what string) (string, error) {
	n, err := d.varbyte(what, " length")
	if err != nil {
		return "", err
	}
	if d.remaining() < n {
		return "", d.errorf(d.pos, "want %d bytes of %s, have %d", n, what, d.remaining())
	}
	s := d.s[d.pos : d.pos+n]
	d.pos += n
	return s, nil
}

// alloc returns a slice of n values from the arena.
func (d *decoder) alloc(n int) []value.Value {
	if n == 0 {
		return nil
	}
	if cap(d.arena)-len(d.arena) < n {
		size := max(n, min(2*cap(d.arena)+16, d.remaining()))
		d.arena = make([]value.Value, 0, size)
	}
	l := len(d.arena)
	d.arena = d.arena[:l+n]
	return d.arena[l : l+n : l+n]
}

// expectTag reads a tag and fails unless it is want.
func (d *decoder) expectTag(want byte, what string) error {
	if d.pos >= len(d.s) {
		return d.errorf(d.pos, "want 1 bytes of %s tag, have 0", what)
	}
	t := d.s[d.pos]
	if t != want {
		return d.errorf(d.pos, "want %s tag 0x%02x, have %s", what, want, tagName(t))
	}
	d.pos++
	return nil
}

// vectorHeader reads a vector tag and its element count.
func (d *decoder) vectorHeader(what string) (int, error) {
	if err := d.expectTag(tagVector, what); err != nil {
		return 0, err
	}
	return d.varbyte(what, " size")
}

// count reads a tagged count.
func (d *decoder) count(what string) (uint64, error) {
	if err := d.expectTag(tagCount, what); err != nil {
		return 0, err
	}
	return d.u64(what)
}

// DecodeEvent decodes a broker-bin-v1 event payload: a vector of protocol
// version 1, message type 1 (event) and the content vector of name,
// arguments and optional metadata. The payload must be consumed exactly.
// The event does not share memory with payload.
func DecodeEvent(payload []byte) (value.Event, error) {
	d := &decoder{s: string(payload)}
	ev, err := d.event()
	if err != nil {
		return value.Event{}, err
	}
	if err := d.end(); err != nil {
		return value.Event{}, err
	}
	return ev, nil
}

// DecodeValue decodes one broker-bin-v1 value that fills payload exactly.
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

func (d *decoder) end() error {
	if d.pos != len(d.s) {
		return d.errorf(d.pos, "want end of payload, have %d trailing bytes", len(d.s)-d.pos)
	}
	return nil
}

func (d *decoder) event() (value.Event, error) {
	var ev value.Event
	start := d.pos
	n, err := d.vectorHeader("event vector")
	if err != nil {
		return ev, err
	}
	if n != 3 {
		return ev, d.errorf(start, "want event vector of 3 elements, have %d", n)
	}
	start = d.pos
	version, err := d.count("protocol version count")
	if err != nil {
		return ev, err
	}
	if version != protocolVersion {
		return ev, d.errorf(start, "want protocol version %d, have %d", protocolVersion, version)
	}
	start = d.pos
	typ, err := d.count("message type count")
	if err != nil {
		return ev, err
	}
	if typ != messageEvent {
		return ev, d.errorf(start, "want message type %d (event), have %d", messageEvent, typ)
	}
	start = d.pos
	parts, err := d.vectorHeader("event content vector")
	if err != nil {
		return ev, err
	}
	if parts != 2 && parts != 3 {
		return ev, d.errorf(start, "want event content vector of 2 or 3 elements, have %d", parts)
	}
	if err := d.expectTag(tagString, "event name string"); err != nil {
		return ev, err
	}
	if ev.Name, err = d.bytes("event name"); err != nil {
		return ev, err
	}
	nargs, err := d.vectorHeader("event arguments vector")
	if err != nil {
		return ev, err
	}
	d.depth = 3 // the event, content and arguments vectors
	if ev.Args, err = d.elems(nargs, 1, "argument"); err != nil {
		return ev, err
	}
	if parts == 3 {
		if ev.Metadata, err = d.metadata(); err != nil {
			return ev, err
		}
	}
	return ev, nil
}

func (d *decoder) metadata() ([]value.Metadata, error) {
	start := d.pos
	n, err := d.vectorHeader("metadata vector")
	if err != nil {
		return nil, err
	}
	// Each entry takes at least 12 bytes: 0e 02, 02 + u64 id, a tag.
	if n > d.remaining()/12 {
		return nil, d.errorf(start, "metadata vector of %d entries cannot fit in %d bytes", n, d.remaining())
	}
	if n == 0 {
		return nil, nil
	}
	md := make([]value.Metadata, n)
	for i := range md {
		entry := d.pos
		pair, err := d.vectorHeader("metadata entry vector")
		if err != nil {
			return nil, err
		}
		if pair != 2 {
			return nil, d.errorf(entry, "want metadata entry vector of 2 elements, have %d", pair)
		}
		if md[i].ID, err = d.count("metadata id count"); err != nil {
			return nil, err
		}
		d.depth = 4 // the event, content, metadata and entry vectors
		if md[i].Value, err = d.value(); err != nil {
			return nil, err
		}
	}
	return md, nil
}

// elems decodes n values; each takes at least minSize bytes.
func (d *decoder) elems(n, minSize int, what string) ([]value.Value, error) {
	if n > d.remaining()/minSize {
		return nil, d.errorf(d.pos, "%s count %d cannot fit in the remaining %d bytes", what, n, d.remaining())
	}
	out := d.alloc(n)
	for i := range out {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// value decodes one tagged value.
func (d *decoder) value() (value.Value, error) {
	start := d.pos
	tag, err := d.u8("value tag")
	if err != nil {
		return value.Value{}, err
	}
	switch tag {
	case tagNone:
		return value.None(), nil
	case tagBoolean:
		b, err := d.u8("boolean")
		return value.Bool(b != 0), err
	case tagCount:
		n, err := d.u64("count")
		return value.Count(n), err
	case tagInteger:
		n, err := d.u64("integer")
		return value.Int(int64(n)), err
	case tagReal:
		n, err := d.u64("real")
		return value.Real(unpackReal(n)), err
	case tagString:
		s, err := d.bytes("string")
		return value.String(s), err
	case tagAddress:
		b, err := d.addr16("address")
		return value.AddrFrom16(b), err
	case tagSubnet:
		b, err := d.addr16("subnet address")
		if err != nil {
			return value.Value{}, err
		}
		at := d.pos
		length, err := d.u8("subnet length")
		if err != nil {
			return value.Value{}, err
		}
		v, err := value.SubnetFrom16(b, length)
		if err != nil {
			return value.Value{}, d.errorf(at, "want subnet length of at most 128, have %d", length)
		}
		return v, nil
	case tagPort:
		num, err := d.u16("port number")
		if err != nil {
			return value.Value{}, err
		}
		at := d.pos
		proto, err := d.u8("port protocol")
		if err != nil {
			return value.Value{}, err
		}
		if proto > byte(value.ProtoICMP) {
			return value.Value{}, d.errorf(at, "want port protocol 0 to 3, have %d", proto)
		}
		return value.PortOf(num, value.Proto(proto)), nil
	case tagTimestamp:
		n, err := d.u64("timestamp")
		return value.Time(int64(n)), err
	case tagTimespan:
		n, err := d.u64("timespan")
		return value.Interval(time.Duration(n)), err
	case tagEnumValue:
		s, err := d.bytes("enum_value name")
		return value.Enum(s), err
	case tagSet, tagTable, tagVector:
		return d.container(tag, start)
	}
	return value.Value{}, d.errorf(start, "want a type tag 0x00 to 0x0e, have 0x%02x", tag)
}

func (d *decoder) container(tag byte, start int) (value.Value, error) {
	if d.depth >= MaxDepth {
		return value.Value{}, d.errorf(start, "containers nested deeper than %d", MaxDepth)
	}
	d.depth++
	defer func() { d.depth-- }()
	n, err := d.varbyte(tagNames[tag], " size")
	if err != nil {
		return value.Value{}, err
	}
	switch tag {
	case tagVector:
		elems, err := d.elems(n, 1, "vector element")
		return value.Vector(elems...), err
	case tagSet:
		return d.unique(n, 1, "set element", func(elems []value.Value) (value.Value, error) {
			return value.Set(elems...), nil
		})
	default:
		return d.unique(n, 2, "table entry", value.TableFromPairs)
	}
}

// unique decodes the n elements (per = 1) or key/value pairs (per = 2) of
// a set or table, builds it and rejects duplicate elements or keys, as
// Broker does.
func (d *decoder) unique(n, per int, what string, build func([]value.Value) (value.Value, error)) (value.Value, error) {
	if n > d.remaining()/per {
		return value.Value{}, d.errorf(d.pos, "%s count %d cannot fit in the remaining %d bytes", what, n, d.remaining())
	}
	out := d.alloc(per * n)
	base := len(d.offs)
	defer func() { d.offs = d.offs[:base] }()
	for i := range out {
		if i%per == 0 {
			d.offs = append(d.offs, d.pos)
		}
		v, err := d.value()
		if err != nil {
			return value.Value{}, err
		}
		out[i] = v
	}
	v, err := build(out)
	if err != nil {
		return value.Value{}, d.errorf(d.pos, "%v", err)
	}
	if i, j, dup := value.FindDuplicate(v); dup {
		return value.Value{}, d.errorf(d.offs[base+j], "%s %d duplicates %s %d", what, j, what, i)
	}
	return v, nil
}
