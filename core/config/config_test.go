package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// mustLoad loads paths and fails the test on any error diagnostic.
func mustLoad(t *testing.T, paths []string, opts Options) *Config {
	t.Helper()
	cfg, diags := Load(paths, opts, testSchemas{})
	if diags.HasErrors() {
		var buf bytes.Buffer
		_ = WriteDiagnostics(&buf, cfg.Files, diags, 0, false)
		t.Fatalf("Load(%v): unexpected errors:\n%s", paths, buf.String())
	}
	return cfg
}

// decodeJSON decodes a node's Config for comparisons.
func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	if b == nil {
		t.Fatalf("node has no config")
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("config %s is not a JSON object: %v", b, err)
	}
	return m
}

// nodeSummary is a node without ranges, comparable across syntaxes.
type nodeSummary struct {
	ID, Subscriptions string
	Inputs            []string
	Config            map[string]any
}

func summarize(t *testing.T, cfg *Config) map[string][]nodeSummary {
	t.Helper()
	out := map[string][]nodeSummary{}
	for _, p := range cfg.Pipelines {
		for _, n := range p.Nodes {
			s := nodeSummary{ID: n.ID, Subscriptions: n.Subscriptions, Config: decodeJSON(t, n.Config)}
			for _, in := range n.Inputs {
				s.Inputs = append(s.Inputs, in.ID)
			}
			out[p.Name] = append(out[p.Name], s)
		}
	}
	return out
}

func TestLoadBrokerBothSyntaxes(t *testing.T) {
	wantSocket := func(extra map[string]any) map[string]any {
		m := map[string]any{
			"bind": []any{}, "connect": []any{}, "linger_ms": 0.0, "sndhwm": 1000.0, "rcvhwm": 1000.0,
			"framing": "zeek", "reconnect_interval": "100ms", "curve_server": false, "curve_secretkey": "",
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	want := []nodeSummary{
		{
			ID:            "zeek-broker/source.xsub.nodes_pub",
			Subscriptions: "accepts",
			Config:        wantSocket(map[string]any{"bind": []any{"tcp://127.0.0.1:5556"}}),
		},
		{
			ID:     "zeek-broker/stage.filter.only_events",
			Inputs: []string{"zeek-broker/source.xsub.nodes_pub"},
			Config: map[string]any{"prefixes": []any{"zeek.cluster."}},
		},
		{
			ID:            "zeek-broker/sink.xpub.nodes_sub",
			Subscriptions: "emits",
			Inputs:        []string{"zeek-broker/stage.filter.only_events"},
			Config: wantSocket(map[string]any{
				"bind": []any{"tcp://127.0.0.1:5555"}, "verboser": true, "nodrop": false,
			}),
		},
	}
	wantTelemetry := &Telemetry{
		ServiceName:        "zpipe-broker",
		ResourceAttributes: map[string]string{"deployment.environment": "lab"},
		ZeekNode:           "manager",
		Prometheus:         &Prometheus{Listen: "127.0.0.1:9911", Path: "/metrics"},
		OTLP: &OTLP{
			Endpoint: "127.0.0.1:4317", Protocol: "http", Insecure: true,
			Headers:  map[string]string{"authorization": "Bearer x"},
			Interval: 15 * time.Second, Timeout: 5 * time.Second,
		},
	}

	var summaries []map[string][]nodeSummary
	for _, path := range []string{"testdata/valid/zeek-broker.hcl", "testdata/valid/zeek-broker.hcl.json"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg := mustLoad(t, []string{path}, Options{})
			if cfg.Files[path] == nil {
				t.Errorf("Files lacks %s", path)
			}
			if len(cfg.Pipelines) != 1 {
				t.Fatalf("got %d pipelines, want 1", len(cfg.Pipelines))
			}
			p := cfg.Pipelines[0]
			if p.Name != "zeek-broker" || p.File != path || p.Transport != "cgo" || p.Passthrough {
				t.Errorf("pipeline = %q file %q transport %q passthrough %v", p.Name, p.File, p.Transport, p.Passthrough)
			}
			got := summarize(t, cfg)
			if !reflect.DeepEqual(got["zeek-broker"], want) {
				t.Errorf("nodes:\n got %+v\nwant %+v", got["zeek-broker"], want)
			}
			summaries = append(summaries, got)

			tel := *cfg.Telemetry
			tel.DeclRange = hcl.Range{}
			if !reflect.DeepEqual(&tel, wantTelemetry) {
				t.Errorf("telemetry:\n got %+v %+v %+v\nwant %+v %+v %+v",
					tel, tel.Prometheus, tel.OTLP, wantTelemetry, wantTelemetry.Prometheus, wantTelemetry.OTLP)
			}
			// The kind label is where unknown-kind errors point.
			src := p.Nodes[0].TypeRange
			if src.Filename != path || src.Start.Line == 0 {
				t.Errorf("TypeRange = %v", src)
			}
		})
	}
	if len(summaries) == 2 && !reflect.DeepEqual(summaries[0], summaries[1]) {
		t.Errorf("native and JSON syntax differ:\n%+v\n%+v", summaries[0], summaries[1])
	}
}

