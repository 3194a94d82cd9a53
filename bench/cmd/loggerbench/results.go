package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/zpipe/zpipe/bench/internal/stats"
)

// zeekFigure is what Zeek 9.1's own logger node did with the same conn
// batches over PUSH on this kind of machine (TSV, medians of interleaved
// runs, files identical to zpipe's). They are quoted, not measured: no
// Zeek runs here.
type zeekFigure struct {
	recordsPerSecond float64
	cpuMicros        float64
}

var zeekFigures = map[int]zeekFigure{
	7:    {209000, 5.6},
	100:  {259000, 4.8},
	1000: {262000, 4.6},
}

// The targets: at least targetRate times Zeek's records/s, at most
// targetCPU µs of CPU per record, for every batch size.
const (
	targetRate = 1.2
	targetCPU  = 4.0
)

// results collects every run by batch size and variant.
type results struct {
	names []string
	runs  map[int]map[string][]runResult
}

func newResults() *results { return &results{runs: map[int]map[string][]runResult{}} }

func (r *results) add(size int, name string, res runResult) {
	if r.runs[size] == nil {
		r.runs[size] = map[string][]runResult{}
	}
	if !slices.Contains(r.names, name) {
		r.names = append(r.names, name)
	}
	r.runs[size][name] = append(r.runs[size][name], res)
}

func (r *results) median(size int, name string, f func(runResult) float64) float64 {
	return stats.MedianOf(r.runs[size][name], f)
}

// programs returns the programs that used CPU time in r, zpipe first.
func (r runResult) programs() []string {
	var names []string
	for _, name := range slices.Sorted(maps.Keys(r.cpuBy)) {
		if r.cpuBy[name] > 0 {
			names = append(names, name)
		}
	}
	if i := slices.Index(names, "zpipe"); i > 0 {
		names = append(append([]string{"zpipe"}, names[:i]...), names[i+1:]...)
	}
	return names
}

// cpuByProgram says how many µs of CPU per record each program took.
func (r runResult) cpuByProgram() string {
	var parts []string
	for _, name := range r.programs() {
		parts = append(parts, fmt.Sprintf("%s %.2f", name, stats.MicrosPer(r.cpuBy[name], r.records)))
	}
	return strings.Join(parts, ", ")
}

// write prints one markdown table: per batch size and variant the medians
// of records/s and CPU µs/record, the rate as a ratio to Zeek's, Zeek's
// figures and whether the targets are met.
func (r *results) write(w io.Writer, sizes []int, format string, baseline bool) error {
	var b strings.Builder
	b.WriteString("| records/batch | variant | records/s | CPU µs/record | ÷ Zeek records/s | Zeek 9.1 records/s | Zeek CPU µs/record | target met |\n")
	b.WriteString("| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, size := range sizes {
		z, quoted := zeekFigures[size]
		for _, name := range r.names {
			if len(r.runs[size][name]) == 0 {
				continue
			}
			rate := r.median(size, name, runResult.recordsPerSecond)
			cpu := r.median(size, name, runResult.cpuMicros)
			ratio, zrate, zcpu, met := "-", "-", "-", "-"
			if quoted && format == "tsv" {
				ratio = fmt.Sprintf("%.2f×", rate/z.recordsPerSecond)
				zrate, zcpu = stats.Thousands(z.recordsPerSecond), fmt.Sprintf("%.1f", z.cpuMicros)
				met = verdict(rate >= targetRate*z.recordsPerSecond, cpu <= targetCPU)
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %.2f | %s | %s | %s | %s |\n", size, name, stats.Thousands(rate), cpu, ratio, zrate, zcpu, met)
		}
	}
	if baseline {
		b.WriteString("\nthe same, as ratios to the baseline build:\n\n| records/batch | variant | records/s ÷ baseline | CPU µs/record ÷ baseline |\n| ---: | --- | ---: | ---: |\n")
		for _, size := range sizes {
			rate0, cpu0 := r.median(size, "baseline", runResult.recordsPerSecond), r.median(size, "baseline", runResult.cpuMicros)
			for _, name := range r.names[1:] {
				if len(r.runs[size][name]) == 0 || rate0 == 0 || cpu0 == 0 {
					continue
				}
				fmt.Fprintf(&b, "| %d | %s | %.2f× | %.2f× |\n", size, name,
					r.median(size, name, runResult.recordsPerSecond)/rate0, r.median(size, name, runResult.cpuMicros)/cpu0)
			}
		}
	}
	fmt.Fprintf(&b, "\nCPU: user+system of zpipe and its plugin processes. Zeek's figures are quoted (Zeek 9.1's logger node, same batches over PUSH, TSV, same kind of machine), not measured here.\n")
	fmt.Fprintf(&b, "targets: records/s ≥ %.1f× Zeek's and CPU ≤ %.1f µs/record, for every batch size.\n", targetRate, targetCPU)
	b.WriteString("CPU µs/record by program (medians):")
	for _, size := range sizes {
		for _, name := range r.names {
			runs := r.runs[size][name]
			if len(runs) == 0 {
				continue
			}
			var progs []string
			for _, x := range runs {
				for _, prog := range x.programs() {
					if !slices.Contains(progs, prog) {
						progs = append(progs, prog)
					}
				}
			}
			fmt.Fprintf(&b, "\n  %d/%s:", size, name)
			for _, prog := range progs {
				fmt.Fprintf(&b, " %s %.2f", prog, r.median(size, name, func(x runResult) float64 { return stats.MicrosPer(x.cpuBy[prog], x.records) }))
			}
		}
	}
	b.WriteString("\nthis process's CPU µs/record (PUSH load generator and file poller, not counted as zpipe's):")
	for _, size := range sizes {
		for _, name := range r.names {
			if len(r.runs[size][name]) > 0 {
				fmt.Fprintf(&b, " %d/%s %.2f", size, name, r.median(size, name, runResult.loadCPUMicros))
			}
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// verdict says which targets a row meets.
func verdict(rate, cpu bool) string {
	switch {
	case rate && cpu:
		return "yes"
	case rate:
		return "rate only"
	case cpu:
		return "CPU only"
	}
	return "no"
}
