package telemetry

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/zpipe/zpipe/core/transport"
)

const metricsDoc = "../../docs/metrics.md"

// docRow is one row of the catalog table in docs/metrics.md.
type docRow struct {
	line             int
	prometheus, otel string
	kind, unit       string
	attributes       []string
	meaning          string
}

var backticked = regexp.MustCompile("`([^`]*)`")

// readDocTable parses the table whose header starts with
// "| Prometheus name |".
func readDocTable(t *testing.T) []docRow {
	t.Helper()
	f, err := os.Open(metricsDoc)
	if err != nil {
		t.Fatalf("open %s: %v", metricsDoc, err)
	}
	defer f.Close()
	var (
		rows    []docRow
		inTable bool
		n       int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "| Prometheus name |") {
			if inTable || rows != nil {
				t.Fatalf("%s:%d: a second metrics table", metricsDoc, n)
			}
			inTable = true
			continue
		}
		if !inTable {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		if strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 6 {
			t.Fatalf("%s:%d: want 6 cells, have %d: %s", metricsDoc, n, len(cells), line)
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		row := docRow{
			line:       n,
			prometheus: unquote(t, n, cells[0]),
			otel:       unquote(t, n, cells[1]),
			kind:       cells[2],
			meaning:    cells[5],
		}
		if cells[3] != "—" {
			row.unit = unquote(t, n, cells[3])
		}
		if cells[4] != "—" {
			for _, m := range backticked.FindAllStringSubmatch(cells[4], -1) {
				row.attributes = append(row.attributes, m[1])
			}
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", metricsDoc, err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no metrics table", metricsDoc)
	}
	return rows
}

func unquote(t *testing.T, line int, cell string) string {
	t.Helper()
	if len(cell) < 2 || cell[0] != '`' || cell[len(cell)-1] != '`' || strings.Count(cell, "`") != 2 {
		t.Fatalf("%s:%d: cell %q is not one `code` span", metricsDoc, line, cell)
	}
	return cell[1 : len(cell)-1]
}

func TestDocMatchesCatalog(t *testing.T) {
	rows := readDocTable(t)
	byName := map[string]docRow{}
	for _, r := range rows {
		if _, dup := byName[r.otel]; dup {
			t.Errorf("%s:%d: %s documented twice", metricsDoc, r.line, r.otel)
		}
		byName[r.otel] = r
	}
	for _, d := range Catalog() {
		r, ok := byName[d.Name]
		if !ok {
			t.Errorf("%s (%s) is missing from %s", d.Name, d.PrometheusName, metricsDoc)
			continue
		}
		delete(byName, d.Name)
		if r.prometheus != d.PrometheusName {
			t.Errorf("%s:%d: Prometheus name %q, catalog says %q", metricsDoc, r.line, r.prometheus, d.PrometheusName)
		}
		if r.kind != string(d.Kind) {
			t.Errorf("%s:%d: %s type %q, catalog says %q", metricsDoc, r.line, d.Name, r.kind, d.Kind)
		}
		if r.unit != d.Unit {
			t.Errorf("%s:%d: %s unit %q, catalog says %q", metricsDoc, r.line, d.Name, r.unit, d.Unit)
		}
		if !reflect.DeepEqual(r.attributes, d.Attributes) {
			t.Errorf("%s:%d: %s attributes %q, catalog says %q", metricsDoc, r.line, d.Name, r.attributes, d.Attributes)
		}
		if !strings.Contains(r.meaning, d.Description) {
			t.Errorf("%s:%d: %s meaning does not contain the help text %q", metricsDoc, r.line, d.Name, d.Description)
		}
	}
	for name, r := range byName {
		t.Errorf("%s:%d: documents %s, which is not in the catalog", metricsDoc, r.line, name)
	}
}

func TestCatalogIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Catalog() {
		if seen[d.Name] || seen[d.PrometheusName] {
			t.Errorf("%s: duplicate name", d.Name)
		}
		seen[d.Name], seen[d.PrometheusName] = true, true
		if d.Description == "" {
			t.Errorf("%s: no description", d.Name)
		}
		if d.Unit == "1" && d.Kind == KindGauge {
			t.Errorf("%s: unit 1 on a gauge renders with _ratio", d.Name)
		}
		if got, ok := Lookup(d.Name); !ok || got.PrometheusName != d.PrometheusName {
			t.Errorf("Lookup(%s) = %+v, %v", d.Name, got, ok)
		}
	}
	c := Catalog()
	c[0].Attributes[0] = "changed"
	if Catalog()[0].Attributes[0] == "changed" {
		t.Error("Catalog hands out its own attribute slices")
	}
	if _, ok := Lookup("no.such.metric"); ok {
		t.Error("Lookup found a metric that does not exist")
	}
}