func TestNumbersStayIntegers(t *testing.T) {
	cfg := mustLoad(t, []string{"testdata/valid/zeek-broker.hcl"}, Options{Vars: map[string]string{"hwm": "2500"}})
	sink := cfg.Pipelines[0].Nodes[2]
	if !bytes.Contains(sink.Config, []byte(`"sndhwm":2500,`)) {
		t.Errorf("config %s: want sndhwm encoded as 2500", sink.Config)
	}
	if !bytes.Contains(sink.Config, []byte(`"linger_ms":0,`)) {
		t.Errorf("config %s: want linger_ms default encoded as 0", sink.Config)
	}
}

func TestDefaultWiring(t *testing.T) {
	cfg := mustLoad(t, []string{"testdata/valid/default-wiring.hcl"}, Options{})
	got := summarize(t, cfg)
	inputs := map[string][]string{}
	var order []string
	for _, p := range []string{"chain", "direct"} {
		for _, n := range got[p] {
			inputs[n.ID] = n.Inputs
			order = append(order, n.ID)
		}
	}
	wantOrder := []string{
		"chain/source.xsub.pub", "chain/source.pull.logs",
		"chain/stage.queue.buffer", "chain/stage.hello.tracker",
		"chain/sink.xpub.sub", "chain/sink.push.archive",
		"direct/source.pull.in_a", "direct/source.pull.in_b", "direct/sink.push.out",
	}
	if !reflect.DeepEqual(order, wantOrder) {
		t.Errorf("node order:\n got %v\nwant %v", order, wantOrder)
	}
	wantInputs := map[string][]string{
		"chain/source.xsub.pub":     nil,
		"chain/source.pull.logs":    nil,
		"chain/stage.queue.buffer":  {"chain/source.xsub.pub", "chain/source.pull.logs"},
		"chain/stage.hello.tracker": {"chain/stage.queue.buffer"},
		"chain/sink.xpub.sub":       {"chain/stage.hello.tracker"},
		"chain/sink.push.archive":   {"chain/stage.hello.tracker"},
		"direct/source.pull.in_a":   nil,
		"direct/source.pull.in_b":   nil,
		"direct/sink.push.out":      {"direct/source.pull.in_a", "direct/source.pull.in_b"},
	}
	if !reflect.DeepEqual(inputs, wantInputs) {
		t.Errorf("inputs:\n got %v\nwant %v", inputs, wantInputs)
	}
	if q := got["chain"][2].Config; q["capacity"] != 500.0 || q["policy"] != "drop_newest" || q["flush"] != "1s" {
		t.Errorf("queue config = %v", q)
	}
}

func TestMultipleFiles(t *testing.T) {
	tests := []struct {
		name          string
		opts          Options
		wantTransport map[string]string
		wantBind      map[string]string
	}{
		{
			name:          "defaults",
			wantTransport: map[string]string{"first": "purego", "second": "cgo"},
			wantBind:      map[string]string{"first": "tcp://127.0.0.1:7000", "second": "tcp://127.0.0.1:8000"},
		},
		{
			name:          "var applies to every file declaring it",
			opts:          Options{Vars: map[string]string{"endpoint": "ipc:///tmp/x", "only_here": "7"}},
			wantTransport: map[string]string{"first": "purego", "second": "cgo"},
			wantBind:      map[string]string{"first": "ipc:///tmp/x", "second": "ipc:///tmp/x"},
		},
		{
			name:          "transport override",
			opts:          Options{Transport: "purego"},
			wantTransport: map[string]string{"first": "purego", "second": "purego"},
			wantBind:      map[string]string{"first": "tcp://127.0.0.1:7000", "second": "tcp://127.0.0.1:8000"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, []string{"testdata/valid/multi"}, tt.opts)
			if len(cfg.Pipelines) != 2 || cfg.Pipelines[0].Name != "first" || cfg.Pipelines[1].Name != "second" {
				t.Fatalf("pipelines = %v", cfg.Pipelines)
			}
			for _, p := range cfg.Pipelines {
				if p.Transport != tt.wantTransport[p.Name] {
					t.Errorf("%s: transport %q, want %q", p.Name, p.Transport, tt.wantTransport[p.Name])
				}
				bind := decodeJSON(t, p.Nodes[0].Config)["bind"]
				if !reflect.DeepEqual(bind, []any{tt.wantBind[p.Name]}) {
					t.Errorf("%s: bind %v, want [%s]", p.Name, bind, tt.wantBind[p.Name])
				}
			}
			if len(cfg.Files) != 2 {
				t.Errorf("Files has %d entries, want 2", len(cfg.Files))
			}
		})
	}
}

