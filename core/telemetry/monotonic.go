package telemetry

import "math"

// monotonic turns a cumulative counter that may restart from zero (a plugin
// process restarted and lost its counts) into one that never goes down:
// when a reading is lower than the previous one, the previous reading is
// added to a base.
type monotonic struct {
	base, last uint64
}

// update records a new raw reading.
func (m *monotonic) update(raw uint64) {
	if raw < m.last {
		m.base = saturatingAdd(m.base, m.last)
	}
	m.last = raw
}

// value is the counter's total since it was first observed.
func (m *monotonic) value() uint64 {
	return saturatingAdd(m.base, m.last)
}

func saturatingAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// toInt64 clamps v to the range of an int64 instrument.
func toInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
