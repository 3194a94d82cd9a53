package value

import (
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"time"
)

// Value is one Zeek value. It is a small tagged struct rather than an
// interface so that scalars (counts, addresses, ports, times, …) are stored
// inline: decoding a record of scalars allocates only the record's slice.
//
// The zero Value is none. Values are immutable by convention: constructors
// that take a slice (Set, Vector) keep it, and accessors that return one
// (Elems) share it, so neither side may modify the slice afterwards.
type Value struct {
	kind Kind
	// aux holds the protocol of a port, the prefix length of a subnet and
	// the representation (formNanos/formSeconds) of a time or interval.
	aux uint8
	// v6 reports whether an addr or subnet is IPv6.
	v6 bool
	// hi and lo hold an address in 16-byte form (IPv4 as ::ffff:a.b.c.d);
	// lo alone holds the bits of every other scalar.
	hi, lo uint64
	// str holds the bytes of a string or the name of an enum.
	str string
	// elems holds the elements of a set or vector, the alternating keys
	// and values of a table, and the field values followed by the field
	// names (as strings) of a record.
	elems []Value
}

// Representations of a time or interval.
const (
	formNanos   = 0 // int64 nanoseconds (Broker's timestamp and timespan)
	formSeconds = 1 // float64 seconds (Zeek's log serializer)
)

// v4Mapped is the low 8 bytes of an IPv4-mapped IPv6 address (::ffff:0.0.0.0)
// before the IPv4 address is or-ed in; the high 8 bytes are zero.
const v4Mapped = 0x0000ffff_00000000

// None returns the none value, which also stands for an unset record field
// or log column.
func None() Value { return Value{} }

// Bool returns a bool value.
func Bool(b bool) Value {
	v := Value{kind: KindBool}
	if b {
		v.lo = 1
	}
	return v
}

// Count returns a count (unsigned 64-bit) value.
func Count(n uint64) Value { return Value{kind: KindCount, lo: n} }

// Int returns an int (signed 64-bit) value.
func Int(n int64) Value { return Value{kind: KindInt, lo: uint64(n)} }

// Real returns a real (Zeek double) value.
func Real(f float64) Value { return Value{kind: KindReal, lo: math.Float64bits(f)} }

// String returns a string value. Zeek strings are byte strings: s need not
// be UTF-8.
func String(s string) Value { return Value{kind: KindString, str: s} }

// Bytes returns a string value holding a copy of b.
func Bytes(b []byte) Value { return Value{kind: KindString, str: string(b)} }

// Enum returns an enum value with the given name, e.g. "Conn::LOG" or "tcp".
func Enum(name string) Value { return Value{kind: KindEnum, str: name} }

// Addr returns an address value. IPv4-mapped IPv6 addresses are IPv4
// addresses, as in Zeek; a zone is dropped; the invalid zero netip.Addr
// becomes the IPv6 address "::".
func Addr(a netip.Addr) Value {
	v := Value{kind: KindAddr}
	v.setAddr(a.Unmap())
	return v
}

// AddrFrom16 returns the address value of 16 bytes in network order, where
// IPv4 addresses are IPv4-mapped (::ffff:a.b.c.d) — Broker's encoding.
func AddrFrom16(b [16]byte) Value {
	v := Value{kind: KindAddr}
	v.hi = binary.BigEndian.Uint64(b[:8])
	v.lo = binary.BigEndian.Uint64(b[8:])
	v.v6 = v.hi != 0 || v.lo>>32 != 0xffff
	return v
}

func (v *Value) setAddr(a netip.Addr) {
	if a.Is4() {
		b := a.As4()
		v.hi = 0
		v.lo = v4Mapped | uint64(binary.BigEndian.Uint32(b[:]))
		v.v6 = false
		return
	}
	b := a.As16() // the zero Addr gives all zeros
	v.hi = binary.BigEndian.Uint64(b[:8])
	v.lo = binary.BigEndian.Uint64(b[8:])
	v.v6 = true
}

// Subnet returns a subnet value. The address is masked to the prefix
// length. An IPv4-mapped IPv6 prefix of length 96 or more is the IPv4 prefix
// of length bits-96, as in Zeek; the invalid zero netip.Prefix becomes
// "::/0".
func Subnet(p netip.Prefix) Value {
	v := Value{kind: KindSubnet}
	if !p.IsValid() {
		v.setAddr(netip.IPv6Unspecified())
		return v
	}
	a, bits := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	m, err := a.Prefix(bits)
	if err != nil { // unreachable: bits is in range for a's family
		m = netip.PrefixFrom(a, bits)
	}
	v.setAddr(m.Addr())
	v.aux = uint8(bits)
	return v
}

// SubnetFrom16 returns the subnet value of a 16-byte network address
// (IPv4-mapped for IPv4) and a prefix length relative to 128 bits, which is
// Broker's and Zeek's wire form: 10.0.0.0/8 is ::ffff:10.0.0.0 with length
// 104. It fails if the length exceeds 128.
func SubnetFrom16(b [16]byte, length uint8) (Value, error) {
	if length > 128 {
		return Value{}, errors.New("subnet prefix length exceeds 128")
	}
	a := netip.AddrFrom16(b)
	return Subnet(netip.PrefixFrom(a, int(length))), nil
}