// TestCatalogRendersAsDocumented feeds every metric through a live
// Prometheus endpoint and checks each renders under the documented name,
// type, help text and labels, and that nothing undocumented is exported.
func TestCatalogRendersAsDocumented(t *testing.T) {
	tel := newPrometheusTelemetry(t, Config{ZeekNode: "proxy-1"})
	feed := &socketFeed{}
	backend := brokerBackend(3, 90, 36, 1100, map[string]uint64{"hwm": 1})
	backend.Stats.Events = map[string]uint64{"peer_stalled": 1}
	backend.Stats.Peers = []transport.PeerStats{{Address: "127.0.0.1:40000", NodeID: "worker-1_zeek_1_x", Dropped: 5, Stalled: true}}
	feed.set(
		brokerFrontend(40, 1200, 6, 180, map[string]uint64{"malformed": 1}),
		backend,
	)
	if _, err := tel.RegisterSockets(feed.observe); err != nil {
		t.Fatalf("RegisterSockets: %v", err)
	}
	if _, err := tel.RegisterPlugins(func() []PluginObservation {
		return []PluginObservation{{Name: "transport-cgo", Up: true, Restarts: 1}}
	}); err != nil {
		t.Fatalf("RegisterPlugins: %v", err)
	}
	if _, err := tel.RegisterPipelines(func() []PipelineObservation {
		return []PipelineObservation{{Name: "broker", Up: true}}
	}); err != nil {
		t.Fatalf("RegisterPipelines: %v", err)
	}

	if _, err := tel.RegisterStages(func() []StageObservation {
		return []StageObservation{{Pipeline: "broker", Component: "stage.onloop.in", Kind: "onloop", Received: 10, Sent: 8,
			Dropped: map[string]uint64{"queue_full": 2}, HasDepth: true, Capacity: 10000, MaxBytes: 64 << 20}}
	}); err != nil {
		t.Fatalf("RegisterStages: %v", err)
	}

	if _, err := tel.RegisterMembership(func() []MemberObservation {
		return []MemberObservation{{Pipeline: "node", Component: "stage.hello_tracker.members", Name: "worker-1", Role: "worker"}}
	}); err != nil {
		t.Fatalf("RegisterMembership: %v", err)
	}

	body, fams := scrape(t, tel, "/metrics")
	documented := map[string]bool{"target_info": true}
	for _, row := range readDocTable(t) {
		documented[row.prometheus] = true
	}
	for name := range fams {
		if !documented[name] {
			t.Errorf("%s is exported but not documented in %s", name, metricsDoc)
		}
	}
	for _, d := range Catalog() {
		mf, ok := fams[d.PrometheusName]
		if !ok {
			t.Errorf("%s does not render as %s:\n%s", d.Name, d.PrometheusName, body)
			continue
		}
		wantType := dto.MetricType_GAUGE
		if d.Kind == KindCounter {
			wantType = dto.MetricType_COUNTER
		}
		if mf.GetType() != wantType {
			t.Errorf("%s renders as %v, want %v", d.PrometheusName, mf.GetType(), wantType)
		}
		if mf.GetHelp() != d.Description {
			t.Errorf("%s help %q, want %q", d.PrometheusName, mf.GetHelp(), d.Description)
		}
		var want []string
		for _, a := range d.Attributes {
			want = append(want, strings.ReplaceAll(a, ".", "_"))
		}
		sort.Strings(want)
		for _, m := range mf.GetMetric() {
			if got := labelNames(m.GetLabel()); !reflect.DeepEqual(got, want) {
				t.Errorf("%s labels %q, want %q", d.PrometheusName, got, want)
			}
		}
	}
}
