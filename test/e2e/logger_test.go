package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// loggerProcess is zpipe running pipelines/zeek-logger.hcl.
type loggerProcess struct {
	cmd      *exec.Cmd
	exited   chan error
	output   *bytes.Buffer
	endpoint string
	metrics  string
	dir      string
}

func startLogger(t *testing.T, kind brokerproc.Kind, format string) *loggerProcess {
	t.Helper()
	root, err := zeektest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ports, err := brokerproc.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	l := &loggerProcess{
		exited:   make(chan error, 1),
		output:   &bytes.Buffer{},
		endpoint: "tcp://127.0.0.1:" + strconv.Itoa(ports[0]),
		metrics:  "127.0.0.1:" + strconv.Itoa(ports[1]),
		dir:      t.TempDir(),
	}
	args := []string{"run", "--plugin-dir", brokers.pluginDir, filepath.Join(root, "pipelines", "zeek-logger.hcl"),
		"--var", "listen_log_endpoint=" + l.endpoint, "--var", "metrics_listen=" + l.metrics,
		"--var", "log_dir=" + l.dir, "--var", "log_format=" + format}
	if kind == brokerproc.ZpipePurego {
		args = append(args, "--transport", "purego")
	}
	l.cmd = exec.Command(brokers.zpipeBin, args...)
	l.cmd.Stdout, l.cmd.Stderr = l.output, l.output
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { l.exited <- l.cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("logger output:\n%s", l.output.String())
		}
	})
	return l
}

// stop sends SIGTERM and waits for a clean exit.
func (l *loggerProcess) stop(t *testing.T) {
	t.Helper()
	if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-l.exited:
		if err != nil {
			t.Fatalf("logger did not exit cleanly on SIGTERM: %v\n%s", err, l.output.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("logger did not exit within 30s of SIGTERM")
	}
}

// records waits until the file sink has written n records' batches (by its
// sent counter), so nothing sent is still in flight.
func (l *loggerProcess) waitWritten(t *testing.T, batches int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	key := `zpipe_messages_sent_total{component="sink.file.logs",kind="file",pipeline="zeek-logger"}`
	for {
		m := scrapeURL(t, "http://"+l.metrics+"/metrics")
		if int(m[key]) >= batches {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the file sink wrote %v of %d batches", m[key], batches)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pushSocket(t *testing.T, endpoint string) *zmq.Socket {
	t.Helper()
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = zctx.Term() })
	s, err := zctx.NewSocket(zmq.PUSH)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(endpoint); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLoggerWritesZeeksFiles: Zeek's captured log batches, pushed by two
// libzmq nodes, end up in files equal to what Zeek's own logger wrote
// (#open/#close aside), in TSV and JSON, on both transports; SIGTERM
// closes them properly.
func TestLoggerWritesZeeksFiles(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		for _, format := range []string{"tsv", "json"} {
			t.Run(format, func(t *testing.T) {
				l := startLogger(t, kind, format)
				a, b := pushSocket(t, l.endpoint), pushSocket(t, l.endpoint)
				send := func(s *zmq.Socket, name string) {
					frames, err := zeektest.LoadVector(name)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := s.SendMessage(frames); err != nil {
						t.Fatal(err)
					}
				}
				// Order within a path matters (rows appear in arrival
				// order), so each path comes from one node.
				send(a, "zeek-log-test.hex")
				send(b, "zeek-log-conn-7rec.hex")
				send(b, "zeek-log-conn-1rec-a.hex")
				send(b, "zeek-log-conn-1rec-b.hex")
				send(a, "zeek-log-dns-8rec.hex")
				l.waitWritten(t, 5)
				l.stop(t)
				for name, want := range map[string]string{
					"test.log": "shared-batches-only/" + format + "/test.log",
					"conn.log": "shared-batches-only/" + format + "/conn.log",
					"dns.log":  format + "/dns.log",
				} {
					got, err := os.ReadFile(filepath.Join(l.dir, name))
					if err != nil {
						t.Fatal(err)
					}
					dir, _ := zeektest.VectorsDir()
					exp, err := os.ReadFile(filepath.Join(dir, "expected", want))
					if err != nil {
						t.Fatal(err)
					}
					if withoutStampLines(string(got)) != withoutStampLines(string(exp)) {
						t.Errorf("%s differs from Zeek's %s:\n--- zpipe\n%s\n--- zeek\n%s", name, want, got, exp)
					}
					if format == "tsv" && !strings.Contains(string(got), "\n#close\t") {
						t.Errorf("%s was not closed (no #close line)", name)
					}
				}
			})
		}
	})
}

