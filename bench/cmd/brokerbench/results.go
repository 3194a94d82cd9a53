package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zpipe/zpipe/bench/internal/stats"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// results collects every run of every measurement.
type results struct {
	kinds []brokerproc.Kind
	sizes []int
	tp    map[brokerproc.Kind]map[int][]throughput
	// p50 and p99 hold each latency run's percentiles.
	p50, p99 map[brokerproc.Kind][]time.Duration
}

func newResults(brokers []*brokerproc.Process, sizes []int) *results {
	r := &results{
		sizes: sizes,
		tp:    map[brokerproc.Kind]map[int][]throughput{},
		p50:   map[brokerproc.Kind][]time.Duration{},
		p99:   map[brokerproc.Kind][]time.Duration{},
	}
	for _, b := range brokers {
		r.kinds = append(r.kinds, b.Kind())
		r.tp[b.Kind()] = map[int][]throughput{}
	}
	return r
}

func (r *results) addThroughput(k brokerproc.Kind, size int, t throughput) {
	r.tp[k][size] = append(r.tp[k][size], t)
}

func (r *results) addLatency(k brokerproc.Kind, sorted []time.Duration) {
	r.p50[k] = append(r.p50[k], percentile(sorted, 50))
	r.p99[k] = append(r.p99[k], percentile(sorted, 99))
}

// row is one metric for every broker.
type row struct {
	label  string
	format string
	values map[brokerproc.Kind]float64
}

func (r *results) rows() []row {
	var rows []row
	throughputRow := func(label, format string, size int, f func(throughput) float64) row {
		out := row{label: label, format: format, values: map[brokerproc.Kind]float64{}}
		for _, k := range r.kinds {
			out.values[k] = stats.MedianOf(r.tp[k][size], f)
		}
		return out
	}
	for _, size := range r.sizes {
		name := fmt.Sprintf("%d B", size)
		if size%1024 == 0 {
			name = fmt.Sprintf("%d KiB", size/1024)
		}
		rows = append(rows,
			throughputRow(name+"  events/s", "%.0f", size, throughput.perSecond),
			throughputRow(name+"  MB/s (payload)", "%.1f", size, func(t throughput) float64 { return t.mbPerSecond(size) }),
			throughputRow(name+"  broker CPU µs/event", "%.2f", size, func(t throughput) float64 { return micros(t.cpuPerEvent()) }),
		)
		lost := throughputRow(name+"  lost events", "%.0f", size, func(t throughput) float64 { return float64(t.Lost) })
		for _, v := range lost.values {
			if v > 0 {
				rows = append(rows, lost)
				break
			}
		}
	}
	for _, p := range []struct {
		label string
		runs  map[brokerproc.Kind][]time.Duration
	}{{"round trip p50 µs", r.p50}, {"round trip p99 µs", r.p99}} {
		out := row{label: p.label, format: "%.0f", values: map[brokerproc.Kind]float64{}}
		for _, k := range r.kinds {
			out.values[k] = stats.MedianOf(p.runs[k], micros)
		}
		rows = append(rows, out)
	}
	return rows
}

// micros is d in µs.
func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// write prints one table: a column per broker, then each broker's ratio to
// the reference (the first broker, zmq_proxy).
func (r *results) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	ref := r.kinds[0]
	header := []string{"metric"}
	for _, k := range r.kinds {
		header = append(header, string(k))
	}
	for _, k := range r.kinds[1:] {
		header = append(header, fmt.Sprintf("%s/%s", k, ref))
	}
	rows := r.rows()
	// The tab writer aligns right; padding the labels aligns them left.
	width := len(header[0])
	for _, row := range rows {
		width = max(width, len([]rune(row.label)))
	}
	pad := func(s string) string { return s + strings.Repeat(" ", width-len([]rune(s))) }
	header[0] = pad(header[0])
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, row := range rows {
		cells := []string{pad(row.label)}
		for _, k := range r.kinds {
			cells = append(cells, fmt.Sprintf(row.format, row.values[k]))
		}
		for _, k := range r.kinds[1:] {
			ratio := "-"
			if row.values[ref] != 0 {
				ratio = fmt.Sprintf("%.2fx", row.values[k]/row.values[ref])
			}
			cells = append(cells, ratio)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.kinds) > 1 {
		_, err := fmt.Fprintf(w, "\nratios are broker / %s: above 1 is better for events/s and MB/s, below 1 for CPU and round trips.\n", ref)
		return err
	}
	return nil
}
