package zmsgpack

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/value"
)

// Document is a decoded zpipe-msgpack-v1 document: exactly one of Event and
// Log is set.
type Document struct {
	Event *value.Event
	Log   *value.LogBatch
}

// Decode decodes one document, an event or a log batch. The result does not
// share memory with data.
func Decode(data []byte) (Document, error) {
	d := newDecoder(data)
	doc, err := d.document()
	if err != nil {
		return Document{}, err
	}
	if err := d.end(); err != nil {
		return Document{}, err
	}
	return doc, nil
}

// DecodeEvent decodes a document that must be an event.
func DecodeEvent(data []byte) (value.Event, error) {
	doc, err := Decode(data)
	if err != nil {
		return value.Event{}, err
	}
	if doc.Event == nil {
		return value.Event{}, codec.Errorf(name, 0, "want an event document, have a log batch")
	}
	return *doc.Event, nil
}

// DecodeLogBatch decodes a document that must be a log batch.
func DecodeLogBatch(data []byte) (*value.LogBatch, error) {
	doc, err := Decode(data)
	if err != nil {
		return nil, err
	}
	if doc.Log == nil {
		return nil, codec.Errorf(name, 0, "want a log batch document, have an event")
	}
	return doc.Log, nil
}

// DecodeValue decodes one value (not a document).
func DecodeValue(data []byte) (value.Value, error) {
	d := newDecoder(data)
	v, err := d.value(0)
	if err != nil {
		return value.Value{}, err
	}
	if err := d.end(); err != nil {
		return value.Value{}, err
	}
	return v, nil
}

// decoder reads one input. The input is copied into s once; every string
// decoded is a substring of it. limit is the end of what may be read: the
// end of s, or the end of an extension's data while its nested document is
// read.
type decoder struct {
	s     string
	pos   int
	limit int
}

func newDecoder(data []byte) *decoder {
	return &decoder{s: string(data), limit: len(data)}
}

func (d *decoder) errorf(offset int, format string, args ...any) error {
	return codec.Errorf(name, offset, format, args...)
}

func (d *decoder) remaining() int { return d.limit - d.pos }

// end fails if input is left after the document or value.
func (d *decoder) end() error {
	if d.pos < len(d.s) {
		return d.errorf(d.pos, "want the end of the input, have %d more bytes starting with %s", len(d.s)-d.pos, describe(d.s[d.pos]))
	}
	return nil
}

// next reads the format byte of what; at the end of the input the error
// says what was wanted.
func (d *decoder) next(what string) (byte, error) {
	if d.pos >= d.limit {
		return 0, d.errorf(d.pos, "want %s, have the end of the %s", what, d.where())
	}
	b := d.s[d.pos]
	d.pos++
	return b, nil
}

func (d *decoder) where() string {
	if d.limit < len(d.s) {
		return "extension data"
	}
	return "input"
}

// take returns the next n bytes.
func (d *decoder) take(n int, what string) (string, error) {
	if n > d.remaining() {
		return "", d.errorf(d.pos, "want %d bytes of %s, have %d", n, what, d.remaining())
	}
	s := d.s[d.pos : d.pos+n]
	d.pos += n
	return s, nil
}

// length reads a big-endian length of size 1, 2 or 4 bytes.
func (d *decoder) length(size int, what string) (int, error) {
	if size > d.remaining() {
		return 0, d.errorf(d.pos, "want %d bytes of %s length, have %d", size, what, d.remaining())
	}
	s := d.s[d.pos : d.pos+size]
	d.pos += size
	return int(beUint(s)), nil
}

// headerSize returns the size of the length that follows the format byte
// b of a str, bin, array, map or ext 8/16/32.
func headerSize(b byte) int {
	switch b {
	case mpStr8, mpBin8, mpExt8:
		return 1
	case mpStr16, mpBin16, mpExt16, mpArray16, mpMap16:
		return 2
	}
	return 4
}

// isStr reports whether b starts a str or bin.
func isStr(b byte) bool {
	return b&0xe0 == 0xa0 || b == mpStr8 || b == mpStr16 || b == mpStr32 || b == mpBin8 || b == mpBin16 || b == mpBin32
}

// str reads a str or bin.
func (d *decoder) str(what string) (string, error) {
	at := d.pos
	b, err := d.next(what)
	if err != nil {
		return "", err
	}
	if !isStr(b) {
		return "", d.errorf(at, "want str or bin for %s, have %s", what, describe(b))
	}
	return d.strBody(b, what)
}

