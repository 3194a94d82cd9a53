package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/zpipe/zpipe/bench/internal/stats"
)

// results collects every run of every variant.
type results struct {
	names []string
	runs  map[string][]runResult
}

func newResults() *results { return &results{runs: map[string][]runResult{}} }

func (r *results) add(name string, res runResult) {
	if _, ok := r.runs[name]; !ok {
		r.names = append(r.names, name)
	}
	r.runs[name] = append(r.runs[name], res)
}

// medianOf is the median of f over name's runs.
func (r *results) medianOf(name string, f func(runResult) float64) float64 {
	return stats.MedianOf(r.runs[name], f)
}

func cpuMicros(x runResult) float64 { return stats.MicrosPer(x.cpu, x.records) }

func benchCPUMicros(x runResult) float64 { return stats.MicrosPer(x.benchCPU, x.records) }

// write prints the markdown table: per variant the medians of records/s,
// payload MB/s and zpipe's CPU µs per record, and its records/s as a ratio
// to the discard and file-json variants of the same run.
func (r *results) write(w io.Writer, baselines []string) error {
	var b strings.Builder
	b.WriteString("| variant | records/s | MB/s (payload) | zpipe CPU µs/record |")
	for _, base := range baselines {
		fmt.Fprintf(&b, " ÷ %s |", base)
	}
	b.WriteString("\n| --- | ---: | ---: | ---: |")
	for range baselines {
		b.WriteString(" ---: |")
	}
	b.WriteString("\n")
	for _, name := range r.names {
		rate := r.medianOf(name, runResult.recordsPerSecond)
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.2f |", name, stats.Thousands(rate),
			r.medianOf(name, runResult.mbPerSecond), r.medianOf(name, cpuMicros))
		for _, base := range baselines {
			ratio := "-"
			if br := r.medianOf(base, runResult.recordsPerSecond); br > 0 {
				ratio = fmt.Sprintf("%.2f×", rate/br)
			}
			fmt.Fprintf(&b, " %s |", ratio)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nratios are records/s ÷ the baseline's records/s (medians of the same run); CPU ratios:")
	for i, name := range r.names {
		for _, base := range baselines {
			if j := slices.Index(r.names, base); j < 0 || j >= i {
				continue
			}
			if bc := r.medianOf(base, cpuMicros); bc > 0 {
				fmt.Fprintf(&b, " %s÷%s %.2f×", name, base, r.medianOf(name, cpuMicros)/bc)
			}
		}
	}
	b.WriteString("\nthis process's CPU µs/record (the PUSH load generator; for otlp also the OTLP/gRPC collector, not counted as zpipe's):")
	for _, name := range r.names {
		fmt.Fprintf(&b, " %s %.2f", name, r.medianOf(name, benchCPUMicros))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}
