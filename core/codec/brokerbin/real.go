package brokerbin

import "math"

// Broker packs reals with CAF's portable IEEE-754 packer (CAF:
// libcaf_core/caf/detail/ieee_754.hpp), which agrees with the IEEE-754 bit
// pattern for normal numbers and zeros but uses its own patterns for NaN
// and the infinities (+Inf is IEEE's -Inf and vice versa) and mangles
// subnormal numbers. packReal and unpackReal reproduce it bit for bit; the
// fast paths are checked against a literal port in the tests.
const (
	packedNaN  = 0xffffffffffffffff
	packedPInf = 0xfff0000000000000
	packedNInf = 0x7ff0000000000000

	significandBits = 52
	significandMask = 1<<significandBits - 1
	exponentMask    = 0x7ff
	exponentBias    = 1023
)

// packReal returns CAF's packed form of f.
func packReal(f float64) uint64 {
	switch {
	case math.IsNaN(f):
		return packedNaN
	case math.IsInf(f, 1):
		return packedPInf
	case math.IsInf(f, -1):
		return packedNInf
	}
	bits := math.Float64bits(f)
	if exp := bits >> significandBits & exponentMask; exp != 0 || bits<<1 == 0 {
		return bits // normal numbers and ±0: the IEEE pattern
	}
	return packSubnormal(f)
}

// packSubnormal is CAF's algorithm, used for subnormal numbers, whose
// exponent underflows the unsigned arithmetic exactly as in C++.
func packSubnormal(f float64) uint64 {
	var sign uint64
	fnorm := f
	if f < 0 {
		sign, fnorm = 1, -f
	}
	var shift uint64
	for fnorm >= 2 {
		fnorm /= 2
		shift++
	}
	for fnorm < 1 {
		fnorm *= 2
		shift--
	}
	fnorm--
	significand := uint64(fnorm * (float64(uint64(1)<<significandBits) + 0.5))
	exp := shift + exponentBias
	return sign<<63 | exp<<significandBits | significand
}

// unpackReal returns the real CAF's unpacker reads from u.
func unpackReal(u uint64) float64 {
	switch u {
	case packedNaN:
		return math.NaN()
	case packedPInf:
		return math.Inf(1)
	case packedNInf:
		return math.Inf(-1)
	}
	switch exp := u >> significandBits & exponentMask; {
	case exp == exponentMask:
		// (1+m)·2¹⁰²⁴ overflows: IEEE NaN patterns and the IEEE
		// infinities read as infinities of their sign bit.
		if u>>63 != 0 {
			return math.Inf(-1)
		}
		return math.Inf(1)
	case exp != 0 || u<<1 == 0:
		return math.Float64frombits(u)
	}
	return unpackSubnormal(u)
}

// unpackSubnormal is CAF's algorithm for a zero exponent field: (1+m)
// halved 1023 times, rounding as it goes.
func unpackSubnormal(u uint64) float64 {
	result := float64(u & significandMask)
	result /= float64(uint64(1) << significandBits)
	result++
	for range exponentBias {
		result /= 2
	}
	if u>>63 != 0 {
		result = -result
	}
	return result
}
