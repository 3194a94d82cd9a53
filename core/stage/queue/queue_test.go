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
	"github.com/zpipe/zpipe/internal/testutil"
)

// waitTimeout bounds every wait for a condition.
const waitTimeout = 10 * time.Second

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
		{Onloop, `{"max_bytes":0}`, `attribute "max_bytes": want a whole number from 1`},
		{Onloop, `{"when_full":"later"}`, `attribute "when_full": "later" is not one of`},
		{HWM, `{"max_bytes":1.5}`, `attribute "max_bytes"`},
	} {
		_, err := c.kind.New(stagetest.Env(t, &stagetest.Collector{}), []byte(c.config))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: error %v, want %q", c.kind.Name, c.config, err, c.want)
		}
	}
}

// sumDropped adds up every drop reason.
func sumDropped(st stage.Stats) uint64 {
	var n uint64
	for _, d := range st.Dropped {
		n += d
	}
	return n
}

// bigLogWrite is a log-write message of about size bytes.
func bigLogWrite(i, size int) [][]byte {
	m := logWrite(i)
	m[3] = append(m[3], make([]byte, size-len(m[3]))...)
	return m
}

// TestOnloopByteLimit: log batches pass hwm but not max_bytes: with
// when_full = "block" a push waits for room (the queue never holds more
// than max_bytes, nothing is lost); events that find max_bytes reached are
// dropped as queue_full.
func TestOnloopByteLimit(t *testing.T) {
	out := stagetest.Collector{Gate: make(chan struct{})}
	s, err := Onloop.New(stagetest.Env(t, &out), []byte(`{"hwm":2,"max_bytes":10000}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	pushed := make(chan error, 1)
	go func() {
		for i := range 20 {
			if err := s.Push(ctx, stagetest.Batch(bigLogWrite(i, 3000))); err != nil {
				pushed <- err
				return
			}
		}
		pushed <- nil
	}()
	// The sink is stuck with the first batch; the queue fills to its
	// byte limit, past its hwm, and the producer waits.
	testutil.Eventually(t, waitTimeout, "the queue holds three log batches", func() bool { return s.Stats().Depth == 3 })
	select {
	case err := <-pushed:
		t.Fatalf("the producer finished while the sink was stuck: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	st := s.Stats()
	if st.Bytes > 10000 || st.MaxBytes != 10000 || st.Capacity != 2 {
		t.Fatalf("stats %+v: above max_bytes", st)
	}
	// An event finds the queue full: dropped.
	if err := s.Push(ctx, stagetest.Batch(event(99))); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().Dropped[stage.DropQueueFull]; n != 1 {
		t.Fatalf("queue_full drops %d, want 1", n)
	}
	close(out.Gate)
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	s.CloseInput()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	if n := len(out.Messages()); n != 20 {
		t.Fatalf("passed on %d of 20 log batches", n)
	}
}

// TestOnloopByteLimitDrop: with when_full = "drop", log batches that find
// max_bytes reached are dropped and counted as max_bytes.
func TestOnloopByteLimitDrop(t *testing.T) {
	var out stagetest.Collector
	s, err := Onloop.New(stagetest.Env(t, &out), []byte(`{"hwm":2,"max_bytes":10000,"when_full":"drop"}`))
	if err != nil {
		t.Fatal(err)
	}
	var msgs [][][]byte
	for i := range 5 {
		msgs = append(msgs, bigLogWrite(i, 3000))
	}
	if err := s.Push(context.Background(), stagetest.Batch(msgs...)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Depth != 3 || st.Dropped[stage.DropMaxBytes] != 2 || st.Dropped[stage.DropQueueFull] != 0 {
		t.Fatalf("stats %+v", st)
	}
	drain(t, s)
	if got := len(out.Messages()); got != 3 {
		t.Fatalf("passed on %d", got)
	}
}

// TestHWMByteLimit: the hwm stage's policy applies at max_bytes as at
// capacity.
func TestHWMByteLimit(t *testing.T) {
	var out stagetest.Collector
	s, err := HWM.New(stagetest.Env(t, &out), []byte(`{"capacity":100,"max_bytes":10000,"policy":"drop_oldest"}`))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Push(context.Background(), stagetest.Batch(bigLogWrite(i, 3000))); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Depth != 3 || st.Dropped[stage.DropHWM] != 2 || st.Bytes > 10000 {
		t.Fatalf("stats %+v", st)
	}
	drain(t, s)
	if got := payloads(out.Messages()); !strings.HasPrefix(got, "log2") {
		t.Fatalf("passed on %.20q…, want the newest three", got)
	}
}

// TestAbandon: an abandoned queue stage counts what it held, the push
// waiting for room and later pushes as shutdown drops; its Run returns
// once the batch in the sink's hands is through; every message received
// is sent or dropped.
func TestAbandon(t *testing.T) {
	out := stagetest.Collector{Gate: make(chan struct{})}
	s, err := HWM.New(stagetest.Env(t, &out), []byte(`{"capacity":4,"policy":"block"}`))
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(context.Background()) }()
	pushed := make(chan error, 1)
	go func() {
		var b message.Batch
		for i := range 10 {
			b.Append(event(i)...)
		}
		pushed <- s.Push(context.Background(), &b)
	}()
	testutil.Eventually(t, waitTimeout, "the buffer is full", func() bool { return s.Stats().Depth == 4 })
	s.(stage.Abandoner).Abandon()
	if err := <-pushed; err != nil {
		t.Fatalf("the waiting push: %v", err)
	}
	select {
	case err := <-runErr:
		t.Fatalf("Run returned while the sink held a batch: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(out.Gate)
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	if err := s.Push(context.Background(), stagetest.Batch(event(10))); err != nil {
		t.Fatalf("push after Abandon: %v", err)
	}
	st := s.Stats()
	if st.Received != 11 || st.Sent != uint64(len(out.Messages())) || st.Sent+sumDropped(st) != 11 || st.Dropped[stage.DropShutdown] == 0 || st.Depth != 0 {
		t.Fatalf("stats %+v, %d passed on", st, len(out.Messages()))
	}
}

// TestRunContextEnds: when Run's context ends, what the stage holds is
// counted as shutdown drops; the batch in the stuck sink's hands is the
// sink's to count.
func TestRunContextEnds(t *testing.T) {
	out := stagetest.Collector{Gate: make(chan struct{})}
	s, err := Onloop.New(stagetest.Env(t, &out), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var b message.Batch
	for i := range 5000 {
		b.Append(event(i)...)
	}
	if err := s.Push(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	testutil.Eventually(t, waitTimeout, "the sink has a batch in hand", func() bool { return s.Stats().Depth < 5000 })
	cancel()
	if err := <-runErr; err == nil {
		t.Fatal("Run returned nil after its context ended")
	}
	st := s.Stats()
	if st.Sent != 0 || st.Dropped[stage.DropShutdown] != 5000-takeMax || st.Depth != 0 || st.Bytes != 0 {
		t.Fatalf("stats %+v", st)
	}
}
