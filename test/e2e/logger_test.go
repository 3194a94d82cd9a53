package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/core/value/valuetest"
	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// loggerProcess is zpipe running pipelines/zeek-logger.hcl.
type loggerProcess struct {
	*zpipeProcess
	endpoint string
	metrics  string
	dir      string
}

func startLogger(t *testing.T, kind brokerproc.Kind, format string) *loggerProcess {
	t.Helper()
	return startLoggerIn(t, kind, format, t.TempDir())
}

// startLoggerIn starts a logger writing into dir.
func startLoggerIn(t *testing.T, kind brokerproc.Kind, format, dir string) *loggerProcess {
	t.Helper()
	ports, err := brokerproc.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	l := &loggerProcess{
		endpoint: "tcp://127.0.0.1:" + strconv.Itoa(ports[0]),
		metrics:  "127.0.0.1:" + strconv.Itoa(ports[1]),
		dir:      dir,
	}
	l.zpipeProcess = runPipeline(t, kind, "zeek-logger.hcl", "listen_log_endpoint="+l.endpoint,
		"metrics_listen="+l.metrics, "log_dir="+l.dir, "log_format="+format)
	return l
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
					"test.log": "captured-batches-only/" + format + "/test.log",
					"conn.log": "captured-batches-only/" + format + "/conn.log",
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
// stream in; every line of its file is whole and parseable, but for part
// of a batch at its end when the kill landed inside a write; a new logger
// on the same directory cuts that off and moves the file aside, and then
// every file is whole.
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
				// Linux may stop a write of several pages between two
				// when the process is killed: the file can end in part
				// of a batch, which the next logger cuts off (below).
				whole := data[:bytes.LastIndexByte(data, '\n')+1]
				torn := len(data) - len(whole)
				rows := checkConnRows(t, whole, format)
				switch {
				case torn > 0:
					t.Logf("the kill landed inside a write: %d bytes of a partial line", torn)
				case rows == 0 || rows%7 != 0:
					t.Fatalf("%d rows: not whole 7-record batches", rows)
				}
				t.Logf("%s: %d rows survived the kill", format, rows)

				// A new logger on the same directory moves the file aside,
				// cut to its last whole line, and starts a new one.
				l2 := startLoggerIn(t, kind, format, l.dir)
				push2 := pushSocket(t, l2.endpoint)
				if _, err := push2.SendMessage(frames); err != nil {
					t.Fatal(err)
				}
				l2.waitWritten(t, 1)
				l2.stop(t)
				total := 0
				entries, err := os.ReadDir(l.dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					data, err := os.ReadFile(filepath.Join(l.dir, e.Name()))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasSuffix(data, []byte("\n")) {
						t.Fatalf("%s ends inside a line after the restart: %q", e.Name(), data[max(0, len(data)-80):])
					}
					total += checkConnRows(t, data, format)
				}
				if total != rows+7 {
					t.Fatalf("%d rows in %d files after the restart, want %d", total, len(entries), rows+7)
				}
			})
		}
	})
}

// checkConnRows checks that data holds whole lines of conn records (TSV
// with its header, or JSON objects) and returns how many.
func checkConnRows(t *testing.T, data []byte, format string) int {
	t.Helper()
	if len(data) == 0 {
		return 0
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
	return rows
}

// TestLoggerSIGTERMLosesNothing: every batch the logger had received when
// SIGTERM came is in the file when it exits, whether the signal reached
// zpipe alone or its whole process group, plugins included (Ctrl-C at a
// terminal, systemctl stop): the plugins leave the stop to zpipe.
func TestLoggerSIGTERMLosesNothing(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		for _, group := range []bool{false, true} {
			t.Run(map[bool]string{false: "zpipe", true: "group"}[group], func(t *testing.T) {
				testSIGTERMLosesNothing(t, kind, group)
			})
		}
	})
}

func testSIGTERMLosesNothing(t *testing.T, kind brokerproc.Kind, group bool) {
	{
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
		if group {
			if err := syscall.Kill(-l.cmd.Process.Pid, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			l.waitExit(t)
		} else {
			l.stop(t)
		}
		if out := l.output.String(); strings.Contains(out, "plugin process exited") {
			t.Fatalf("a plugin exited during the stop:\n%s", out)
		}
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
	}
}

// TestRecordAndReplay: a logger writing raw files records Zeek's batches;
// pipelines/zeek-replay.hcl pushes the recording to a second logger, which
// writes files equal to Zeek's; the replay exits by itself at the end of
// the file.
func TestRecordAndReplay(t *testing.T) {
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		recorder := startLogger(t, kind, "raw")
		push := pushSocket(t, recorder.endpoint)
		vectors := []string{"zeek-log-test.hex", "zeek-log-conn-7rec.hex", "zeek-log-conn-1rec-a.hex", "zeek-log-conn-1rec-b.hex", "zeek-log-dns-8rec.hex"}
		for _, name := range vectors {
			frames, err := zeektest.LoadVector(name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := push.SendMessage(frames); err != nil {
				t.Fatal(err)
			}
		}
		recorder.waitWritten(t, len(vectors))
		recorder.stop(t)
		recording := filepath.Join(recorder.dir, "logs.zpmsg")

		logger := startLogger(t, kind, "tsv")
		replay := runPipeline(t, kind, "zeek-replay.hcl", "file="+recording, "connect_log_endpoint="+logger.endpoint)
		select {
		case err := <-replay.exited:
			if err != nil {
				t.Fatalf("replay: %v\n%s", err, replay.output.String())
			}
		case <-time.After(waitTimeout):
			t.Fatalf("the replay did not exit at the end of its file:\n%s", replay.output.String())
		}
		if out := replay.output.String(); !strings.Contains(out, "replay finished") || !strings.Contains(out, "messages=5") {
			t.Fatalf("replay output does not report 5 messages replayed:\n%s", out)
		}
		logger.waitWritten(t, len(vectors))
		logger.stop(t)
		dir, _ := zeektest.VectorsDir()
		for name, want := range map[string]string{
			"test.log": "captured-batches-only/tsv/test.log",
			"conn.log": "captured-batches-only/tsv/conn.log",
			"dns.log":  "tsv/dns.log",
		} {
			got, err := os.ReadFile(filepath.Join(logger.dir, name))
			if err != nil {
				t.Fatal(err)
			}
			exp, err := os.ReadFile(filepath.Join(dir, "expected", want))
			if err != nil {
				t.Fatal(err)
			}
			if withoutStampLines(string(got)) != withoutStampLines(string(exp)) {
				t.Errorf("%s after replay differs from Zeek's %s:\n--- zpipe\n%s\n--- zeek\n%s", name, want, got, exp)
			}
		}
	})
}

