package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// Environment variables that steer the suite.
const (
	envBrokers   = "ZPIPE_E2E_BROKER" // zpipe, zpipe-purego, zmqproxy (comma-separated), or "all"
	envBin       = "ZPIPE_BIN"        // the zpipe binary
	envPluginDir = "ZPIPE_PLUGIN_DIR" // where zpipe finds its plugins
)

// suite is what TestMain found and built; it is not changed afterwards.
type suite struct {
	kinds    []brokerproc.Kind
	commands map[brokerproc.Kind]brokerproc.Command
	// zpipeBin and pluginDir are set when a zpipe broker is selected.
	zpipeBin, pluginDir string
}

var brokers suite

func TestMain(m *testing.M) {
	code, err := setUp(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setUp(m *testing.M) (int, error) {
	root, err := zeektest.ModuleRoot()
	if err != nil {
		return 0, err
	}
	if _, err := zeektest.VectorsDir(); err != nil {
		return 0, err
	}
	zpipeBin := os.Getenv(envBin)
	if zpipeBin == "" {
		zpipeBin = filepath.Join(root, "bin", "zpipe")
	}
	_, statErr := os.Stat(zpipeBin)
	haveZpipe := statErr == nil
	kinds, err := selectBrokers(os.Getenv(envBrokers), zpipeBin, haveZpipe)
	if err != nil {
		return 0, err
	}
	cmds := map[brokerproc.Kind]brokerproc.Command{}
	var pluginDir string
	if slices.ContainsFunc(kinds, brokerproc.Kind.IsZpipe) {
		if !haveZpipe {
			return 0, fmt.Errorf("zpipe binary %s: %v; run `make build` first (or set %s)", zpipeBin, statErr, envBin)
		}
		pluginDir = os.Getenv(envPluginDir)
		if pluginDir == "" {
			pluginDir = filepath.Join(root, "bin")
		}
		pipeline := filepath.Join(root, "pipelines", "zeek-broker.hcl")
		if _, err := os.Stat(pipeline); err != nil {
			return 0, fmt.Errorf("broker pipeline: %w", err)
		}
		if slices.Contains(kinds, brokerproc.Zpipe) {
			cmds[brokerproc.Zpipe] = brokerproc.ZpipeCommand(zpipeBin, pluginDir, pipeline)
		}
		if slices.Contains(kinds, brokerproc.ZpipePurego) {
			plugin := filepath.Join(pluginDir, "zpipe-transport-purego")
			if _, err := os.Stat(plugin); err != nil {
				return 0, fmt.Errorf("the purego broker needs %s: %v; run `make build` first (or leave zpipe-purego out of %s)", plugin, err, envBrokers)
			}
			cmd := brokerproc.ZpipeCommand(zpipeBin, pluginDir, pipeline, "--transport", "purego")
			cmd.Kind = brokerproc.ZpipePurego
			cmds[brokerproc.ZpipePurego] = cmd
		}
	}
	if slices.Contains(kinds, brokerproc.ZmqProxy) {
		dir, err := os.MkdirTemp("", "zpipe-e2e-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "zmqproxy")
		build := exec.Command("go", "build", "-o", bin, "./bench/cmd/zmqproxy")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("build the reference broker: %v\n%s", err, out)
		}
		cmds[brokerproc.ZmqProxy] = brokerproc.ZmqProxyCommand(bin)
	}
	brokers = suite{kinds: kinds, commands: cmds}
	if pluginDir != "" {
		brokers.zpipeBin, brokers.pluginDir = zpipeBin, pluginDir
	}
	code := m.Run()
	if err := writeFigures(); err != nil {
		return 0, err
	}
	return code, nil
}

// selectBrokers interprets ZPIPE_E2E_BROKER.
func selectBrokers(value, zpipeBin string, haveZpipe bool) ([]brokerproc.Kind, error) {
	all := []brokerproc.Kind{brokerproc.Zpipe, brokerproc.ZpipePurego, brokerproc.ZmqProxy}
	switch strings.TrimSpace(value) {
	case "":
		if !haveZpipe {
			return nil, fmt.Errorf("zpipe binary %s not found: run `make build` first (or set %s to the zpipe binary, or %s=zmqproxy to test only the reference broker)", zpipeBin, envBin, envBrokers)
		}
		return all, nil
	case "both", "all":
		return all, nil
	}
	var kinds []brokerproc.Kind
	for _, k := range strings.Split(value, ",") {
		kind := brokerproc.Kind(strings.TrimSpace(k))
		if !slices.Contains(all, kind) {
			return nil, fmt.Errorf("%s=%q: unknown broker %q (want zpipe, zpipe-purego, zmqproxy or all)", envBrokers, value, kind)
		}
		if !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
	}
	return kinds, nil
}

// StartBroker starts a broker of the given kind on free ports and stops it
// when the test ends; its output goes to the test log if the test failed.
func StartBroker(t *testing.T, kind brokerproc.Kind) *brokerproc.Process {
	t.Helper()
	cmd, ok := brokers.commands[kind]
	if !ok {
		t.Fatalf("broker %q is not set up (selected: %v)", kind, brokers.kinds)
	}
	return startBrokerCommand(t, cmd)
}

// startBrokerCommand starts the broker cmd describes, as StartBroker.
func startBrokerCommand(t *testing.T, cmd brokerproc.Command) *brokerproc.Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := brokerproc.Start(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Errorf("stop %s broker: %v", cmd.Kind, err)
		}
		if t.Failed() {
			t.Logf("%s broker output:\n%s", cmd.Kind, b.Output())
		}
	})
	return b
}

