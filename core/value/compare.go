package value

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// rank returns the Broker type-tag position of a kind; a record is a vector
// on the wire.
func rank(k Kind) Kind {
	if k == KindRecord {
		return KindVector
	}
	return k
}

// Compare orders a and b the way Broker orders the elements of its sets and
// the keys of its tables, which is the order Zeek's binary and JSON event
// encodings list them in: by type first (none, bool, count, int, real,
// string, addr, subnet, port, time, interval, enum, set, table, vector),
// then by value. Strings and enums compare bytewise; addresses by their
// 16-byte form (so every IPv4 address sorts before most IPv6 ones); subnets
// by address, then length; ports by number, then protocol; times and
// intervals by nanoseconds (see Value.Nanos); sets, tables and vectors
// lexicographically. A record compares as the vector of its field values.
//
// Reals compare numerically, with -0 equal to +0 (as in C++); unlike C++,
// NaN equals NaN and sorts after every other real, so the order stays total.
// Compare returns -1, 0 or +1.
func Compare(a, b Value) int {
	if ra, rb := rank(a.kind), rank(b.kind); ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch a.kind {
	case KindNone:
		return 0
	case KindBool, KindCount:
		return cmp.Compare(a.lo, b.lo)
	case KindInt:
		return cmp.Compare(int64(a.lo), int64(b.lo))
	case KindReal:
		return compareReal(math.Float64frombits(a.lo), math.Float64frombits(b.lo))
	case KindString, KindEnum:
		return strings.Compare(a.str, b.str)
	case KindAddr:
		return compareAddr(a, b)
	case KindSubnet:
		if c := compareAddr(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a.WireBits(), b.WireBits())
	case KindPort:
		if c := cmp.Compare(uint16(a.lo), uint16(b.lo)); c != 0 {
			return c
		}
		return cmp.Compare(a.aux, b.aux)
	case KindTime, KindInterval:
		return cmp.Compare(a.Nanos(), b.Nanos())
	case KindTable:
		return compareSeq(a.elems, b.elems)
	default: // set, vector, record
		return compareSeq(a.Elems(), b.Elems())
	}
}

func compareReal(x, y float64) int {
	xn, yn := math.IsNaN(x), math.IsNaN(y)
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	case yn:
		return -1
	}
	return cmp.Compare(x, y)
}

func compareAddr(a, b Value) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func compareSeq(a, b []Value) int {
	for i := range min(len(a), len(b)) {
		if c := Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// WireBits returns the prefix length of a subnet relative to 128 bits, the
// form both binary formats carry: IPv4 lengths plus 96 (10.0.0.0/8 → 104).
// It returns 0 for other kinds.
func (v Value) WireBits() uint8 {
	if v.kind != KindSubnet {
		return 0
	}
	if !v.v6 {
		return v.aux + 96
	}
	return v.aux
}

// Equal reports whether a and b are identical: the same kind, the same
// representation and the same content. Unlike Compare, reals compare by
// their bits (NaN equals the same NaN, -0 differs from +0), a time in
// seconds form differs from one in nanoseconds, a record differs from a
// vector, and record field names count.
func Equal(a, b Value) bool {
	if a.kind != b.kind || a.aux != b.aux || a.v6 != b.v6 || a.hi != b.hi || a.lo != b.lo || a.str != b.str {
		return false
	}
	if len(a.elems) != len(b.elems) {
		return false
	}
	for i := range a.elems {
		if !Equal(a.elems[i], b.elems[i]) {
			return false
		}
	}
	return true
}

// Sorted returns v with the elements of every set and the entries of every
// table, at any depth, in Broker's order (see Compare) — the order Zeek
// writes them in. Encoding a sorted value reproduces Zeek's bytes. v itself
// is not modified; slices are copied only where something moves.
func Sorted(v Value) Value {
	s, _ := sorted(v)
	return s
}

// sorted implements Sorted and reports whether anything moved.
func sorted(v Value) (Value, bool) {
	switch v.kind {
	case KindSet, KindVector, KindRecord, KindTable:
	default:
		return v, false
	}
	elems := v.elems
	changed := false
	for i, e := range v.elems {
		if s, moved := sorted(e); moved {
			if !changed {
				elems = slices.Clone(v.elems)
				changed = true
			}
			elems[i] = s
		}
	}
	switch v.kind {
	case KindSet:
		if !slices.IsSortedFunc(elems, Compare) {
			if !changed {
				elems = slices.Clone(elems)
				changed = true
			}
			slices.SortStableFunc(elems, Compare)
		}
	case KindTable:
		n := len(elems) / 2
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		byKey := func(i, j int) int { return Compare(elems[2*i], elems[2*j]) }
		if !slices.IsSortedFunc(idx, byKey) {
			slices.SortStableFunc(idx, byKey)
			kv := make([]Value, 0, len(elems))
			for _, i := range idx {
				kv = append(kv, elems[2*i], elems[2*i+1])
			}
			elems = kv
			changed = true
		}
	}
	v.elems = elems
	return v, changed
}

// FindDuplicate looks for two elements of a set, or two keys of a table,
// that Compare considers equal — Broker rejects such a set or table. It
// returns their indexes (entry indexes for a table), i < j, and found =
// true, or found = false if there is none or v is no set or table. Elements
// already in Broker's order are checked in one pass.
func FindDuplicate(v Value) (i, j int, found bool) {
	var key func(int) Value
	var n int
	switch v.kind {
	case KindSet:
		n, key = len(v.elems), func(k int) Value { return v.elems[k] }
	case KindTable:
		n, key = len(v.elems)/2, func(k int) Value { return v.elems[2*k] }
	default:
		return 0, 0, false
	}
	sorted := true
	for k := 1; k < n; k++ {
		c := Compare(key(k-1), key(k))
		if c == 0 {
			return k - 1, k, true
		}
		if c > 0 {
			sorted = false
			break
		}
	}
	if sorted {
		return 0, 0, false
	}
	idx := make([]int, n)
	for k := range idx {
		idx[k] = k
	}
	slices.SortStableFunc(idx, func(a, b int) int { return Compare(key(a), key(b)) })
	for k := 1; k < n; k++ {
		if Compare(key(idx[k-1]), key(idx[k])) == 0 {
			a, b := idx[k-1], idx[k]
			return min(a, b), max(a, b), true
		}
	}
	return 0, 0, false
}
