package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/logfile"
	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// sinkKey is the series of a zeek-logger.hcl file sink counter, with extra
// labels (sorted, as scrapeURL renders them) before kind.
func sinkKey(metric, labels string) string {
	return metric + `{component="sink.file.logs",` + labels + `kind="file",pipeline="zeek-logger"}`
}

// logWrite returns the log-write message of the batch of the vector name,
// its path changed to path.
func logWrite(t *testing.T, name, path string) [][]byte {
	t.Helper()
	frames, err := zeektest.LoadVector(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := zeeklog.Decode(frames[3])
	if err != nil {
		t.Fatal(err)
	}
	b.Path = path
	payload, err := zeeklog.Append(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{[]byte("zeek.logging." + path), frames[1], frames[2], payload}
}

func send(t *testing.T, s *zmq.Socket, msg [][]byte) {
	t.Helper()
	if _, err := s.SendMessage(msg); err != nil {
		t.Fatal(err)
	}
}

// countFDs returns how many descriptors process pid has open.
func countFDs(pid int) (int, error) {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(entries), err
}

// waitHandled waits until the file sink has written or dropped n
// messages and returns the metrics.
func (l *loggerProcess) waitHandled(t *testing.T, n int, within time.Duration) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		m := scrapeURL(t, "http://"+l.metrics+"/metrics")
		handled := m[sinkKey("zpipe_messages_sent_total", "")]
		for k, v := range m {
			if strings.HasPrefix(k, `zpipe_messages_dropped_total{component="sink.file.logs",`) {
				handled += v
			}
		}
		if int(handled) >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("the file sink wrote or dropped %v of %d messages", handled, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metricsWatch scrapes /metrics over a new connection each time and
// counts zpipe's descriptors, until stopped.
type metricsWatch struct {
	stop func()
	done chan struct{}

	mu       sync.Mutex
	scrapes  int
	failures []string
	maxFDs   int
}

func watchLogger(t *testing.T, l *loggerProcess) *metricsWatch {
	t.Helper()
	stopped := make(chan struct{})
	w := &metricsWatch{stop: sync.OnceFunc(func() { close(stopped) }), done: make(chan struct{})}
	t.Cleanup(w.end)
	// A new connection for every scrape, as after a restart of the
	// scraper: each needs a descriptor in zpipe. A scrape under way when
	// the watch is stopped still counts.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	pid := l.cmd.Process.Pid
	go func() {
		defer close(w.done)
		for {
			n, fdErr := countFDs(pid)
			err := scrapeOnce(client, "http://"+l.metrics+"/metrics")
			w.mu.Lock()
			if fdErr == nil {
				w.maxFDs = max(w.maxFDs, n)
			}
			w.scrapes++
			if err != nil {
				w.failures = append(w.failures, err.Error())
			}
			w.mu.Unlock()
			select {
			case <-stopped:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

func scrapeOnce(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("zpipe_messages_received_total")) {
		return fmt.Errorf("status %s, %d bytes", resp.Status, len(body))
	}
	return nil
}

// end stops the watch and waits for it.
func (w *metricsWatch) end() {
	w.stop()
	<-w.done
}

// TestLoggerManyPaths: a peer sends batches for 21,000 distinct log paths,
// more than the descriptor limit of many a system. zpipe's descriptors
// stay within the bound of open log files, /metrics answers new
// connections throughout, the paths beyond max_paths are dropped and
// counted (too_many_paths), the first max_paths are written, and a normal
// log sent in between is written whole.
func TestLoggerManyPaths(t *testing.T) {
	const paths, connEvery = 21000, 1000
	l := startLogger(t, brokerproc.Zpipe, "tsv")
	push := pushSocket(t, l.endpoint)
	conn, err := zeektest.LoadVector("zeek-log-conn-7rec.hex")
	if err != nil {
		t.Fatal(err)
	}
	send(t, push, conn)
	l.waitWritten(t, 1)
	base, err := countFDs(l.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	watch := watchLogger(t, l)

	frames, err := zeektest.LoadVector("zeek-log-test.hex")
	if err != nil {
		t.Fatal(err)
	}
	test, err := zeeklog.Decode(frames[3])
	if err != nil {
		t.Fatal(err)
	}
	conns := 1
	for i := range paths {
		test.Path = fmt.Sprintf("flood%05d", i)
		payload, err := zeeklog.Append(nil, test)
		if err != nil {
			t.Fatal(err)
		}
		send(t, push, [][]byte{[]byte("zeek.logging." + test.Path), frames[1], frames[2], payload})
		if i%connEvery == connEvery-1 {
			send(t, push, conn)
			conns++
		}
	}
	m := l.waitHandled(t, paths+conns, 3*time.Minute)
	// The endpoint must still take new connections after the flood.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := scrapeOnce(client, "http://"+l.metrics+"/metrics"); err != nil {
		t.Errorf("/metrics after the flood: %v", err)
	}
	watch.end()

	watch.mu.Lock()
	scrapes, failures, maxFDs := watch.scrapes, watch.failures, watch.maxFDs
	watch.mu.Unlock()
	t.Logf("descriptors: %d before the flood, at most %d during it; %d scrapes", base, maxFDs, scrapes)
	if len(failures) > 0 {
		t.Errorf("%d of %d scrapes of /metrics failed during the flood, the first: %s", len(failures), scrapes, failures[0])
	}
	if scrapes == 0 {
		t.Error("no scrape of /metrics ended during the flood")
	}
	const slack = 32 // a scrape's connection, a rotation's directory, the runtime
	const scenario = "21,000 log paths"
	recordFigure(t, scenario, brokerproc.Zpipe, "open descriptors at most", fmt.Sprintf("%d (%d before)", maxFDs, base),
		fmt.Sprintf("≤ %d", base+logfile.DefaultMaxOpenFiles+slack), maxFDs <= base+logfile.DefaultMaxOpenFiles+slack)
	recordFigure(t, scenario, brokerproc.Zpipe, "/metrics scrapes failed", fmt.Sprintf("%d of %d", len(failures), scrapes), "0", len(failures) == 0 && scrapes > 0)
	if maxFDs > base+logfile.DefaultMaxOpenFiles+slack {
		t.Errorf("zpipe held %d descriptors during the flood, %d before: more than the %d log files allowed open", maxFDs, base, logfile.DefaultMaxOpenFiles)
	}
	// conn holds one slot, the flood the others.
	written := logfile.DefaultMaxPaths - 1
	tooMany := m[sinkKey("zpipe_messages_dropped_total", `error_type="too_many_paths",`)]
	recordFigure(t, scenario, brokerproc.Zpipe, "batches beyond max_paths counted (too_many_paths)", fmt.Sprintf("%.0f", tooMany),
		fmt.Sprint(paths-written), tooMany == float64(paths-written))
	if got, want := tooMany, float64(paths-written); got != want {
		t.Errorf("too_many_paths drops %v, want %v", got, want)
	}
	if got, want := m[sinkKey("zpipe_messages_sent_total", "")], float64(written+conns); got != want {
		t.Errorf("batches written %v, want %v", got, want)
	}

	l.stop(t)
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != written+1 {
		t.Errorf("%d files, want %d", len(entries), written+1)
	}
	if data := readLog(t, filepath.Join(l.dir, "conn.log")); checkConnRows(t, data, "tsv") != 7*conns || !bytes.Contains(data, []byte("\n#close\t")) {
		t.Errorf("conn.log does not hold the %d rows sent, closed:\n%s", 7*conns, data)
	}
	for _, name := range []string{"flood00000.log", fmt.Sprintf("flood%05d.log", written-1)} {
		if data := readLog(t, filepath.Join(l.dir, name)); !bytes.Contains(data, []byte("\n#close\t")) {
			t.Errorf("%s was not closed:\n%s", name, data)
		}
	}
	if n := strings.Count(l.output.String(), "too many log paths"); n == 0 || n > 100 {
		t.Errorf("the dropped paths were logged %d times, want a few (rate-limited)", n)
	}
}

func readLog(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestLoggerArchiveName: after a schema change rotated conn.log, batches
// whose paths are the rotated file's name less ".log" (and the name a
// second rotation in the same second would take) are dropped and counted
// (invalid_path); the rotated file stays as it was and conn.log goes on.
func TestLoggerArchiveName(t *testing.T) {
	l := startLogger(t, brokerproc.Zpipe, "tsv")
	push := pushSocket(t, l.endpoint)
	send(t, push, logWrite(t, "zeek-log-conn-7rec.hex", "conn"))
	send(t, push, logWrite(t, "zeek-log-test.hex", "conn")) // other fields: conn.log rotates
	l.waitWritten(t, 2)
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	var archive string
	for _, e := range entries {
		if e.Name() != "conn.log" {
			archive = e.Name()
		}
	}
	if len(entries) != 2 || !strings.HasPrefix(archive, "conn.") {
		t.Fatalf("files %v: want conn.log and its rotated file", entries)
	}
	before := readLog(t, filepath.Join(l.dir, archive))
	base := strings.TrimSuffix(archive, ".log")
	send(t, push, logWrite(t, "zeek-log-conn-7rec.hex", base))
	send(t, push, logWrite(t, "zeek-log-conn-7rec.hex", base+"-1"))
	send(t, push, logWrite(t, "zeek-log-test.hex", "conn"))
	m := l.waitHandled(t, 5, waitTimeout)
	if got := m[sinkKey("zpipe_messages_dropped_total", `error_type="invalid_path",`)]; got != 2 {
		t.Errorf("invalid_path drops %v, want 2", got)
	}
	if got := m[sinkKey("zpipe_messages_sent_total", "")]; got != 3 {
		t.Errorf("batches written %v, want 3", got)
	}
	l.stop(t)
	if after := readLog(t, filepath.Join(l.dir, archive)); !bytes.Equal(after, before) {
		t.Errorf("%s changed:\n%s", archive, after)
	}
	if entries, err := os.ReadDir(l.dir); err != nil || len(entries) != 2 {
		t.Errorf("files %v (%v): want conn.log and %s", entries, err, archive)
	}
	if n := len(strings.Split(strings.TrimSpace(string(readLog(t, filepath.Join(l.dir, "conn.log")))), "\n")); n != 8+4+1 {
		t.Errorf("conn.log has %d lines, want a header, 4 records and #close", n)
	}
}