func TestVariablePrecedence(t *testing.T) {
	const file = "testdata/valid/variables.hcl"
	type want struct {
		service  string
		labels   map[string]string
		bind     []any
		sndhwm   any
		verboser bool
		rawHWM   string
	}
	tests := []struct {
		name string
		opts Options
		want want
	}{
		{
			name: "defaults, required from env",
			opts: Options{Env: []string{"PATH=/bin", "ZPIPE_VAR_name=from-env"}},
			want: want{service: "from-env", labels: map[string]string{"site": "default"},
				bind: []any{"tcp://127.0.0.1:5000"}, sndhwm: 1000.0, rawHWM: `"sndhwm":1000,`},
		},
		{
			name: "upper-case env name",
			opts: Options{Env: []string{"ZPIPE_VAR_NAME=upper", "ZPIPE_VAR_HWM=7"}},
			want: want{service: "upper", labels: map[string]string{"site": "default"},
				bind: []any{"tcp://127.0.0.1:5000"}, sndhwm: 7.0, rawHWM: `"sndhwm":7,`},
		},
		{
			name: "env overrides default, typed",
			opts: Options{Env: []string{
				"ZPIPE_VAR_name=env", "ZPIPE_VAR_hwm=10", `ZPIPE_VAR_endpoints=["tcp://a:1", "tcp://b:2"]`,
				"ZPIPE_VAR_verbose=true", `ZPIPE_VAR_labels={ site = "lab", rack = "r1" }`,
			}},
			want: want{service: "env", labels: map[string]string{"site": "lab", "rack": "r1"},
				bind: []any{"tcp://a:1", "tcp://b:2"}, sndhwm: 10.0, verboser: true, rawHWM: `"sndhwm":10,`},
		},
		{
			name: "later env entry wins",
			opts: Options{Env: []string{"ZPIPE_VAR_name=first", "ZPIPE_VAR_name=second"}},
			want: want{service: "second", labels: map[string]string{"site": "default"},
				bind: []any{"tcp://127.0.0.1:5000"}, sndhwm: 1000.0, rawHWM: `"sndhwm":1000,`},
		},
		{
			name: "cli overrides env",
			opts: Options{
				Env:  []string{"ZPIPE_VAR_name=env", "ZPIPE_VAR_hwm=10", "ZPIPE_VAR_verbose=true"},
				Vars: map[string]string{"name": `"quoted" stays literal`, "hwm": "2.5", "verbose": "false", "endpoints": "[]"},
			},
			want: want{service: `"quoted" stays literal`, labels: map[string]string{"site": "default"},
				bind: []any{}, sndhwm: 2.5, rawHWM: `"sndhwm":2.5,`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, []string{file}, tt.opts)
			if cfg.Telemetry.ServiceName != tt.want.service {
				t.Errorf("service_name = %q, want %q", cfg.Telemetry.ServiceName, tt.want.service)
			}
			if !reflect.DeepEqual(cfg.Telemetry.ResourceAttributes, tt.want.labels) {
				t.Errorf("resource_attributes = %v, want %v", cfg.Telemetry.ResourceAttributes, tt.want.labels)
			}
			src := decodeJSON(t, cfg.Pipelines[0].Nodes[0].Config)
			if !reflect.DeepEqual(src["bind"], tt.want.bind) {
				t.Errorf("bind = %v, want %v", src["bind"], tt.want.bind)
			}
			sinkRaw := cfg.Pipelines[0].Nodes[1].Config
			sink := decodeJSON(t, sinkRaw)
			if sink["sndhwm"] != tt.want.sndhwm || sink["verboser"] != tt.want.verboser {
				t.Errorf("sndhwm = %v verboser = %v, want %v %v", sink["sndhwm"], sink["verboser"], tt.want.sndhwm, tt.want.verboser)
			}
			if !bytes.Contains(sinkRaw, []byte(tt.want.rawHWM)) {
				t.Errorf("config %s lacks %s", sinkRaw, tt.want.rawHWM)
			}
		})
	}
}

// wantDiag describes one expected error diagnostic; pos is "line:col" of
// the start of its subject, or "" for diagnostics without a place.
type wantDiag struct {
	summary string
	detail  string // substring
	pos     string
}

