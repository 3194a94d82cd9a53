package e2e

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// make stress runs the overload and fault scenarios of this suite at full
// size, one at a time, and prints one table of what they measured. The
// same tests run smaller in make test; their figures are logged either
// way.
const (
	// envStress, set to 1, makes the scenarios full size.
	envStress = "ZPIPE_STRESS"
	// envStressReport names the file the table of figures is written to
	// when the suite ends.
	envStressReport = "ZPIPE_STRESS_REPORT"
)

// stressMode reports whether the scenarios run at full size.
func stressMode() bool { return os.Getenv(envStress) == "1" }

// stressSize returns normal in make test and full in make stress.
func stressSize[T any](normal, full T) T {
	if stressMode() {
		return full
	}
	return normal
}

// figure is one measurement of a scenario against its target.
type figure struct {
	scenario, transport, name, value, target string
	met                                      bool
}

// figureTable collects the figures of a run; scenarios run in parallel.
type figureTable struct {
	mu   sync.Mutex
	rows []figure
}

// figures is what this run measured, written out by TestMain.
var figures figureTable

// recordFigure logs a figure of a scenario run against broker kind and
// keeps it for the table. It does not fail the test: the scenario's own
// assertions do.
func recordFigure(t *testing.T, scenario string, kind brokerproc.Kind, name, value, target string, met bool) {
	t.Helper()
	f := figure{scenario: scenario, transport: transportName(kind), name: name, value: value, target: target, met: met}
	t.Logf("figure: %s, %s: %s = %s (target %s, met: %v)", f.scenario, f.transport, f.name, f.value, f.target, f.met)
	figures.mu.Lock()
	defer figures.mu.Unlock()
	figures.rows = append(figures.rows, f)
}

// transportName names the transport a zpipe broker kind runs on.
func transportName(kind brokerproc.Kind) string {
	switch kind {
	case brokerproc.Zpipe:
		return "cgo"
	case brokerproc.ZpipePurego:
		return "purego"
	}
	return string(kind)
}

// write prints the figures as a Markdown table, in the order they were
// recorded.
func (ft *figureTable) write(w io.Writer) error {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var b strings.Builder
	b.WriteString("| scenario | transport | figure | value | target | met |\n|---|---|---|---|---|---|\n")
	for _, f := range ft.rows {
		met := "yes"
		if !f.met {
			met = "**no**"
		}
		cells := []string{f.scenario, f.transport, f.name, f.value, f.target, met}
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeFigures writes the table to the file $ZPIPE_STRESS_REPORT names,
// if it names one.
func writeFigures() error {
	path := os.Getenv(envStressReport)
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("stress report: %w", err)
	}
	if err := figures.write(f); err != nil {
		f.Close()
		return fmt.Errorf("stress report %s: %w", path, err)
	}
	return f.Close()
}

// mib formats a byte count in MiB.
func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// percent formats part of whole as a percentage.
func percent(part, whole float64) string {
	if whole == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f %%", 100*part/whole)
}

// rssWatch samples the resident memory of a process and its children
// (zpipe and its plugins) every 50 ms until stopped.
type rssWatch struct {
	stop chan struct{}
	done chan int64 // the highest sum seen, once stopped
	peak int64
}

// watchRSS starts sampling pid's process tree; Peak stops it. A test
// that does not call Peak has it stopped when it ends.
func watchRSS(t *testing.T, pid int) *rssWatch {
	w := &rssWatch{stop: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		var peak int64
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if procs, err := processTreeRSS(pid); err == nil {
				var sum int64
				for _, p := range procs {
					sum += p.bytes
				}
				peak = max(peak, sum)
			}
			select {
			case <-w.stop:
				w.done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { w.Peak() })
	return w
}

// Peak stops the sampling and returns the highest reading, in bytes.
func (w *rssWatch) Peak() int64 {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		w.peak = <-w.done
	}
	return w.peak
}
