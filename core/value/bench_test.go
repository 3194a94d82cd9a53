package value_test

import (
	"net/netip"
	"testing"

	"github.com/zpipe/zpipe/core/value"
)

// sink keeps the benchmarks' results alive.
var sink any

// BenchmarkConnRow measures the choice of a tagged struct over interface
// boxing: it builds the 22 columns of a conn.log record as decoding does,
// once as []value.Value and once as []any holding plain Go values.
func BenchmarkConnRow(b *testing.B) {
	addr := netip.MustParseAddr("192.168.2.16")
	uid := "CU3WRi4faFPjW8yuPb"
	b.Run("tagged", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			n := uint64(i)
			row := make([]value.Value, 22)
			row[0] = value.TimeSeconds(1210953047.736921 + float64(i))
			row[1] = value.String(uid)
			row[2] = value.Addr(addr)
			row[3] = value.PortOf(uint16(1576+i), value.ProtoTCP)
			row[4] = value.Addr(addr)
			row[5] = value.PortOf(80, value.ProtoTCP)
			row[6] = value.Enum("tcp")
			row[8] = value.IntervalSeconds(0.00035 * float64(i))
			for j := 9; j < 21; j++ {
				row[j] = value.Count(n + 1000*uint64(j))
			}
			row[21] = value.Count(6)
			sink = row
		}
	})
	b.Run("boxed", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			n := uint64(i)
			row := make([]any, 22)
			row[0] = 1210953047.736921 + float64(i)
			row[1] = uid
			row[2] = addr
			row[3] = value.Port{Num: uint16(1576 + i), Proto: value.ProtoTCP}
			row[4] = addr
			row[5] = value.Port{Num: 80, Proto: value.ProtoTCP}
			row[6] = "tcp"
			row[8] = 0.00035 * float64(i)
			for j := 9; j < 21; j++ {
				row[j] = n + 1000*uint64(j)
			}
			row[21] = uint64(6)
			sink = row
		}
	})
}
