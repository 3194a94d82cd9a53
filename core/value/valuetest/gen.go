// Package valuetest generates random Zeek values, events and log batches
// for property tests of the codecs. Generation is deterministic for a given
// seed.
package valuetest

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/zpipe/zpipe/core/value"
)

// Gen generates random values. The zero Gen is not usable; set R.
type Gen struct {
	R *rand.Rand
	// MaxDepth bounds container nesting; MaxLen bounds container sizes.
	MaxDepth, MaxLen int
	// Subnormals allows subnormal reals, which Broker's real packing
	// does not carry.
	Subnormals bool
	// Millis restricts times to whole milliseconds and reals to multiples
	// of 1/64 below 2³⁰, which broker-json-v1 carries exactly.
	Millis bool
	// Seconds makes times and intervals float64 seconds (Zeek's log
	// form) instead of int64 nanoseconds.
	Seconds bool
}

// New returns a generator seeded with seed, nesting containers up to 4
// deep with up to 6 elements.
func New(seed uint64) *Gen {
	return &Gen{R: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), MaxDepth: 4, MaxLen: 6}
}

// Kinds are the kinds of Broker values: every kind but record.
var Kinds = []value.Kind{
	value.KindNone, value.KindBool, value.KindCount, value.KindInt, value.KindReal,
	value.KindString, value.KindAddr, value.KindSubnet, value.KindPort, value.KindTime,
	value.KindInterval, value.KindEnum, value.KindSet, value.KindTable, value.KindVector,
}

// Value returns a random Broker value (no records) nested at most
// g.MaxDepth deep.
func (g *Gen) Value() value.Value { return g.value(0) }

func (g *Gen) value(depth int) value.Value {
	n := len(Kinds)
	if depth >= g.MaxDepth {
		n = int(value.KindSet) // scalars only
	}
	return g.OfKind(Kinds[g.R.IntN(n)], depth)
}

// OfKind returns a random value of kind k; containers nest below depth.
func (g *Gen) OfKind(k value.Kind, depth int) value.Value {
	r := g.R
	switch k {
	case value.KindNone:
		return value.None()
	case value.KindBool:
		return value.Bool(r.IntN(2) == 1)
	case value.KindCount:
		return value.Count(g.integer())
	case value.KindInt:
		return value.Int(int64(g.integer()))
	case value.KindReal:
		return value.Real(g.Real())
	case value.KindString:
		return value.String(g.Bytes())
	case value.KindEnum:
		return value.Enum(g.Bytes())
	case value.KindAddr:
		return value.Addr(g.Addr())
	case value.KindSubnet:
		a := g.Addr()
		return value.Subnet(netip.PrefixFrom(a, r.IntN(a.BitLen()+1)))
	case value.KindPort:
		return value.PortOf(uint16(r.Uint32()), value.Proto(r.IntN(4)))
	case value.KindTime:
		return g.Time()
	case value.KindInterval:
		return g.Interval()
	case value.KindSet:
		return value.Sorted(dedup(value.Set(g.elems(depth)...)))
	case value.KindTable:
		keys := g.elems(depth)
		kv := make([]value.Value, 0, 2*len(keys))
		for _, key := range keys {
			kv = append(kv, key, g.value(depth+1))
		}
		t, _ := value.TableFromPairs(kv)
		return value.Sorted(dedup(t))
	case value.KindVector:
		return value.Vector(g.elems(depth)...)
	case value.KindRecord:
		elems := g.elems(depth)
		fields := make([]value.RecordField, len(elems))
		for i, e := range elems {
			fields[i] = value.RecordField{Name: g.Bytes(), Value: e}
		}
		return value.Record(fields...)
	}
	return value.None()
}

func (g *Gen) elems(depth int) []value.Value {
	n := g.R.IntN(g.MaxLen + 1)
	if n == 0 {
		return nil
	}
	out := make([]value.Value, n)
	for i := range out {
		out[i] = g.value(depth + 1)
	}
	return out
}

// dedup drops set elements and table entries until no two are equal.
func dedup(v value.Value) value.Value {
	for {
		_, j, dup := value.FindDuplicate(v)
		if !dup {
			return v
		}
		if v.Kind() == value.KindSet {
			e := append([]value.Value(nil), v.Elems()...)
			v = value.Set(append(e[:j], e[j+1:]...)...)
			continue
		}
		kv := append([]value.Value(nil), v.Pairs()...)
		v, _ = value.TableFromPairs(append(kv[:2*j], kv[2*j+2:]...))
	}
}

// integer returns a random 64-bit pattern, often a small or extreme one.
func (g *Gen) integer() uint64 {
	switch g.R.IntN(4) {
	case 0:
		return uint64(g.R.IntN(300))
	case 1:
		return []uint64{0, 1, math.MaxUint64, math.MaxInt64, 1 << 63, math.MaxUint32, 1 << 32}[g.R.IntN(7)]
	}
	return g.R.Uint64()
}

// Real returns a random real, including ±0, ±Inf and NaN.
func (g *Gen) Real() float64 {
	r := g.R
	if g.Millis {
		switch r.IntN(8) {
		case 0:
			return math.NaN()
		case 1:
			return math.Inf(1 - 2*r.IntN(2))
		}
		return float64(r.Int64N(1<<36)-1<<35) / 64
	}
	switch r.IntN(8) {
	case 0:
		return []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64, math.SmallestNonzeroFloat64 * (1 << 52)}[r.IntN(7)]
	case 1:
		return r.NormFloat64()
	}
	for {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		if !g.Subnormals && f != 0 && math.Abs(f) < 0x1p-1022 {
			continue
		}
		return f
	}
}

