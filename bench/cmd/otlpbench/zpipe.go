package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zpipe/zpipe/bench/internal/zpipeproc"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// variant is one pipeline measured: the same source and stage, another
// sink.
type variant struct {
	// name is the column/row label.
	name string
	// component is the sink's component label in zpipe's metrics.
	component string
	// counter is the metric of component that counts the messages the
	// sink has handled: the discard sink counts only what it received,
	// the file sink what it wrote (sent).
	counter string
	// otlp: the sink exports to the in-process collector, which says when
	// every record arrived; otherwise the sink's counter does.
	otlp bool
	// sink returns the sink block, given a scratch directory and the
	// collector's address.
	sink func(dir, collector string) string
}

// The variants, in the order they run and are printed. The first is the
// baseline of the first ratio column, the second of the second.
var variants = []variant{
	{
		name:      "discard",
		component: "sink.discard.count",
		counter:   "zpipe_messages_received_total",
		sink:      func(string, string) string { return `sink "discard" "count" {}` },
	},
	{
		name:      "file-json",
		component: "sink.file.logs",
		counter:   "zpipe_messages_sent_total",
		sink: func(dir, _ string) string {
			return fmt.Sprintf(`sink "file" "logs" {
    dir    = %s
    format = "json"
  }`, strconv.Quote(filepath.Join(dir, "logs")))
		},
	},
	{
		name:      "otlp",
		component: "sink.otlp.collector",
		counter:   "zpipe_messages_sent_total",
		otlp:      true,
		sink: func(_, collector string) string {
			// batch_timeout only decides when a partial batch leaves: under
			// load every batch is full (batch_size 512); the short timeout
			// keeps the last partial batch of a run from waiting 1 s.
			return fmt.Sprintf(`sink "otlp" "collector" {
    endpoint      = %s
    insecure      = true
    batch_timeout = "50ms"
  }`, strconv.Quote(collector))
		},
	},
}

// pipelineHCL is the measured pipeline: a PULL source with Zeek framing, a
// blocking hwm stage (backpressure to the source: nothing is dropped, the
// producer is paced by the sink) and the variant's sink.
func pipelineHCL(v variant, pull, metrics, dir, collector string) string {
	return fmt.Sprintf(`# otlpbench: %s
transport = "cgo"

telemetry {
  service_name = "zpipe-otlpbench"
  prometheus {
    listen = %s
  }
}

pipeline "bench" {
  source "pull" "nodes" {
    bind    = [%s]
    framing = "zeek"
  }

  stage "hwm" "queue" {
    capacity = 1000
    policy   = "block"
  }

  %s
}
`, v.name, strconv.Quote(metrics), strconv.Quote(pull), v.sink(dir, collector))
}

// zpipeRun is zpipe running one variant's pipeline.
type zpipeRun struct {
	*zpipeproc.Process
	v    variant
	pull string // tcp://127.0.0.1:PORT of the PULL source
}

// startZpipe writes v's pipeline into dir and runs zpipe on it. It returns
// once the metrics endpoint answers.
func startZpipe(ctx context.Context, o options, v variant, dir, collector string) (*zpipeRun, error) {
	ports, err := brokerproc.FreePorts(2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	pull := "tcp://127.0.0.1:" + strconv.Itoa(ports[0])
	metrics := "127.0.0.1:" + strconv.Itoa(ports[1])
	file := filepath.Join(dir, v.name+".hcl")
	if err := os.WriteFile(file, []byte(pipelineHCL(v, pull, metrics, dir, collector)), 0o644); err != nil {
		return nil, fmt.Errorf("%s: write pipeline: %w", v.name, err)
	}
	p, err := zpipeproc.Start(ctx, zpipeproc.Config{Bin: o.zpipe.Bin, PluginDir: o.zpipe.PluginDir, Pipeline: file, Metrics: metrics})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.name, err)
	}
	return &zpipeRun{Process: p, v: v, pull: pull}, nil
}

// counters are the values of zpipe's metrics this benchmark reads.
type counters struct {
	// handled is the variant's counter (its sink's received or sent
	// total): messages for discard and file, log records for otlp.
	handled float64
	// dropped is zpipe_messages_dropped_total by "component/error.type",
	// every component of the pipeline.
	dropped map[string]float64
}

func (c counters) totalDropped() float64 {
	t := 0.0
	for _, v := range c.dropped {
		t += v
	}
	return t
}

// droppedSince lists the drops that grew since before, for error messages.
func (c counters) droppedSince(before counters) string {
	var parts []string
	for k, v := range c.dropped {
		if d := v - before.dropped[k]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", k, d))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// scrape reads zpipe's Prometheus text and picks out its counters.
func (p *zpipeRun) scrape(client *http.Client) (counters, error) {
	c := counters{dropped: map[string]float64{}}
	resp, err := client.Get(p.MetricsURL())
	if err != nil {
		return c, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return c, fmt.Errorf("scrape %s: %w", p.MetricsURL(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("scrape %s: %s", p.MetricsURL(), resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return c, fmt.Errorf("parse metrics from %s: %w", p.MetricsURL(), err)
	}
	for name, f := range families {
		if name != p.v.counter && name != "zpipe_messages_dropped_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := m.GetCounter().GetValue()
			switch name {
			case p.v.counter:
				if labels["component"] == p.v.component {
					c.handled += v
				}
			case "zpipe_messages_dropped_total":
				reason := labels["error_type"]
				if reason == "" {
					reason = labels["error.type"]
				}
				c.dropped[labels["component"]+"/"+reason] += v
			}
		}
	}
	return c, nil
}

// cpuTime returns the user+system CPU time used so far by zpipe and its
// plugin subprocesses.
func (z *zpipeRun) cpuTime() (time.Duration, error) {
	c, err := z.CPU()
	return c.Total(), err
}