func withoutStampLines(s string) string {
	var out []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "#open\t") && !strings.HasPrefix(l, "#close\t") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// TestLoggerKill9: the logger is killed with SIGKILL while batches
// stream in; every line of its files is whole and parseable.
func TestLoggerKill9(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		for _, format := range []string{"tsv", "json"} {
			t.Run(format, func(t *testing.T) {
				l := startLogger(t, kind, format)
				push := pushSocket(t, l.endpoint)
				frames, err := zeektest.LoadVector("zeek-log-conn-7rec.hex")
				if err != nil {
					t.Fatal(err)
				}
				// Stream batches until told to stop, so the kill lands
				// while the logger is busy writing.
				stop, sent := make(chan struct{}), make(chan int, 1)
				stopOnce := sync.OnceFunc(func() { close(stop) })
				// The sender ends before the socket's cleanup closes it.
				t.Cleanup(func() { stopOnce(); <-sent })
				go func() {
					n := 0
					defer func() { sent <- n }()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := push.SendMessageDontwait(frames); err == nil {
							n++
						} else {
							time.Sleep(time.Millisecond)
						}
					}
				}()
				l.waitWritten(t, 50)
				if err := syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				<-l.exited
				stopOnce()
				data, err := os.ReadFile(filepath.Join(l.dir, "conn.log"))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasSuffix(data, []byte("\n")) {
					t.Fatalf("conn.log ends inside a line: %q", data[max(0, len(data)-80):])
				}
				lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
				fields := 0
				rows := 0
				for i, line := range lines {
					switch {
					case format == "json":
						var obj map[string]any
						if err := json.Unmarshal([]byte(line), &obj); err != nil {
							t.Fatalf("line %d is not JSON: %q", i+1, line)
						}
						rows++
					case strings.HasPrefix(line, "#fields\t"):
						fields = strings.Count(line, "\t")
					case strings.HasPrefix(line, "#"):
					default:
						if n := strings.Count(line, "\t") + 1; n != fields {
							t.Fatalf("line %d has %d fields, the header %d: %q", i+1, n, fields, line)
						}
						rows++
					}
				}
				if rows == 0 || rows%7 != 0 {
					t.Fatalf("%d rows: not whole 7-record batches", rows)
				}
				t.Logf("%s: %d rows survived the kill", format, rows)
			})
		}
	})
}

// TestLoggerSIGTERMLosesNothing: every batch the logger had received when
// SIGTERM came is in the file when it exits.
func TestLoggerSIGTERMLosesNothing(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		l := startLogger(t, kind, "tsv")
		push := pushSocket(t, l.endpoint)
		frames, err := zeektest.LoadVector("zeek-log-conn-7rec.hex")
		if err != nil {
			t.Fatal(err)
		}
		const n = 500
		for range n {
			if _, err := push.SendMessage(frames); err != nil {
				t.Fatal(err)
			}
		}
		// Wait until the PULL source has them all, not until they are
		// written: the stop must drain what is in flight.
		key := `zpipe_messages_received_total{component="source.pull.nodes",kind="pull",pipeline="zeek-logger"}`
		deadline := time.Now().Add(waitTimeout)
		for {
			_, _ = push.GetEvents()
			if m := scrapeURL(t, "http://"+l.metrics+"/metrics"); m[key] >= n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the logger did not receive %d batches", n)
			}
			time.Sleep(2 * time.Millisecond)
		}
		l.stop(t)
		data, err := os.ReadFile(filepath.Join(l.dir, "conn.log"))
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		for _, line := range strings.Split(string(data), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				rows++
			}
		}
		if rows != 7*n || !strings.Contains(string(data), "\n#close\t") {
			t.Fatalf("conn.log holds %d rows of %d (closed: %v)", rows, 7*n, strings.Contains(string(data), "#close"))
		}
	})
}
