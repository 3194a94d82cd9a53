package subscribe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
)

func newStage(t *testing.T, config string) (*Stage, *stagetest.Collector, *stagetest.Collector) {
	t.Helper()
	out, up := &stagetest.Collector{}, &stagetest.Collector{}
	env := stagetest.Env(t, out)
	env.Upstream = up
	st, err := Kind.New(env, []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	return st.(*Stage), out, up
}

func render(msgs [][][]byte) string {
	var parts []string
	for _, m := range msgs {
		if len(m) != 1 || len(m[0]) == 0 {
			parts = append(parts, "?")
			continue
		}
		sign := "-"
		if m[0][0] == 1 {
			sign = "+"
		}
		parts = append(parts, sign+string(m[0][1:]))
	}
	return strings.Join(parts, " ")
}

// TestSubscribesAndUnsubscribes: Run sends the subscriptions upstream in
// order, passes data on unchanged, and unsubscribes at CloseInput.
func TestSubscribesAndUnsubscribes(t *testing.T) {
	s, out, up := newStage(t, `{"topics":["zeek/event/","zeek.cluster.worker",""]}`)
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(up.Messages()) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got, want := render(up.Messages()), "+zeek/event/ +zeek.cluster.worker +"; got != want {
		t.Fatalf("upstream %q, want %q", got, want)
	}
	if err := s.Push(context.Background(), stagetest.Batch(stagetest.Msg("a", "b", "c", "d"), stagetest.Msg("x"))); err != nil {
		t.Fatal(err)
	}
	if msgs := out.Messages(); len(msgs) != 2 || string(msgs[0][3]) != "d" || string(msgs[1][0]) != "x" {
		t.Fatalf("passed on %q", msgs)
	}
	s.CloseInput()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := render(up.Messages()), "+zeek/event/ +zeek.cluster.worker + -zeek/event/ -zeek.cluster.worker -"; got != want {
		t.Fatalf("upstream %q, want %q", got, want)
	}
	if st := s.Stats(); st.Received != 2 || st.Sent != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCanceled: a canceled context ends Run with its error, without
// unsubscribing.
func TestCanceled(t *testing.T) {
	s, _, up := newStage(t, `{"topics":["t"]}`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for len(up.Messages()) < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	if got := render(up.Messages()); got != "+t" {
		t.Fatalf("upstream %q", got)
	}
}

// TestNewErrors: no topics or no upstream source is an error, not a
// stage that silently subscribes nothing.
func TestNewErrors(t *testing.T) {
	if _, err := stage.NewRegistry(Kind); err != nil {
		t.Fatal(err)
	}
	env := stagetest.Env(t, &stagetest.Collector{})
	env.Upstream = &stagetest.Collector{}
	if _, err := Kind.New(env, []byte(`{"topics":[]}`)); err == nil || !strings.Contains(err.Error(), `"topics"`) {
		t.Fatalf("no topics: %v", err)
	}
	env.Upstream = nil
	if _, err := Kind.New(env, []byte(`{"topics":["x"]}`)); err == nil || !strings.Contains(err.Error(), "xsub") {
		t.Fatalf("no upstream: %v", err)
	}
}
