package plugin

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/syncbuf"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/plugin/internal/slogbridge"
	"github.com/zpipe/zpipe/core/transport"
)

// testPluginPath is the test transport binary, built once by TestMain.
var testPluginPath string

// hostModeEnv makes the test binary act as a tiny zpipe: it starts the
// plugin named by the variable, prints the plugin's pid and waits.
const hostModeEnv = "ZPIPE_PLUGIN_TEST_HOST"

func TestMain(m *testing.M) {
	if p := os.Getenv(hostModeEnv); p != "" {
		os.Exit(runHostMode(p))
	}
	dir, err := os.MkdirTemp("", "zpipe-plugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make temp dir:", err)
		os.Exit(1)
	}
	testPluginPath = filepath.Join(dir, BinaryName("transport", "test"))
	build := exec.Command("go", "build", "-o", testPluginPath, "./internal/testtransport")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test transport: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// runHostMode starts the plugin, prints "pid N" and waits for stdin to close.
func runHostMode(path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := StartTransport(ctx, HostConfig{Path: path, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = h.Shutdown() }()
	fmt.Printf("pid %d\n", h.PID())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// testLogger returns a logger that keeps everything and shows it when the
// test fails.
func testLogger(t *testing.T) (*slog.Logger, *syncbuf.Buffer) {
	t.Helper()
	buf := &syncbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("host log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slogbridge.LevelTrace})), buf
}

// noteTestTransportSources reads the test transport's sources so that go
// test's result cache notices when they change: TestMain builds the plugin
// in another process, before the cache starts recording.
func noteTestTransportSources() {
	srcs, _ := filepath.Glob("internal/testtransport/*.go")
	for _, f := range srcs {
		_, _ = os.ReadFile(f)
	}
}

// startHost starts the test transport; the host is shut down at the end of
// the test.
func startHost(t *testing.T, cfg HostConfig) *TransportHost {
	t.Helper()
	noteTestTransportSources()
	if cfg.Path == "" {
		cfg.Path = testPluginPath
	}
	if cfg.Logger == nil {
		cfg.Logger, _ = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := StartTransport(ctx, cfg)
	if err != nil {
		t.Fatalf("StartTransport: %v", err)
	}
	t.Cleanup(func() { _ = h.Shutdown() })
	return h
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openSocket(t *testing.T, ctx context.Context, h *TransportHost, id, kind, config string) {
	t.Helper()
	if err := h.Open(ctx, transport.SocketSpec{ID: id, Kind: kind, Config: []byte(config)}); err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
}

// appendSeqMessage appends message number seq: 1 to 5 frames, the first
// holding seq, some of the others empty.
func appendSeqMessage(b *message.Batch, seq int) {
	frames := make([][]byte, seq%5+1)
	frames[0] = binary.BigEndian.AppendUint64(nil, uint64(seq))
	for i := 1; i < len(frames); i++ {
		if (seq+i)%3 == 0 {
			frames[i] = []byte{}
			continue
		}
		frames[i] = bytes.Repeat([]byte{byte(seq + i)}, (seq*7+i)%40)
	}
	b.Append(frames...)
}

// checkSeqMessage verifies that the message at it is message number seq.
func checkSeqMessage(it *message.Iter, seq int) error {
	var want message.Batch
	appendSeqMessage(&want, seq)
	wit := want.Iter()
	wit.Next()
	if it.NumFrames() != wit.NumFrames() {
		return fmt.Errorf("message %d: %d frames, want %d (first frame %x)", seq, it.NumFrames(), wit.NumFrames(), it.Frame(0))
	}
	for i := 0; i < wit.NumFrames(); i++ {
		if !bytes.Equal(it.Frame(i), wit.Frame(i)) {
			return fmt.Errorf("message %d: frame %d is %x, want %x", seq, i, it.Frame(i), wit.Frame(i))
		}
	}
	return nil
}

// stringBatch builds a batch of single-frame messages.
func stringBatch(msgs ...string) *message.Batch {
	var b message.Batch
	for _, m := range msgs {
		b.Append([]byte(m))
	}
	return &b
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func socketIDs(st *transport.Stats) string {
	ids := make([]string, 0, len(st.Sockets))
	for _, s := range st.Sockets {
		ids = append(ids, s.ID)
	}
	return strings.Join(ids, ",")
}

func socketStats(st *transport.Stats, id string) (transport.SocketStats, bool) {
	for _, s := range st.Sockets {
		if s.ID == id {
			return s, true
		}
	}
	return transport.SocketStats{}, false
}

// ackTotals adds up the outcomes a Sender reports.
type ackTotals struct {
	mu      sync.Mutex
	acks    int
	sent    int
	dropped map[string]int
}

func (a *ackTotals) onAck(r transport.SendResult) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acks++
	a.sent += r.Sent
	if r.Dropped > 0 {
		if a.dropped == nil {
			a.dropped = make(map[string]int)
		}
		a.dropped[r.DropReason] += r.Dropped
	}
}

func (a *ackTotals) get() (acks, sent int, dropped map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := make(map[string]int, len(a.dropped))
	for k, v := range a.dropped {
		d[k] = v
	}
	return a.acks, a.sent, d
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
