package queue

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
)

func event(i int) [][]byte {
	return stagetest.Msg("zeek.cluster.worker", "node", "broker-bin-v1", fmt.Sprint(i))
}

func logWrite(i int) [][]byte {
	return stagetest.Msg("log-write", "node", "zeek-bin-serializer", fmt.Sprint("log", i))
}

// drain closes the stage's input and runs it to the end.
func drain(t *testing.T, s stage.Stage) {
	t.Helper()
	s.CloseInput()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func payloads(msgs [][][]byte) string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m[len(m)-1]))
	}
	return strings.Join(out, " ")
}

// TestOnloopDropsEventsOnly: with the queue at its HWM, events are dropped
// and counted; log batches and subscription messages still go in.
func TestOnloopDropsEventsOnly(t *testing.T) {
	var out stagetest.Collector
	s, err := Onloop.New(stagetest.Env(t, &out), []byte(`{"hwm":3}`))
	if err != nil {
		t.Fatal(err)
	}
	b := stagetest.Batch(event(0), event(1), event(2), event(3), logWrite(4), event(5),
		stagetest.Msg("\x01zeek.cluster.nodeid.x"), event(6))
	if err := s.Push(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Received != 8 || st.Dropped[stage.DropQueueFull] != 3 || st.Depth != 5 || st.Capacity != 3 {
		t.Fatalf("stats %+v", st)
	}
	drain(t, s)
	if got := payloads(out.Messages()); got != "0 1 2 log4 \x01zeek.cluster.nodeid.x" {
		t.Fatalf("passed on %q", got)
	}
	if st := s.Stats(); st.Sent != 5 || st.Depth != 0 {
		t.Fatalf("stats after drain %+v", st)
	}
}

func TestOnloopUnbounded(t *testing.T) {
	var out stagetest.Collector
	s, err := Onloop.New(stagetest.Env(t, &out), []byte(`{"hwm":0}`))
	if err != nil {
		t.Fatal(err)
	}
	var b message.Batch
	for i := range 20000 {
		b.Append(event(i)...)
	}
	if err := s.Push(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	if n := len(out.Messages()); n != 20000 || s.Stats().Dropped[stage.DropQueueFull] != 0 {
		t.Fatalf("passed on %d, stats %+v", n, s.Stats())
	}
}

func TestHWMDropPolicies(t *testing.T) {
	for _, c := range []struct{ policy, want string }{
		{PolicyDropNewest, "0 1 2"},
		{PolicyDropOldest, "3 4 5"},
	} {
		t.Run(c.policy, func(t *testing.T) {
			var out stagetest.Collector
			s, err := HWM.New(stagetest.Env(t, &out), []byte(`{"capacity":3,"policy":"`+c.policy+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 6 {
				if err := s.Push(context.Background(), stagetest.Batch(event(i))); err != nil {
					t.Fatal(err)
				}
			}
			if st := s.Stats(); st.Dropped[stage.DropHWM] != 3 || st.Depth != 3 {
				t.Fatalf("stats %+v", st)
			}
			drain(t, s)
			if got := payloads(out.Messages()); got != c.want {
				t.Fatalf("passed on %q, want %q", got, c.want)
			}
		})
	}
}

// TestHWMBlock: a full buffer makes Push wait (backpressure), never drops,
// and never holds more than its capacity.
func TestHWMBlock(t *testing.T) {
	out := stagetest.Collector{Gate: make(chan struct{})}
	s, err := HWM.New(stagetest.Env(t, &out), []byte(`{"capacity":4,"policy":"block"}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	pushed := make(chan error, 1)
	go func() {
		for i := range 100 {
			if err := s.Push(ctx, stagetest.Batch(event(i))); err != nil {
				pushed <- err
				return
			}
		}
		pushed <- nil
	}()
	// The sink is stuck: the producer fills the buffer and waits.
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Depth < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("buffer never filled: %+v", s.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-pushed:
		t.Fatalf("the producer finished while the sink was stuck: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if d := s.Stats().Depth; d > 4 {
		t.Fatalf("buffer holds %d, capacity 4", d)
	}
	close(out.Gate)
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	s.CloseInput()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	msgs := out.Messages()
	if len(msgs) != 100 || s.Stats().Dropped[stage.DropHWM] != 0 {
		t.Fatalf("passed on %d of 100, stats %+v", len(msgs), s.Stats())
	}
	for i, m := range msgs {
		if string(m[3]) != fmt.Sprint(i) {
			t.Fatalf("message %d is %q", i, m[3])
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []struct {
		kind   stage.Kind
		config string
		want   string
	}{
		{HWM, `{"capacity":0,"policy":"block"}`, `attribute "capacity": want a whole number from 1`},
		{HWM, `{"capacity":2.5,"policy":"block"}`, `attribute "capacity"`},
		{HWM, `{"capacity":5,"policy":"sometimes"}`, `attribute "policy": "sometimes" is not one of`},
		{Onloop, `{"hwm":-1}`, `attribute "hwm": want a whole number from 0`},
	} {
		_, err := c.kind.New(stagetest.Env(t, &stagetest.Collector{}), []byte(c.config))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: error %v, want %q", c.kind.Name, c.config, err, c.want)
		}
	}
}