func (d *decoder) strBody(b byte, what string) (string, error) {
	n := int(b & 0x1f)
	if b&0xe0 != 0xa0 {
		var err error
		if n, err = d.length(headerSize(b), what); err != nil {
			return "", err
		}
	}
	return d.take(n, what)
}

// container reads the element count of an array (pairs = false) or map
// (pairs = true) whose format byte b was read at offset at, and checks that
// the elements can fit in the bytes left, one byte each at least.
func (d *decoder) container(at int, b byte, pairs bool, what string) (int, error) {
	var n int
	switch {
	case b&0xf0 == 0x90 || b&0xf0 == 0x80:
		n = int(b & 0x0f)
	default:
		var err error
		if n, err = d.length(headerSize(b), what); err != nil {
			return 0, err
		}
	}
	need := uint64(n)
	if pairs {
		need *= 2
	}
	if need > uint64(d.remaining()) {
		return 0, d.errorf(at, "%s of %d cannot fit in the remaining %d bytes", what, n, d.remaining())
	}
	return n, nil
}

func isArray(b byte) bool { return b&0xf0 == 0x90 || b == mpArray16 || b == mpArray32 }
func isMap(b byte) bool   { return b&0xf0 == 0x80 || b == mpMap16 || b == mpMap32 }

// array reads an array header.
func (d *decoder) array(what string) (int, error) {
	at := d.pos
	b, err := d.next(what)
	if err != nil {
		return 0, err
	}
	if !isArray(b) {
		return 0, d.errorf(at, "want an array for %s, have %s", what, describe(b))
	}
	return d.container(at, b, false, what)
}

// mapHeader reads a map header.
func (d *decoder) mapHeader(what string) (int, error) {
	at := d.pos
	b, err := d.next(what)
	if err != nil {
		return 0, err
	}
	if !isMap(b) {
		return 0, d.errorf(at, "want a map for %s, have %s", what, describe(b))
	}
	return d.container(at, b, true, what)
}

func (d *decoder) boolean(what string) (bool, error) {
	at := d.pos
	b, err := d.next(what)
	if err != nil {
		return false, err
	}
	switch b {
	case mpTrue:
		return true, nil
	case mpFalse:
		return false, nil
	}
	return false, d.errorf(at, "want true or false for %s, have %s", what, describe(b))
}

// value reads one value nested depth containers deep.
func (d *decoder) value(depth int) (value.Value, error) {
	at := d.pos
	b, err := d.next("a value")
	if err != nil {
		return value.Value{}, err
	}
	switch {
	case b <= 0x7f:
		return value.Count(uint64(b)), nil
	case b >= 0xe0:
		return value.Int(int64(int8(b))), nil
	case isStr(b):
		s, err := d.strBody(b, "a string")
		return value.String(s), err
	case isArray(b), isMap(b):
		return d.collection(at, b, depth)
	}
	switch b {
	case mpNil:
		return value.None(), nil
	case mpFalse:
		return value.Bool(false), nil
	case mpTrue:
		return value.Bool(true), nil
	case mpFloat32:
		s, err := d.take(4, "a float 32")
		return value.Real(float64(math.Float32frombits(uint32(beUint(s))))), err
	case mpFloat64:
		s, err := d.take(8, "a float 64")
		return value.Real(math.Float64frombits(beUint(s))), err
	case mpUint8, mpUint16, mpUint32, mpUint64:
		s, err := d.take(1<<(b-mpUint8), "an unsigned integer")
		return value.Count(beUint(s)), err
	case mpInt8, mpInt16, mpInt32, mpInt64:
		size := 1 << (b - mpInt8)
		s, err := d.take(size, "a signed integer")
		u := beUint(s)
		shift := 64 - 8*size
		return value.Int(int64(u<<shift) >> shift), err
	case mpFixExt1, mpFixExt2, mpFixExt4, mpFixExt8, mpFixExt16, mpExt8, mpExt16, mpExt32:
		return d.ext(at, b, depth)
	}
	return value.Value{}, d.errorf(at, "want a value, have %s", describe(b))
}

func beUint(s string) uint64 {
	var u uint64
	for i := 0; i < len(s); i++ {
		u = u<<8 | uint64(s[i])
	}
	return u
}

