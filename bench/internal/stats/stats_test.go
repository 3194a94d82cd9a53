package stats

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64(nil), c.in...)
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Errorf("Median reordered its input: %v", c.in)
			}
		}
	}
}

func TestMedianOf(t *testing.T) {
	type run struct{ records int }
	runs := []run{{30}, {10}, {20}}
	if got := MedianOf(runs, func(r run) float64 { return float64(r.records) }); got != 20 {
		t.Errorf("got %v, want 20", got)
	}
	if got := MedianOf([]run(nil), func(r run) float64 { return 1 }); got != 0 {
		t.Errorf("no runs: got %v, want 0", got)
	}
}

func TestMicrosPer(t *testing.T) {
	if got := MicrosPer(3*time.Millisecond, 1000); got != 3 {
		t.Errorf("3 ms over 1000: %v µs, want 3", got)
	}
	if got := MicrosPer(time.Second, 0); got != 0 {
		t.Errorf("over 0: %v, want 0", got)
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{
		0:          "0",
		7:          "7",
		999.5:      "1,000",
		123456:     "123,456",
		1234567.4:  "1,234,567",
		-1234:      "-1,234",
		-123:       "-123",
		1000000000: "1,000,000,000",
	} {
		if got := Thousands(v); got != want {
			t.Errorf("Thousands(%v) = %q, want %q", v, got, want)
		}
	}
}
