package plugin

import (
	"testing"
	"time"
)

func TestRestartDelays(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	d := newRestartDelays(Backoff{Initial: 100 * ms, Max: 1000 * ms, ResetAfter: 30 * time.Second})
	var got []time.Duration
	// A plugin that keeps crashing right away, failing to start twice once.
	for _, uptime := range []time.Duration{ms, ms, ms, ms} {
		d.exited(uptime)
		got = append(got, d.take())
	}
	got = append(got, d.take(), d.take()) // two failed start attempts
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms, 1000 * ms}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
	// A plugin that stayed up long enough starts over from the initial delay.
	d.exited(time.Minute)
	if first := d.take(); first != 100*ms {
		t.Fatalf("delay after a long run: %v, want 100ms", first)
	}
	// A short run after that keeps doubling.
	d.exited(ms)
	if next := d.take(); next != 200*ms {
		t.Fatalf("delay after a short run: %v, want 200ms", next)
	}
}