// generatedBatches returns log batches for two paths with a column of
// every loggable type (sets and vectors of every element type), some
// unset, with random values.
func generatedBatches() []*value.LogBatch {
	g := valuetest.New(42)
	g.Seconds = true
	scalars := []value.TypeTag{
		value.TypeBool, value.TypeInt, value.TypeCount, value.TypeDouble, value.TypeTime,
		value.TypeInterval, value.TypeString, value.TypeEnum, value.TypePort, value.TypeAddr,
		value.TypeSubnet,
	}
	var fields []value.Field
	for _, tag := range scalars {
		fields = append(fields, value.Field{Name: "c_" + tag.String(), Type: value.Type{Tag: tag}, Optional: true})
	}
	for _, c := range []value.TypeTag{value.TypeTable, value.TypeVector} {
		for _, tag := range scalars {
			fields = append(fields, value.Field{Name: "c_" + c.String() + "_" + tag.String(), Type: value.Type{Tag: c, Sub: tag}, Optional: true})
		}
	}
	var out []*value.LogBatch
	for i := range 6 {
		b := &value.LogBatch{Stream: "Gen::LOG", Writer: "Log::WRITER_ASCII", Filter: "default", Path: []string{"gen_a", "gen_b"}[i%2], Fields: fields}
		for range 25 {
			row := make([]value.Value, len(fields))
			for j, f := range fields {
				if g.R.IntN(8) != 0 { // about one in eight unset
					row[j] = g.Column(f.Type)
				}
			}
			b.Records = append(b.Records, row)
		}
		out = append(out, b)
	}
	return out
}

// TestLoggerGeneratedRecords: batches of every loggable type, encoded in
// zeek-bin-serializer and pushed by a libzmq node, come out of the logger
// as zpipe's own Zeek renderers write them in-process (header included),
// in TSV and JSON, through the codec plugin and the file sink.
func TestLoggerGeneratedRecords(t *testing.T) {
	batches := generatedBatches()
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		for _, format := range []string{"tsv", "json"} {
			t.Run(format, func(t *testing.T) {
				l := startLogger(t, kind, format)
				push := pushSocket(t, l.endpoint)
				want := map[string][]byte{}
				for _, b := range batches {
					payload, err := zeeklog.Append(nil, b)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := push.SendMessageDontwait([]byte("zeek.logging."+b.Path), []byte("zeek_node_gen"), []byte("zeek-bin-serializer"), payload); err != nil {
						t.Fatal(err)
					}
					file := b.Path + ".log"
					if format == "tsv" {
						if want[file] == nil {
							want[file] = zeekascii.AppendHeader(nil, b, time.Now())
						}
						if want[file], err = zeekascii.AppendRecords(want[file], b); err != nil {
							t.Fatal(err)
						}
					} else {
						want[file] = jsonl.AppendLog(want[file], b, jsonl.LogOptions{})
					}
				}
				l.waitWritten(t, len(batches))
				l.stop(t)
				for file, exp := range want {
					got, err := os.ReadFile(filepath.Join(l.dir, file))
					if err != nil {
						t.Fatal(err)
					}
					if withoutStampLines(string(got)) != withoutStampLines(string(exp)) {
						t.Errorf("%s differs from the in-process rendering:\n--- logger\n%s\n--- in-process\n%s", file, got, exp)
					}
				}
			})
		}
	})
}

// TestStatusLine: zpipe run logs a status line per pipeline at
// --status-interval with what came in, went out and was dropped.
func TestStatusLine(t *testing.T) {
	ports, err := brokerproc.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "tcp://127.0.0.1:" + strconv.Itoa(ports[0])
	p := runPipeline(t, brokerproc.Zpipe, "zeek-logger.hcl", "listen_log_endpoint="+endpoint,
		"metrics_listen=127.0.0.1:"+strconv.Itoa(ports[1]), "log_dir="+t.TempDir(), "--status-interval=100ms")
	p.waitOutput(t, "msg=status pipeline=zeek-logger")
	push := pushSocket(t, endpoint)
	frames, err := zeektest.LoadVector("zeek-log-conn-7rec.hex")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := push.SendMessage(frames); err != nil {
			t.Fatal(err)
		}
	}
	p.waitOutput(t, "in=5 out=5 dropped=0")
	p.stop(t)
}