// PortOf returns a port value.
func PortOf(num uint16, proto Proto) Value {
	return Value{kind: KindPort, lo: uint64(num), aux: uint8(proto)}
}

// Time returns a time value of ns nanoseconds since the Unix epoch
// (Broker's timestamp).
func Time(ns int64) Value { return Value{kind: KindTime, lo: uint64(ns)} }

// TimeOf returns the time value of t, which must lie between the years 1678
// and 2262 to fit in int64 nanoseconds.
func TimeOf(t time.Time) Value { return Time(t.UnixNano()) }

// TimeSeconds returns a time value of s seconds since the Unix epoch, kept
// as a float64 (the form of Zeek's log serializer) so that it converts back
// to exactly s.
func TimeSeconds(s float64) Value {
	return Value{kind: KindTime, lo: math.Float64bits(s), aux: formSeconds}
}

// Interval returns an interval value of d (Broker's timespan).
func Interval(d time.Duration) Value { return Value{kind: KindInterval, lo: uint64(d)} }

// IntervalSeconds returns an interval value of s seconds, kept as a float64
// (the form of Zeek's log serializer).
func IntervalSeconds(s float64) Value {
	return Value{kind: KindInterval, lo: math.Float64bits(s), aux: formSeconds}
}

// Set returns a set value of elems, in the given order (see Sort for
// Broker's order). Set keeps elems; do not modify it afterwards.
func Set(elems ...Value) Value { return Value{kind: KindSet, elems: elems} }

// Vector returns a vector value of elems. Vector keeps elems; do not modify
// it afterwards.
func Vector(elems ...Value) Value { return Value{kind: KindVector, elems: elems} }

// Entry is one key/value pair of a table.
type Entry struct {
	Key, Value Value
}

// Table returns a table value of entries, in the given order.
func Table(entries ...Entry) Value {
	kv := make([]Value, 0, 2*len(entries))
	for _, e := range entries {
		kv = append(kv, e.Key, e.Value)
	}
	return Value{kind: KindTable, elems: kv}
}

// TableFromPairs returns a table value whose keys are kv's even elements and
// whose values are kv's odd elements. It keeps kv; do not modify it
// afterwards.
func TableFromPairs(kv []Value) (Value, error) {
	if len(kv)%2 != 0 {
		return Value{}, errors.New("table: odd number of keys and values")
	}
	return Value{kind: KindTable, elems: kv}, nil
}

// RecordField is one named field of a record. An unset field holds None.
type RecordField struct {
	Name  string
	Value Value
}

// Record returns a record value of fields, in the given order.
func Record(fields ...RecordField) Value {
	n := len(fields)
	elems := make([]Value, 2*n)
	for i, f := range fields {
		elems[i] = f.Value
		elems[n+i] = String(f.Name)
	}
	return Value{kind: KindRecord, elems: elems}
}

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// IsNone reports whether v is none (an unset field or column).
func (v Value) IsNone() bool { return v.kind == KindNone }

// Bool returns the value of a bool, or false for other kinds.
func (v Value) Bool() bool { return v.kind == KindBool && v.lo != 0 }

// Count returns the value of a count, or 0 for other kinds.
func (v Value) Count() uint64 {
	if v.kind != KindCount {
		return 0
	}
	return v.lo
}

// Int returns the value of an int, or 0 for other kinds.
func (v Value) Int() int64 {
	if v.kind != KindInt {
		return 0
	}
	return int64(v.lo)
}

// Real returns the value of a real, or 0 for other kinds.
func (v Value) Real() float64 {
	if v.kind != KindReal {
		return 0
	}
	return math.Float64frombits(v.lo)
}

// Str returns the bytes of a string or the name of an enum, or "" for other
// kinds.
func (v Value) Str() string {
	if v.kind != KindString && v.kind != KindEnum {
		return ""
	}
	return v.str
}

// Addr returns the address of an addr or the network address of a subnet,
// or the invalid netip.Addr for other kinds. IPv4 addresses are returned in
// 4-byte form.
func (v Value) Addr() netip.Addr {
	if v.kind != KindAddr && v.kind != KindSubnet {
		return netip.Addr{}
	}
	if !v.v6 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(v.lo))
		return netip.AddrFrom4(b)
	}
	return netip.AddrFrom16(v.As16())
}

// As16 returns the address of an addr or subnet in 16-byte form, IPv4 as
// IPv4-mapped (Broker's wire form).
func (v Value) As16() [16]byte {
	var b [16]byte
	if v.kind == KindAddr || v.kind == KindSubnet {
		binary.BigEndian.PutUint64(b[:8], v.hi)
		binary.BigEndian.PutUint64(b[8:], v.lo)
	}
	return b
}

// Is4 reports whether an addr or subnet is IPv4.
func (v Value) Is4() bool { return (v.kind == KindAddr || v.kind == KindSubnet) && !v.v6 }