func checkErrors(t *testing.T, file string, diags hcl.Diagnostics, want []wantDiag) {
	t.Helper()
	var errs hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d)
		}
	}
	describe := func() string {
		var b strings.Builder
		for _, d := range errs {
			fmt.Fprintf(&b, "\n  %s: %s (%v)", d.Summary, d.Detail, d.Subject)
		}
		return b.String()
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:%s", len(errs), len(want), describe())
	}
	for i, w := range want {
		d := errs[i]
		if d.Summary != w.summary || !strings.Contains(d.Detail, w.detail) {
			t.Errorf("error %d = %q / %q, want %q / …%q…", i, d.Summary, d.Detail, w.summary, w.detail)
		}
		var pos string
		if d.Subject != nil {
			if file != "" && d.Subject.Filename != file {
				t.Errorf("error %d is in %q, want %q", i, d.Subject.Filename, file)
			}
			pos = fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column)
		}
		if pos != w.pos {
			t.Errorf("error %d (%s) at %q, want %q", i, d.Summary, pos, w.pos)
		}
	}
}

func TestInvalidFiles(t *testing.T) {
	tests := []struct {
		file string
		opts Options
		want []wantDiag
	}{
		{file: "typo.hcl", want: []wantDiag{
			{"Unsupported argument", `An argument named "lingr_ms" is not expected here. Did you mean "linger_ms"?`, "4:5"},
		}},
		{file: "typo.hcl.json", want: []wantDiag{
			{"Extraneous JSON object property", `No argument or block type is named "lingr_ms". Did you mean "linger_ms"?`, "4:68"},
		}},
		{file: "wrong-type.hcl", want: []wantDiag{
			{"Incorrect attribute value type", `attribute "rcvhwm": a number is required`, "3:14"},
			{"Incorrect attribute value type", `attribute "verboser": bool required`, "6:16"},
		}},
		{file: "missing-required.hcl", want: []wantDiag{
			{"Missing required argument", `"prefixes" is required`, "3:27"},
			{"Missing required argument", `"prefixes" is required and cannot be null`, "6:16"},
		}},
		{file: "bad-duration.hcl", want: []wantDiag{
			{"Invalid duration", `"reconnect_interval" must be a duration`, "3:26"},
		}},
		{file: "one-of.hcl", want: []wantDiag{
			{"Unsupported value", `"framing" must be one of "zeek", "raw"; "json" is not`, "3:15"},
			{"Unsupported value", `"policy" must be one of "drop_newest", "drop_oldest", "block"`, "6:14"},
		}},
		{file: "capability.hcl", want: []wantDiag{
			{"Unsupported option", `"curve_server" needs the "curve" capability, which transport "purego" does not have`, "9:20"},
		}},
		// With the capability, the transport's own check finds the key
		// missing; not written, it is placed at the block.
		{file: "capability.hcl", opts: Options{Transport: "cgo"}, want: []wantDiag{
			{`Invalid value for "curve_secretkey"`, `Transport "cgo" refuses "curve_secretkey": a CURVE server needs a secret key.`, "8:3"},
		}},
		{file: "unknown-var.hcl", want: []wantDiag{
			{"Unsupported attribute", `"endpiont"`, "7:30"},
		}},
		{file: "missing-var.hcl", want: []wantDiag{
			{"No value for required variable", `"endpoint" has no default, so it must be set with --var endpoint=VALUE or the environment variable ZPIPE_VAR_endpoint`, "1:1"},
		}},
		{file: "enabled.hcl", want: []wantDiag{
			{"Incorrect value type", `The enabled setting must be a bool`, "4:15"},
			{"Unsupported argument", `"lingr_ms" is not expected here. Did you mean "linger_ms"?`, "8:5"},
		}},
		{file: "missing-var.hcl", opts: Options{Env: []string{"ZPIPE_VAR_endpoint=tcp://127.0.0.1:1"}}, want: nil},
		{file: "duplicates.hcl", want: []wantDiag{
			{"Duplicate variable", `"v" was already declared at testdata/invalid/duplicates.hcl:1,1-13`, "5:1"},
			{"Duplicate source name", `already has a source named "in" (source "xsub" at testdata/invalid/duplicates.hcl:10,3-21)`, "11:17"},
			{"Duplicate stage name", `stage named "h"`, "13:17"},
			{"Duplicate sink name", `sink named "out"`, "15:15"},
			{"Duplicate pipeline", `"p" is already declared at testdata/invalid/duplicates.hcl:9,1-13`, "18:10"},
		}},
		{file: "bad-from.hcl", want: []wantDiag{
			{"Unsupported argument", "Sources read from their sockets and take no inputs", "3:5"},
			{"Reference to undeclared source", `no source "xsub" "nodes_pbu". Did you mean source.xsub.nodes_pub?`, "7:13"},
			{"Reference to undeclared source", `no source "xsub" "logs". Did you mean source.pull.logs?`, "7:36"},
			{"Invalid input", "sink.xpub.out is a sink", "10:13"},
			{"Invalid reference", "Expected a reference to a source or stage", "10:28"},
			{"Duplicate input", "source.pull.logs is listed more than once", "10:53"},
			{"Invalid from", "must be a list of references", "13:12"},
			{"Empty from", "A sink needs at least one input", "16:12"},
		}},
		{file: "cycle.hcl", want: []wantDiag{
			{"Cycle in pipeline", "stage.queue.a → stage.queue.b → stage.queue.c → stage.queue.a.", "4:12"},
			{"Cycle in pipeline", "stage.hello.self → stage.hello.self.", "13:12"},
		}},
		{file: "no-sink.hcl", want: []wantDiag{
			{"Pipeline without sink", `"only_sources" needs at least one sink`, "1:1"},
			{"Pipeline without source", `"only_sinks" needs at least one source`, "5:1"},
		}},
		{file: "unknown-kind.hcl", want: []wantDiag{
			{"Unsupported source kind", `Cannot use source "xsubb": transport "cgo" has no socket kind "xsubb".`, "2:10"},
			{"Unsupported stage kind", `no stage kind "fitler"`, "3:9"},
			{"Unsupported sink kind", `socket kind "xsub" is a source, not a sink`, "4:8"},
		}},
		{file: "unknown-transport.hcl", want: []wantDiag{
			{"Unsupported source kind", `transport plugin "zpipe-transport-nope" not found`, "4:10"},
			{"Unsupported sink kind", `transport plugin "zpipe-transport-nope" not found`, "6:8"},
		}},
		{file: "unknown-transport.hcl", opts: Options{Transport: "purego"}, want: nil},
		{file: "telemetry.hcl", want: []wantDiag{
			{"Invalid service name", "must not be empty", "2:18"},
			{"Unsupported argument", `"zeek_nodes" is not expected here. Did you mean "zeek_node"?`, "3:3"},
			{"Invalid listen address", "missing port in address", "6:14"},
			{"Invalid path", `must start with "/"`, "7:14"},
			{"Duplicate prometheus block", "already declared at testdata/invalid/telemetry.hcl:5,3-13", "10:3"},
			{"Missing required argument", `"endpoint" is required`, "14:8"},
			{"Unsupported value", `"protocol" must be one of "grpc", "http"; "udp" is not`, "15:16"},
			{"Invalid duration", `"interval" must be a duration`, "16:16"},
			{"Invalid duration", "timeout must be longer than zero", "17:16"},
		}},
		{file: "syntax.hcl", want: []wantDiag{
			{"Missing item separator", "Expected a comma", "4:3"},
		}},
		{file: "variable-types.hcl", want: []wantDiag{
			{"Invalid default value for variable", `default of variable "hwm" is not a number`, "3:13"},
			{"Invalid type specification", "list type constructor requires one argument", "7:10"},
		}},
		{file: "variable-types.hcl", opts: Options{Vars: map[string]string{"hwm": "10", "odd": "x", "flag": "maybe"}}, want: []wantDiag{
			{"Invalid default value for variable", `default of variable "hwm" is not a number`, "3:13"},
			{"Invalid type specification", "list type constructor requires one argument", "7:10"},
			{"Invalid value for variable", `Variable "flag", declared at testdata/invalid/variable-types.hcl:10,1-16, is a bool; --var flag gives it "maybe", which is not a bool: write true or false.`, "10:1"},
		}},
		{file: "top-level.hcl", want: []wantDiag{
			{"Invalid transport", "must name a transport plugin", "1:13"},
			{"Unsupported block type", `Blocks of type "pipelines" are not expected here. Did you mean "pipeline"?`, "2:1"},
			{"Invalid pipeline name", `"bad name!" is not a valid pipeline name`, "3:10"},
			{"Incorrect value type", "passthrough setting must be a bool", "4:17"},
		}},
	}
	for _, tt := range tests {
		name := tt.file
		if tt.opts.Vars != nil || tt.opts.Env != nil || tt.opts.Transport != "" {
			name += fmt.Sprintf(" %v", tt.opts)
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "invalid", tt.file)
			cfg, diags := Load([]string{path}, tt.opts, testSchemas{})
			if cfg == nil || cfg.Files[path] == nil {
				t.Fatalf("Load returned no parsed file for %s", path)
			}
			checkErrors(t, path, diags, tt.want)
		})
	}
}