// collection reads an array (a vector) or a map (a table).
func (d *decoder) collection(at int, b byte, depth int) (value.Value, error) {
	if depth >= MaxDepth {
		return value.Value{}, d.errorf(at, "containers nested deeper than %d", MaxDepth)
	}
	if isArray(b) {
		n, err := d.container(at, b, false, "a vector")
		if err != nil {
			return value.Value{}, err
		}
		elems, err := d.values(n, depth, "vector element")
		return value.Vector(elems...), err
	}
	n, err := d.container(at, b, true, "a table")
	if err != nil {
		return value.Value{}, err
	}
	kv, err := d.values(2*n, depth, "table entry")
	if err != nil {
		return value.Value{}, err
	}
	t, _ := value.TableFromPairs(kv)
	return t, nil
}

// values reads n values one level below depth.
func (d *decoder) values(n, depth int, what string) ([]value.Value, error) {
	if n == 0 {
		return nil, nil
	}
	out := make([]value.Value, n)
	for i := range out {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// ext reads an extension whose format byte b was read at offset at.
func (d *decoder) ext(at int, b byte, depth int) (value.Value, error) {
	var n int
	switch b {
	case mpFixExt1, mpFixExt2, mpFixExt4, mpFixExt8, mpFixExt16:
		n = 1 << (b - mpFixExt1)
	default:
		var err error
		if n, err = d.length(headerSize(b), "an extension"); err != nil {
			return value.Value{}, err
		}
	}
	tb, err := d.take(1, "an extension type")
	if err != nil {
		return value.Value{}, err
	}
	t := int8(tb[0])
	start := d.pos
	if n > d.remaining() {
		return value.Value{}, d.errorf(start, "want %d bytes of %s data, have %d", n, extName(t), d.remaining())
	}
	data := d.s[start : start+n]
	fixed := func(sizes ...int) error {
		for _, s := range sizes {
			if n == s {
				return nil
			}
		}
		want := make([]string, len(sizes))
		for i, s := range sizes {
			want[i] = strconv.Itoa(s)
		}
		return d.errorf(at, "want %s data of %s bytes, have %d", extName(t), strings.Join(want, " or "), n)
	}
	switch t {
	case extSet, extRecord:
		return d.nested(at, t, n, depth)
	case extTimestamp:
		if err := fixed(4, 8, 12); err != nil {
			return value.Value{}, err
		}
		d.pos += n
		return d.timestamp(start, data)
	case extAddr:
		if err := fixed(4, 16); err != nil {
			return value.Value{}, err
		}
		d.pos += n
		return value.Addr(addrFrom(data)), nil
	case extSubnet:
		if err := fixed(5, 17); err != nil {
			return value.Value{}, err
		}
		d.pos += n
		a, bits := addrFrom(data[:n-1]), int(data[n-1])
		if bits > a.BitLen() {
			return value.Value{}, d.errorf(start+n-1, "want a prefix length of at most %d, have %d", a.BitLen(), bits)
		}
		return value.Subnet(netip.PrefixFrom(a, bits)), nil
	case extPort:
		if err := fixed(3); err != nil {
			return value.Value{}, err
		}
		d.pos += n
		proto := value.Proto(data[2])
		if proto > value.ProtoICMP {
			return value.Value{}, d.errorf(start+2, "want port protocol 0 (unknown), 1 (tcp), 2 (udp) or 3 (icmp), have %d", proto)
		}
		return value.PortOf(uint16(beUint(data[:2])), proto), nil
	case extTimeSeconds, extInterval, extIntervalSeconds:
		if err := fixed(8); err != nil {
			return value.Value{}, err
		}
		d.pos += n
		u := beUint(data)
		switch t {
		case extTimeSeconds:
			return value.TimeSeconds(math.Float64frombits(u)), nil
		case extIntervalSeconds:
			return value.IntervalSeconds(math.Float64frombits(u)), nil
		}
		return value.Interval(time.Duration(int64(u))), nil
	case extEnum:
		d.pos += n
		return value.Enum(data), nil
	}
	return value.Value{}, d.errorf(at+headerLen(b), "want extension type -1 (timestamp) or 1 to 9, have %d", t)
}

// headerLen is the length of an extension header's bytes before the type
// byte.
func headerLen(b byte) int {
	switch b {
	case mpExt8:
		return 2
	case mpExt16:
		return 3
	case mpExt32:
		return 5
	}
	return 1
}

// nested reads the data of a set or record extension: one array or map
// that fills the n bytes exactly.
func (d *decoder) nested(at int, t int8, n, depth int) (value.Value, error) {
	if depth >= MaxDepth {
		return value.Value{}, d.errorf(at, "containers nested deeper than %d", MaxDepth)
	}
	outer := d.limit
	d.limit = d.pos + n
	var v value.Value
	var err error
	if t == extSet {
		v, err = d.set(depth)
	} else {
		v, err = d.record(depth)
	}
	if err == nil && d.pos != d.limit {
		err = d.errorf(d.pos, "want the end of the %s data, have %d more bytes", extName(t), d.limit-d.pos)
	}
	d.limit = outer
	return v, err
}

func (d *decoder) set(depth int) (value.Value, error) {
	n, err := d.array("the elements of a set")
	if err != nil {
		return value.Value{}, err
	}
	elems, err := d.values(n, depth, "set element")
	if err != nil {
		return value.Value{}, err
	}
	return value.Set(elems...), nil
}

func (d *decoder) record(depth int) (value.Value, error) {
	n, err := d.mapHeader("the fields of a record")
	if err != nil {
		return value.Value{}, err
	}
	fields := make([]value.RecordField, n)
	for i := range fields {
		if fields[i].Name, err = d.str("a record field name"); err != nil {
			return value.Value{}, err
		}
		if fields[i].Value, err = d.value(depth + 1); err != nil {
			return value.Value{}, err
		}
	}
	return value.Record(fields...), nil
}

// timestamp reads MessagePack's timestamp extension data (4, 8 or 12 bytes).
func (d *decoder) timestamp(at int, data string) (value.Value, error) {
	var sec int64
	var nsec uint32
	switch len(data) {
	case 4:
		sec = int64(uint32(beUint(data)))
	case 8:
		u := beUint(data)
		nsec, sec = uint32(u>>34), int64(u&(1<<34-1))
	default:
		nsec = uint32(beUint(data[:4]))
		sec = int64(beUint(data[4:]))
	}
	if nsec >= 1e9 {
		return value.Value{}, d.errorf(at, "want timestamp nanoseconds below 10^9, have %d", nsec)
	}
	ns, ok := timestampNanos(sec, nsec)
	if !ok {
		return value.Value{}, d.errorf(at, "timestamp %d s %d ns lies outside the years 1678 to 2262 that int64 nanoseconds hold", sec, nsec)
	}
	return value.Time(ns), nil
}

// timestampNanos returns sec seconds and nsec nanoseconds as int64
// nanoseconds, or ok = false if they do not fit.
func timestampNanos(sec int64, nsec uint32) (ns int64, ok bool) {
	if sec >= 0 {
		if sec > (math.MaxInt64-int64(nsec))/int64(1e9) {
			return 0, false
		}
		return sec*1e9 + int64(nsec), true
	}
	// sec < 0: ns = (sec+1)·10⁹ − (10⁹ − nsec), computed without overflow.
	if sec+1 < math.MinInt64/int64(1e9) {
		return 0, false
	}
	base, rest := (sec+1)*1e9, int64(1e9)-int64(nsec)
	if base < math.MinInt64+rest {
		return 0, false
	}
	return base - rest, true
}

func addrFrom(data string) netip.Addr {
	if len(data) == 4 {
		return netip.AddrFrom4([4]byte([]byte(data)))
	}
	return netip.AddrFrom16([16]byte([]byte(data))).Unmap()
}

// skip moves past one value without decoding it, checking only that it is
// well-formed enough to find its end.
func (d *decoder) skip(depth int) error {
	at := d.pos
	b, err := d.next("a value")
	if err != nil {
		return err
	}
	var n int
	switch {
	case b <= 0x7f || b >= 0xe0 || b == mpNil || b == mpFalse || b == mpTrue:
		return nil
	case isStr(b):
		_, err := d.strBody(b, "a string")
		return err
	case isArray(b) || isMap(b):
		if depth >= MaxDepth {
			return d.errorf(at, "containers nested deeper than %d", MaxDepth)
		}
		if n, err = d.container(at, b, isMap(b), "a container"); err != nil {
			return err
		}
		if isMap(b) {
			n *= 2
		}
		for range n {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case b == mpFloat32:
		n = 4
	case b == mpFloat64:
		n = 8
	case b >= mpUint8 && b <= mpUint64:
		n = 1 << (b - mpUint8)
	case b >= mpInt8 && b <= mpInt64:
		n = 1 << (b - mpInt8)
	case b >= mpFixExt1 && b <= mpFixExt16:
		n = 1 + 1<<(b-mpFixExt1)
	case b == mpExt8 || b == mpExt16 || b == mpExt32:
		if n, err = d.length(headerSize(b), "an extension"); err != nil {
			return err
		}
		n++
	default:
		return d.errorf(at, "want a value, have %s", describe(b))
	}
	_, err = d.take(n, "a value")
	return err
}