// forEachBroker runs test as a parallel subtest for every selected broker,
// each with a broker of its own.
func forEachBroker(t *testing.T, test func(t *testing.T, b *brokerproc.Process)) {
	for _, kind := range brokers.kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			test(t, StartBroker(t, kind))
		})
	}
}

// forEachZpipe runs test as a parallel subtest for every selected zpipe
// broker (one per transport), each with a broker of its own; it fails if
// none is selected.
func forEachZpipe(t *testing.T, test func(t *testing.T, kind brokerproc.Kind)) {
	zpipes := slices.DeleteFunc(slices.Clone(brokers.kinds), func(k brokerproc.Kind) bool { return !k.IsZpipe() })
	if len(zpipes) == 0 {
		t.Fatalf("this test needs a zpipe broker; %s selects %v", envBrokers, brokers.kinds)
	}
	for _, kind := range zpipes {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			test(t, kind)
		})
	}
}

// waitTimeout bounds each wait; generous for a loaded 2-core machine.
const waitTimeout = 20 * time.Second

func waitCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startNode starts a Zeek-like node connected to b and closes it at the
// end of the test.
func startNode(t *testing.T, b *brokerproc.Process, cfg zeektest.Config) *zeektest.Node {
	t.Helper()
	ep := b.Endpoints()
	cfg.BrokerXPub, cfg.BrokerXSub = ep.XPub, ep.XSub
	n, err := zeektest.StartNode(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close node %s: %v", cfg.Name, err)
		}
	})
	return n
}

// metrics scrapes the broker's Prometheus endpoint and sums the series of
// each metric; brokers without one return nil.
func metrics(t *testing.T, b *brokerproc.Process) map[string]float64 {
	t.Helper()
	if b.Endpoints().Metrics == "" {
		return nil
	}
	out := map[string]float64{}
	for name, f := range scrapeFamilies(t, b) {
		for _, m := range f.GetMetric() {
			out[name] += metricValue(m)
		}
	}
	return out
}

// scrapeFamilies scrapes the broker's Prometheus endpoint.
func scrapeFamilies(t *testing.T, b *brokerproc.Process) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + b.Endpoints().Metrics + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s metrics: %v", b.Kind(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s metrics: status %s, %v", b.Kind(), resp.Status, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse %s metrics: %v", b.Kind(), err)
	}
	return families
}

// metricValue is the value of a counter or gauge series.
func metricValue(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	return 0
}

// metricsMatching returns the metrics whose name contains substr, for the
// test log.
func metricsMatching(all map[string]float64, substr string) map[string]float64 {
	out := map[string]float64{}
	for name, v := range all {
		if strings.Contains(name, substr) {
			out[name] = v
		}
	}
	return out
}

// waitMetric waits until the metrics whose names contain substr add up to at
// least min (metrics may be exported with a delay).
func waitMetric(ctx context.Context, t *testing.T, b *brokerproc.Process, substr string, min float64) error {
	t.Helper()
	for {
		found := metricsMatching(metrics(t, b), substr)
		total := 0.0
		for _, v := range found {
			total += v
		}
		if total >= min {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s metrics matching %q add up to %v, want at least %v: %w", b.Kind(), substr, found, min, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
