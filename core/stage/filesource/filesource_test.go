package filesource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/msgfile"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
)

// writeFile writes msgs as a message file, as the raw file sink does, and
// appends tail (to cut it short or corrupt it).
func writeFile(t *testing.T, msgs [][][]byte, tail []byte) string {
	t.Helper()
	var b message.Batch
	for _, m := range msgs {
		b.Append(m...)
	}
	data := msgfile.AppendBatch([]byte(msgfile.Magic), &b)
	path := filepath.Join(t.TempDir(), "rec.zpmsg")
	if err := os.WriteFile(path, append(data, tail...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func messages(n int) [][][]byte {
	var out [][][]byte
	for i := range n {
		out = append(out, stagetest.Msg(fmt.Sprint("topic.", i), "sender", "fmt", strings.Repeat("x", i%300)))
	}
	out = append(out, [][]byte{{}, {0, 1, 2}}) // an empty frame and binary bytes
	return out
}

func run(t *testing.T, config string, out stage.Inlet) (*Source, error) {
	t.Helper()
	st, err := Kind.New(stagetest.Env(t, out), []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*Source)
	return s, s.Run(context.Background())
}

func same(t *testing.T, got, want [][][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d messages replayed, want %d", len(got), len(want))
	}
	for i := range want {
		if fmt.Sprintf("%q", got[i]) != fmt.Sprintf("%q", want[i]) {
			t.Fatalf("message %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// TestReplay: every message comes out frame for frame, in order, in
// batches of bounded size, and Run returns at the end of the file.
func TestReplay(t *testing.T) {
	want := messages(3000)
	path := writeFile(t, want, nil)
	out := &stagetest.Collector{}
	s, err := run(t, fmt.Sprintf(`{"path":%q}`, path), out)
	if err != nil {
		t.Fatal(err)
	}
	same(t, out.Messages(), want)
	if st := s.Stats(); st.Received != uint64(len(want)) || st.Sent != st.Received {
		t.Fatalf("stats %+v", st)
	}
}

// TestTruncated: a file cut inside its last message replays every whole
// message and counts the cut one.
func TestTruncated(t *testing.T) {
	want := messages(10)
	path := writeFile(t, want, []byte{4, 5, 'a', 'b'}) // 4 frames, the first of 5 bytes, cut
	out := &stagetest.Collector{}
	s, err := run(t, fmt.Sprintf(`{"path":%q}`, path), out)
	if err != nil {
		t.Fatal(err)
	}
	same(t, out.Messages(), want)
	if d := s.Stats().Dropped[DropTruncated]; d != 1 {
		t.Fatalf("truncated drops %d, want 1", d)
	}
}

// TestMalformed: a corrupt file passes on every message before the
// corruption, then fails with the offset.
func TestMalformed(t *testing.T) {
	want := messages(10)
	path := writeFile(t, want, []byte{0}) // a message of zero frames
	out := &stagetest.Collector{}
	_, err := run(t, fmt.Sprintf(`{"path":%q}`, path), out)
	if err == nil || !strings.Contains(err.Error(), "offset") || !strings.Contains(err.Error(), "after 11 messages") {
		t.Fatalf("Run: %v, want an error with the offset after 11 messages", err)
	}
	same(t, out.Messages(), want)
}

// TestRate: with a rate the replay is paced and CloseInput stops it with
// what was read so far passed on.
func TestRate(t *testing.T) {
	path := writeFile(t, messages(1000), nil)
	out := &stagetest.Collector{}
	st, err := Kind.New(stagetest.Env(t, out), []byte(fmt.Sprintf(`{"path":%q,"rate":100}`, path)))
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*Source)
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	for len(out.Messages()) < 5 {
		time.Sleep(time.Millisecond)
	}
	s.CloseInput()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n := len(out.Messages())
	// 1001 messages at 100/s take 10 s; stopped within moments, far fewer
	// went out.
	if n >= 1001 || uint64(n) != s.Stats().Sent {
		t.Fatalf("%d messages out (sent %d) of 1001 after CloseInput", n, s.Stats().Sent)
	}
}

// TestNewErrors: a missing or foreign file fails at New, naming it.
func TestNewErrors(t *testing.T) {
	env := stagetest.Env(t, &stagetest.Collector{})
	foreign := filepath.Join(t.TempDir(), "x.log")
	if err := os.WriteFile(foreign, []byte("#separator \\x09\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for config, want := range map[string]string{
		`{"path":"/nonexistent/rec.zpmsg"}`:           "no such file",
		fmt.Sprintf(`{"path":%q}`, foreign):           "magic",
		`{"path":""}`:                                 `"path"`,
		fmt.Sprintf(`{"path":%q,"rate":-1}`, foreign): `"rate"`,
	} {
		if _, err := Kind.New(env, []byte(config)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", config, err, want)
		}
	}
}