// Subnet returns the prefix of a subnet, or the invalid netip.Prefix for
// other kinds.
func (v Value) Subnet() netip.Prefix {
	if v.kind != KindSubnet {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(v.Addr(), int(v.aux))
}

// Bits returns the prefix length of a subnet relative to its family (8 for
// 10.0.0.0/8), or 0 for other kinds.
func (v Value) Bits() int {
	if v.kind != KindSubnet {
		return 0
	}
	return int(v.aux)
}

// Port returns the number and protocol of a port, or the zero Port for
// other kinds.
func (v Value) Port() Port {
	if v.kind != KindPort {
		return Port{}
	}
	return Port{Num: uint16(v.lo), Proto: Proto(v.aux)}
}

// SecondsForm reports whether a time or interval holds float64 seconds
// (Zeek's log serializer) rather than int64 nanoseconds (Broker).
func (v Value) SecondsForm() bool {
	return (v.kind == KindTime || v.kind == KindInterval) && v.aux == formSeconds
}

// Nanos returns a time (since the epoch) or interval in nanoseconds, or 0
// for other kinds. A value in seconds form is converted the way Zeek
// converts to Broker: seconds × 10⁹ truncated toward zero, saturating at the
// int64 limits (NaN gives 0).
func (v Value) Nanos() int64 {
	if v.kind != KindTime && v.kind != KindInterval {
		return 0
	}
	if v.aux == formNanos {
		return int64(v.lo)
	}
	ns, ok := SecondsToNanos(math.Float64frombits(v.lo))
	if !ok {
		s := math.Float64frombits(v.lo)
		switch {
		case s > 0:
			return math.MaxInt64
		case s < 0:
			return math.MinInt64
		}
	}
	return ns
}

// Seconds returns a time (since the epoch) or interval in seconds, or 0 for
// other kinds. A value in nanosecond form is converted the way Zeek
// converts from Broker: ns / 10⁹.
func (v Value) Seconds() float64 {
	if v.kind != KindTime && v.kind != KindInterval {
		return 0
	}
	if v.aux == formSeconds {
		return math.Float64frombits(v.lo)
	}
	return NanosToSeconds(int64(v.lo))
}

// Time returns a time value as a time.Time in UTC (see Nanos), or the zero
// time.Time for other kinds.
func (v Value) Time() time.Time {
	if v.kind != KindTime {
		return time.Time{}
	}
	return time.Unix(0, v.Nanos()).UTC()
}

// Interval returns an interval value as a time.Duration (see Nanos), or 0
// for other kinds.
func (v Value) Interval() time.Duration {
	if v.kind != KindInterval {
		return 0
	}
	return time.Duration(v.Nanos())
}

// Len returns the number of elements of a set or vector, entries of a table
// or fields of a record, and 0 for other kinds.
func (v Value) Len() int {
	switch v.kind {
	case KindSet, KindVector:
		return len(v.elems)
	case KindTable, KindRecord:
		return len(v.elems) / 2
	}
	return 0
}

// Elems returns the elements of a set or vector or the field values of a
// record, and nil for other kinds. The slice is shared: do not modify it.
func (v Value) Elems() []Value {
	switch v.kind {
	case KindSet, KindVector:
		return v.elems
	case KindRecord:
		return v.elems[:len(v.elems)/2]
	}
	return nil
}

// Pairs returns the keys and values of a table, alternating (key 0, value 0,
// key 1, …), and nil for other kinds. The slice is shared: do not modify it.
func (v Value) Pairs() []Value {
	if v.kind != KindTable {
		return nil
	}
	return v.elems
}

// Entry returns the i-th key/value pair of a table. It panics if i is out of
// range, like a slice index.
func (v Value) Entry(i int) Entry {
	if v.kind != KindTable {
		return Entry{}
	}
	return Entry{Key: v.elems[2*i], Value: v.elems[2*i+1]}
}

// FieldName returns the name of the i-th field of a record. It panics if i
// is out of range, like a slice index.
func (v Value) FieldName(i int) string {
	if v.kind != KindRecord {
		return ""
	}
	return v.elems[len(v.elems)/2+i].str
}

// Field returns the value of the record field called name; ok is false if
// the record has no such field (an unset field is present and None).
func (v Value) Field(name string) (val Value, ok bool) {
	if v.kind != KindRecord {
		return Value{}, false
	}
	n := len(v.elems) / 2
	for i := range n {
		if v.elems[n+i].str == name {
			return v.elems[i], true
		}
	}
	return Value{}, false
}

// SecondsToNanos converts float64 seconds to int64 nanoseconds the way Zeek
// does when it hands a time or interval to Broker: s × 10⁹ truncated toward
// zero. ok is false if s is NaN or the result does not fit in an int64.
func SecondsToNanos(s float64) (ns int64, ok bool) {
	x := s * 1e9
	if math.IsNaN(x) || x >= 0x1p63 || x < -0x1p63 {
		return 0, false
	}
	return int64(x), true
}

// NanosToSeconds converts int64 nanoseconds to float64 seconds the way Zeek
// does when it receives a Broker timestamp or timespan: ns / 10⁹.
func NanosToSeconds(ns int64) float64 { return float64(ns) / 1e9 }
