package zpipeproc

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/bench/internal/benchtest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// TestRun runs the logger pipeline: Start returns with zpipe serving its
// metrics, CPU time is zpipe's by program, Stop ends it cleanly,
// and its output reaches Log.
func TestRun(t *testing.T) {
	bin, pluginDir := benchtest.Zpipe(t)
	ports, err := brokerproc.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	metrics := "127.0.0.1:" + strconv.Itoa(ports[1])
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := Start(ctx, Config{
		Bin:       bin,
		PluginDir: pluginDir,
		Pipeline:  benchtest.Pipeline(t, "zeek-logger.hcl"),
		Args: []string{
			"--var", "listen_log_endpoint=tcp://127.0.0.1:" + strconv.Itoa(ports[0]),
			"--var", "log_dir=" + t.TempDir(),
			"--var", "metrics_listen=" + metrics,
		},
		Metrics: metrics,
		Log:     &log, // written by one goroutine: stdout and stderr are the same writer
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Alive(); err != nil {
		t.Fatal(err)
	}
	if p.MetricsURL() != "http://"+metrics+"/metrics" {
		t.Errorf("metrics URL %q", p.MetricsURL())
	}
	cpu, err := p.CPU()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cpu["zpipe"]; !ok {
		t.Errorf("no CPU time of zpipe in %v", cpu)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if p.Alive() == nil {
		t.Error("zpipe alive after Stop")
	}
	if p.Output() == "" || !strings.Contains(log.String(), p.Output()) {
		t.Errorf("output %q, log %q", p.Output(), log.String())
	}
}

// TestNotReady: a zpipe that exits at once, or has no metrics endpoint to
// wait for, is an error of Start.
func TestNotReady(t *testing.T) {
	bin, pluginDir := benchtest.Zpipe(t)
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "missing.hcl")
	_, err := Start(ctx, Config{Bin: bin, PluginDir: pluginDir, Pipeline: missing, Metrics: "127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "zpipe exited") || !strings.Contains(err.Error(), "missing.hcl") {
		t.Errorf("a pipeline file that is not there: %v", err)
	}
	if _, err := Start(ctx, Config{Bin: bin, PluginDir: pluginDir, Pipeline: missing}); err == nil {
		t.Error("no metrics endpoint: no error")
	}
}
