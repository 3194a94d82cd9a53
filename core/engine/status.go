package engine

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/zpipe/zpipe/core/pipeline"
)

// pipelineTotals are the monotonic counts of one pipeline the status line
// reports: messages in (received by its sources), out (sent by its sinks)
// and dropped (by any of its components, every reason).
type pipelineTotals struct {
	in, out, dropped uint64
}

// totals reads the counters of every instance: socket counters from the
// transports, the rest from the core's stages and core sources and sinks.
// A transport that does not answer leaves its sockets out of this round.
func totals(ctx context.Context, instances []*pipeline.Instance) map[string]pipelineTotals {
	out := make(map[string]pipelineTotals, len(instances))
	for _, in := range instances {
		name := in.Plan().Pipeline.Name
		t := out[name]
		if st, err := in.Client().Stats(ctx); err == nil {
			comps := in.Components()
			core := in.CoreDrops()
			for _, s := range st.Sockets {
				c, ok := comps[s.ID]
				if !ok {
					continue
				}
				switch {
				case strings.HasPrefix(c.Name, "source."):
					t.in += s.MessagesReceived
				case strings.HasPrefix(c.Name, "sink."):
					t.out += s.MessagesSent
				}
				for _, n := range withCoreDrops(s.Drops, core[s.ID]) {
					t.dropped += n
				}
			}
		}
		for _, s := range in.Stages() {
			switch {
			case strings.HasPrefix(s.Name, "source."):
				t.in += s.Stats.Sent
			case strings.HasPrefix(s.Name, "sink."):
				t.out += s.Stats.Sent
			}
			for _, n := range s.Stats.Dropped {
				t.dropped += n
			}
		}
		out[name] = t
	}
	return out
}

// statusReporter logs one status line per pipeline every interval: rates
// over the interval and totals, at warning level when the pipeline
// dropped messages in the interval.
type statusReporter struct {
	logger   *slog.Logger
	interval time.Duration
	read     func(ctx context.Context) map[string]pipelineTotals
	order    []string // pipeline names, in configuration order
}

// run reports until ctx ends.
func (r *statusReporter) run(ctx context.Context) {
	prev := r.read(ctx)
	last := time.Now()
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			cur := r.read(ctx)
			r.report(ctx, prev, cur, now.Sub(last))
			prev, last = cur, now
		}
	}
}

// report logs the lines for one interval of length d.
func (r *statusReporter) report(ctx context.Context, prev, cur map[string]pipelineTotals, d time.Duration) {
	secs := d.Seconds()
	if secs <= 0 {
		return
	}
	rate := func(now, before uint64) float64 {
		if now < before { // a restarted plugin's socket counters start over
			return float64(now) / secs
		}
		return float64(now-before) / secs
	}
	for _, name := range r.order {
		c, p := cur[name], prev[name]
		dropped := rate(c.dropped, p.dropped)
		level := slog.LevelInfo
		if dropped > 0 {
			level = slog.LevelWarn
		}
		r.logger.Log(ctx, level, "status", "pipeline", name,
			"in_per_s", round(rate(c.in, p.in)), "out_per_s", round(rate(c.out, p.out)), "dropped_per_s", round(dropped),
			"in", c.in, "out", c.out, "dropped", c.dropped)
	}
}

// round keeps one decimal: enough for a person, short on a line.
func round(v float64) float64 {
	return float64(int64(v*10+0.5)) / 10
}

// coreDrops returns the drops the core counted for sockets of the
// instances (see pipeline.Instance.CoreDrops), by socket id.
func coreDrops(instances []*pipeline.Instance) map[string]map[string]uint64 {
	out := make(map[string]map[string]uint64)
	for _, in := range instances {
		for id, d := range in.CoreDrops() {
			out[id] = d
		}
	}
	return out
}

// withCoreDrops returns a socket's drops by reason with those the core
// counted for it added; drops is not modified.
func withCoreDrops(drops, core map[string]uint64) map[string]uint64 {
	if len(core) == 0 {
		return drops
	}
	out := make(map[string]uint64, len(drops)+len(core))
	for r, n := range drops {
		out[r] = n
	}
	for r, n := range core {
		out[r] += n
	}
	return out
}