func TestVariableValueErrors(t *testing.T) {
	const file = "testdata/valid/variables.hcl"
	tests := []struct {
		name string
		opts Options
		want []wantDiag
	}{
		{
			name: "undeclared cli var",
			opts: Options{Vars: map[string]string{"name": "x", "nmae": "y", "zzz": "z"}},
			want: []wantDiag{
				{"Undeclared variable", `variable "nmae" by --var`, ""},
				{"Undeclared variable", `variable "zzz" by --var`, ""},
			},
		},
		{
			name: "undeclared env var is ignored",
			opts: Options{Vars: map[string]string{"name": "x"}, Env: []string{"ZPIPE_VAR_other=1", "ZPIPE_VAR_=2"}},
		},
		{
			name: "number not parsable",
			opts: Options{Vars: map[string]string{"name": "x", "hwm": "abc"}},
			want: []wantDiag{{"Invalid value for variable",
				`Variable "hwm", declared at testdata/valid/variables.hcl:5,1-15, is a number; --var hwm gives it "abc", which is not a number: write a number, like 10, -1 or 2.5.`, "5:1"}},
		},
		{
			name: "number from env not parsable",
			opts: Options{Vars: map[string]string{"name": "x"}, Env: []string{"ZPIPE_VAR_hwm=1k"}},
			want: []wantDiag{{"Invalid value for variable",
				`is a number; environment variable ZPIPE_VAR_hwm gives it "1k", which is not a number`, "5:1"}},
		},
		{
			name: "number infinite",
			opts: Options{Vars: map[string]string{"name": "x", "hwm": "Inf"}},
			want: []wantDiag{{"Invalid value for variable", `gives it "Inf", which is not a number`, "5:1"}},
		},
		{
			name: "bool not parsable",
			opts: Options{Vars: map[string]string{"name": "x", "verbose": "yes"}},
			want: []wantDiag{{"Invalid value for variable",
				`Variable "verbose", declared at testdata/valid/variables.hcl:15,1-19, is a bool; --var verbose gives it "yes", which is not a bool: write true or false.`, "15:1"}},
		},
		{
			name: "list from env not parsable",
			opts: Options{Vars: map[string]string{"name": "x"}, Env: []string{`ZPIPE_VAR_endpoints=["a",`}},
			want: []wantDiag{{"Invalid value for variable",
				`is a list(string); environment variable ZPIPE_VAR_endpoints gives it "[\"a\",", which is not a list(string): write it in HCL syntax, like ["text", "text"].`, "10:1"}},
		},
		{
			name: "list given as a bare word",
			opts: Options{Vars: map[string]string{"name": "x", "endpoints": "tcp://127.0.0.1:1"}},
			want: []wantDiag{{"Invalid value for variable",
				`--var endpoints gives it "tcp://127.0.0.1:1", which is not a list(string): write it in HCL syntax, like ["text", "text"].`, "10:1"}},
		},
		{
			name: "map of wrong shape",
			opts: Options{Vars: map[string]string{"name": "x", "labels": `["a"]`}},
			want: []wantDiag{{"Invalid value for variable", `which is not a map(string): map of string required; write it in HCL syntax, like { name = "text" }.`, "20:1"}},
		},
		{
			name: "typed values as written",
			opts: Options{Vars: map[string]string{"name": "x", "hwm": " -2.5e3 ", "verbose": "true", "endpoints": `["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"]`}},
		},
		{
			name: "required missing",
			want: []wantDiag{{"No value for required variable", `"name" has no default`, "1:1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := Load([]string{file}, tt.opts, testSchemas{})
			checkErrors(t, file, diags, tt.want)
		})
	}
}

// writeFiles creates files in a fresh directory and returns their paths.
func writeFiles(t *testing.T, files map[string]string) (dir string, paths []string) {
	t.Helper()
	dir = t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return dir, paths
}

func TestAcrossFiles(t *testing.T) {
	dir, _ := writeFiles(t, map[string]string{
		"a.hcl": `
telemetry {}
pipeline "p" {
  source "xsub" "in" {}
  sink "xpub" "out" {}
}
`,
		"b.hcl": `
telemetry {}
pipeline "p" {
  source "pull" "in" {}
  sink "push" "out" {}
}
`,
		"notes.txt": "not configuration",
	})
	a, b := filepath.Join(dir, "a.hcl"), filepath.Join(dir, "b.hcl")
	cfg, diags := Load([]string{dir, a}, Options{}, testSchemas{})
	checkErrors(t, b, diags, []wantDiag{
		{"Duplicate telemetry block", "already declared at " + a + ":2,1-10", "2:1"},
		{"Duplicate pipeline", `"p" is already declared at ` + a + ":3,1-13", "3:10"},
	})
	if len(cfg.Files) != 2 {
		t.Errorf("loaded %d files, want 2 (a.hcl once, b.hcl)", len(cfg.Files))
	}
}

func TestLoadFileErrors(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name  string
		paths []string
		want  []wantDiag
	}{
		{"no paths", nil, []wantDiag{{"No configuration files", "At least one configuration file", ""}}},
		{"missing file", []string{filepath.Join(empty, "nope.hcl")}, []wantDiag{{"Failed to read file", "nope.hcl", ""}}},
		{"empty directory", []string{empty}, []wantDiag{{"No configuration files", "holds no .hcl or .hcl.json files", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := Load(tt.paths, Options{}, testSchemas{})
			if cfg == nil {
				t.Fatal("Load returned a nil Config")
			}
			checkErrors(t, "", diags, tt.want)
		})
	}
}

// TestTelemetryEnabled: enabled = false turns an exporter block off (its
// attributes still checked); enabled = true or a variable keeps it.
func TestTelemetryEnabled(t *testing.T) {
	_, paths := writeFiles(t, map[string]string{"t.hcl": `
variable "push" {
  type    = bool
  default = false
}
telemetry {
  prometheus {
    enabled = true
    listen  = ":9090"
  }
  otlp {
    enabled  = var.push
    endpoint = "collector:4317"
  }
}
pipeline "p" {
  source "xsub" "in" {}
  sink "xpub" "out" {}
}
`})
	cfg := mustLoad(t, paths, Options{})
	if cfg.Telemetry.Prometheus == nil || cfg.Telemetry.OTLP != nil {
		t.Fatalf("prometheus %+v, otlp %+v: want prometheus on, otlp off", cfg.Telemetry.Prometheus, cfg.Telemetry.OTLP)
	}
	cfg = mustLoad(t, paths, Options{Env: []string{"ZPIPE_VAR_push=true"}})
	if cfg.Telemetry.OTLP == nil || cfg.Telemetry.OTLP.Endpoint != "collector:4317" {
		t.Fatalf("otlp %+v with push = true", cfg.Telemetry.OTLP)
	}
	// A disabled block is still checked.
	_, bad := writeFiles(t, map[string]string{"t.hcl": `
telemetry {
  otlp {
    enabled  = false
    endpoint = ""
  }
}
pipeline "p" {
  source "xsub" "in" {}
  sink "xpub" "out" {}
}
`})
	if _, diags := Load(bad, Options{}, testSchemas{}); !diags.HasErrors() || !strings.Contains(diags.Error(), "must not be empty") {
		t.Fatalf("disabled block with an empty endpoint: %v", diags)
	}
}

func TestTelemetryDefaults(t *testing.T) {
	_, paths := writeFiles(t, map[string]string{"t.hcl": `
telemetry {
  prometheus {
    listen = ":9090"
  }
  otlp {
    endpoint = "collector:4317"
  }
}
pipeline "p" {
  source "xsub" "in" {}
  sink "xpub" "out" {}
}
`})
	cfg := mustLoad(t, paths, Options{})
	got := *cfg.Telemetry
	got.DeclRange = hcl.Range{}
	want := Telemetry{
		ServiceName:        "zpipe",
		ResourceAttributes: map[string]string{},
		Prometheus:         &Prometheus{Listen: ":9090", Path: "/metrics"},
		OTLP: &OTLP{Endpoint: "collector:4317", Protocol: "grpc", Headers: map[string]string{},
			Interval: 10 * time.Second, Timeout: 10 * time.Second},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("telemetry:\n got %+v %+v %+v\nwant %+v %+v %+v", got, got.Prometheus, got.OTLP, want, want.Prometheus, want.OTLP)
	}
	if mustLoad(t, []string{"testdata/valid/default-wiring.hcl"}, Options{}).Telemetry != nil {
		t.Error("Telemetry is set for files without a telemetry block")
	}
}

func TestUnusedNodesWarn(t *testing.T) {
	_, paths := writeFiles(t, map[string]string{"u.hcl": `
pipeline "p" {
  source "xsub" "used" {}
  source "pull" "idle" {}
  stage "hello" "dead_end" {
    from = [source.xsub.used]
  }
  sink "xpub" "out" {
    from = [source.xsub["used"]]
  }
}
`})
	cfg, diags := Load(paths, Options{}, testSchemas{})
	checkErrors(t, paths[0], diags, nil)
	var warnings []string
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			warnings = append(warnings, fmt.Sprintf("%s %d", d.Summary, d.Subject.Start.Line))
		}
	}
	want := []string{"Unused source 4", "Unused stage 5"}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings = %v, want %v", warnings, want)
	}
	if in := cfg.Pipelines[0].Nodes[3].Inputs; len(in) != 1 || in[0].ID != "p/source.xsub.used" {
		t.Errorf("index-style reference resolved to %v", in)
	}
}