// Bytes returns a random byte string: often UTF-8 text with characters
// JSON must escape, sometimes arbitrary bytes, sometimes longer than 127
// bytes.
func (g *Gen) Bytes() string {
	r := g.R
	n := r.IntN(12)
	if r.IntN(10) == 0 {
		n = 100 + r.IntN(200)
	}
	b := make([]byte, n)
	const text = "aZ09 _:.-\"\\/\n\t\r\b\f\v\x00\x01\x1f\x7f"
	arbitrary := r.IntN(4) == 0
	for i := range b {
		if arbitrary {
			b[i] = byte(r.Uint32())
		} else {
			b[i] = text[r.IntN(len(text))]
		}
	}
	if !arbitrary && r.IntN(3) == 0 {
		return string(b) + "é€😀"
	}
	return string(b)
}

// Addr returns a random IPv4 or IPv6 address, including IPv4-compatible
// IPv6 addresses such as ::1.2.3.4.
func (g *Gen) Addr() netip.Addr {
	r := g.R
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	switch r.IntN(4) {
	case 0, 1:
		return netip.AddrFrom4([4]byte(b[:4]))
	case 2:
		for i := range 12 - r.IntN(4) {
			b[i] = 0
		}
	}
	return netip.AddrFrom16(b)
}

// Time returns a random time.
func (g *Gen) Time() value.Value {
	r := g.R
	if g.Seconds {
		return value.TimeSeconds(g.seconds())
	}
	ns := r.Int64()
	if r.IntN(2) == 0 {
		ns = 1_600_000_000_000_000_000 + r.Int64N(int64(200*24*time.Hour))
	}
	if g.Millis {
		ns -= ns % 1e6
	}
	return value.Time(ns)
}

// Interval returns a random interval.
func (g *Gen) Interval() value.Value {
	r := g.R
	if g.Seconds {
		return value.IntervalSeconds(g.seconds())
	}
	switch r.IntN(4) {
	case 0:
		return value.Interval(time.Duration(r.Int64N(2000)-1000) * time.Millisecond)
	case 1:
		return value.Interval(time.Duration(r.Int64N(1000)) * time.Second)
	}
	return value.Interval(time.Duration(r.Int64()))
}

func (g *Gen) seconds() float64 {
	switch g.R.IntN(3) {
	case 0:
		return 1.7e9 + g.R.Float64()*1e6
	case 1:
		return g.R.Float64()
	}
	return g.Real()
}

// Event returns a random event with up to MaxLen arguments and sometimes a
// network timestamp and further metadata.
func (g *Gen) Event() value.Event {
	ev := value.Event{Name: g.Bytes()}
	for range g.R.IntN(g.MaxLen + 1) {
		ev.Args = append(ev.Args, g.value(3))
	}
	if g.R.IntN(3) == 0 {
		ev.Metadata = append(ev.Metadata, value.Metadata{ID: value.MetadataNetworkTimestamp, Value: g.Time()})
		if g.R.IntN(2) == 0 {
			ev.Metadata = append(ev.Metadata, value.Metadata{ID: 200 + g.R.Uint64N(100), Value: g.value(4)})
		}
	}
	return ev
}

// logTypes are the column types of log batches.
var logTypes = []value.TypeTag{
	value.TypeBool, value.TypeInt, value.TypeCount, value.TypeDouble, value.TypeTime,
	value.TypeInterval, value.TypeString, value.TypeEnum, value.TypePort, value.TypeAddr,
	value.TypeSubnet, value.TypeFunc, value.TypeFile, value.TypeTable, value.TypeVector,
}

// LogBatch returns a random log batch with up to 20 columns of every
// loggable type and up to 8 records; optional columns are sometimes unset
// and vectors sometimes have holes.
func (g *Gen) LogBatch() *value.LogBatch {
	r := g.R
	b := &value.LogBatch{Stream: g.Bytes(), Writer: "Log::WRITER_ASCII", Filter: "default", Path: g.Bytes()}
	for range r.IntN(20) {
		f := value.Field{Name: g.Bytes(), Type: value.Type{Tag: logTypes[r.IntN(len(logTypes))]}, Optional: r.IntN(3) == 0}
		if f.Type.Tag.IsContainer() {
			f.Type.Sub = logTypes[r.IntN(len(logTypes)-2)]
		}
		if r.IntN(10) == 0 {
			f.ValueSubtype = value.TypeTag(r.IntN(23))
		}
		b.Fields = append(b.Fields, f)
	}
	for range r.IntN(9) * min(len(b.Fields), 1) { // no records without fields
		row := make([]value.Value, len(b.Fields))
		for i, f := range b.Fields {
			if f.Optional && r.IntN(3) == 0 {
				continue // unset
			}
			row[i] = g.Column(f.Type)
		}
		b.Records = append(b.Records, row)
	}
	return b
}

// Column returns a random value for a log column of type t: a scalar of
// its kind, or a set or vector (with holes) of its element type.
func (g *Gen) Column(t value.Type) value.Value {
	if !t.Tag.IsContainer() {
		k, _ := t.Tag.ValueKind()
		return g.OfKind(k, g.MaxDepth)
	}
	k, _ := t.Sub.ValueKind()
	elems := make([]value.Value, g.R.IntN(g.MaxLen+1))
	for i := range elems {
		if t.Tag == value.TypeVector && g.R.IntN(5) == 0 {
			continue // a hole
		}
		elems[i] = g.OfKind(k, g.MaxDepth)
	}
	if t.Tag == value.TypeTable {
		return value.Set(elems...)
	}
	return value.Vector(elems...)
}