// brokenSchemas answers with nothing usable.
type brokenSchemas struct{}

func (brokenSchemas) Component(tr, class, kind string) (*Component, error) {
	if kind == "xsub" {
		return nil, nil
	}
	return &Component{Schema: schemaWithBadDefault()}, nil
}

func TestBadSchemasAreDiagnosed(t *testing.T) {
	path := "testdata/valid/default-wiring.hcl"
	for _, tc := range []struct {
		name    string
		schemas Schemas
		want    string
	}{
		{"nil Schemas", nil, "no component schemas are available"},
		{"nil component and broken schema", brokenSchemas{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := Load([]string{path}, Options{}, tc.schemas)
			if !diags.HasErrors() {
				t.Fatal("no errors")
			}
			for _, d := range diags {
				if d.Subject == nil || d.Subject.Filename != path {
					t.Errorf("diagnostic without a place in %s: %s: %s", path, d.Summary, d.Detail)
				}
				if tc.want != "" && !strings.Contains(d.Detail, tc.want) {
					t.Errorf("diagnostic %q: %q lacks %q", d.Summary, d.Detail, tc.want)
				}
			}
			var text string
			for _, d := range diags {
				text += d.Summary + ": " + d.Detail + "\n"
			}
			if tc.schemas != nil && (!strings.Contains(text, `no schema for source kind "xsub"`) || !strings.Contains(text, "Invalid component schema")) {
				t.Errorf("diagnostics lack the nil component or the broken schema: %s", text)
			}
		})
	}
}

func TestWriteDiagnostics(t *testing.T) {
	path := "testdata/invalid/typo.hcl"
	cfg, diags := Load([]string{path}, Options{}, testSchemas{})
	var buf bytes.Buffer
	if err := WriteDiagnostics(&buf, cfg.Files, diags, 0, false); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Error: Unsupported argument",
		"on testdata/invalid/typo.hcl line 4",
		"4:     lingr_ms = 10",
		`Did you mean "linger_ms"?`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestFormat(t *testing.T) {
	in := "pipeline \"p\" {\nsource \"xsub\" \"in\" {\nbind=[\"tcp://127.0.0.1:1\"]\nlinger_ms = 0\n}\n}\n"
	want := "pipeline \"p\" {\n  source \"xsub\" \"in\" {\n    bind      = [\"tcp://127.0.0.1:1\"]\n    linger_ms = 0\n  }\n}\n"
	got, err := Format("p.hcl", []byte(in))
	if err != nil || string(got) != want {
		t.Errorf("Format = %q, %v\nwant %q", got, err, want)
	}

	const formatted = "testdata/valid/zeek-broker.hcl"
	src, err := os.ReadFile(formatted)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Format(formatted, src); err != nil || !bytes.Equal(got, src) {
		t.Errorf("Format changed an already formatted file (err %v):\n%s", err, got)
	}

	const broken = "testdata/invalid/syntax.hcl"
	src, err = os.ReadFile(broken)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Format(broken, src); err == nil || got != nil || !strings.Contains(err.Error(), "syntax.hcl:4,3-4: Missing item separator") {
		t.Errorf("Format(broken) = %q, %v; want a syntax error naming the place", got, err)
	}
	if _, err := Format("x.hcl.json", []byte("{}")); err == nil || !strings.Contains(err.Error(), "JSON syntax") {
		t.Errorf("Format(JSON) error = %v, want a refusal", err)
	}
}

func TestDirectoryLoadsOnlyConfigFiles(t *testing.T) {
	dir, _ := writeFiles(t, map[string]string{
		"a.hcl":        "pipeline \"a\" {\n  source \"pull\" \"in\" {}\n  sink \"push\" \"out\" {}\n}\n",
		"b.hcl.json":   `{"pipeline": {"b": {"source": {"pull": {"in": {}}}, "sink": {"push": {"out": {}}}}}}`,
		"package.json": `{"name": "not configuration"}`,
	})
	cfg := mustLoad(t, []string{dir}, Options{})
	if len(cfg.Pipelines) != 2 || cfg.Pipelines[0].Name != "a" || cfg.Pipelines[1].Name != "b" {
		t.Fatalf("pipelines = %v, want a then b", cfg.Pipelines)
	}
	// Named explicitly, a .json file is read as configuration.
	_, diags := Load([]string{filepath.Join(dir, "package.json")}, Options{}, testSchemas{})
	checkErrors(t, filepath.Join(dir, "package.json"), diags, []wantDiag{
		{"Extraneous JSON object property", `No argument or block type is named "name"`, "1:2"},
	})
}

// TestEnabled: a block with enabled = false is left out of its pipeline —
// the default chain closes over it — and enabled = true changes nothing.
func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want map[string][]string
	}{
		{nil, map[string][]string{
			"p/source.pull.in":     nil,
			"p/stage.queue.buffer": {"p/source.pull.in"},
			"p/sink.push.out":      {"p/stage.queue.buffer"},
		}},
		{[]string{"ZPIPE_VAR_archive=true"}, map[string][]string{
			"p/source.pull.in":      nil,
			"p/stage.queue.buffer":  {"p/source.pull.in"},
			"p/stage.hello.tracker": {"p/stage.queue.buffer"},
			"p/sink.push.out":       {"p/stage.hello.tracker"},
			"p/sink.push.archive":   {"p/stage.hello.tracker"},
		}},
	} {
		cfg := mustLoad(t, []string{"testdata/valid/enabled.hcl"}, Options{Env: tc.env})
		got := map[string][]string{}
		for _, n := range summarize(t, cfg)["p"] {
			got[n.ID] = n.Inputs
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("env %v: nodes and inputs\n got %v\nwant %v", tc.env, got, tc.want)
		}
	}
}
