package stage

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/schema"
)

func TestCounters(t *testing.T) {
	c := NewCounters(DropHWM, DropMalformed)
	c.Received(5)
	c.Sent(3)
	c.Undecoded(1)
	c.Drop(DropHWM, 2)
	s := c.Stats()
	if s.Received != 5 || s.Sent != 3 || s.Undecoded != 1 || s.Dropped[DropHWM] != 2 {
		t.Fatalf("stats %+v", s)
	}
	if v, ok := s.Dropped[DropMalformed]; !ok || v != 0 {
		t.Fatalf("a declared reason is missing at 0: %+v", s.Dropped)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("an undeclared reason was counted")
		}
	}()
	c.Drop("made_up", 1)
}

func TestRegistry(t *testing.T) {
	k := Kind{Name: "x", New: func(Env, []byte) (Stage, error) { return nil, nil }}
	r, err := NewRegistry(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(k); err == nil {
		t.Fatal("a kind registered twice")
	}
	bad := Kind{Name: "y", New: k.New, Schema: schema.Schema{Attributes: []schema.Attribute{{Name: "a", Type: "weird"}}}}
	if err := r.Add(bad); err == nil {
		t.Fatal("a kind with an invalid schema was accepted")
	}
	if err := r.Add(Kind{Name: "z"}); err == nil {
		t.Fatal("a kind without constructor was accepted")
	}
	if _, ok := r.Lookup("stage", "x"); !ok || r.Len() != 1 || len(r.Kinds("stage")) != 1 || r.Kinds("stage")[0].Name != "x" {
		t.Fatalf("registry %+v", r.Kinds("stage"))
	}
	if _, ok := r.Lookup("sink", "x"); ok {
		t.Fatal("stage kind x found as a sink")
	}
	// A source and a sink may share a name; a kind cannot be both.
	if err := r.Add(Kind{Name: "x", New: k.New, Sink: true}); err != nil {
		t.Fatalf("sink x beside stage x: %v", err)
	}
	if err := r.Add(Kind{Name: "w", New: k.New, Sink: true, Source: true}); err == nil {
		t.Fatal("a kind both sink and source was accepted")
	}
}

func TestFanoutStopsAtFirstError(t *testing.T) {
	var calls []string
	boom := errors.New("boom")
	f := Fanout(
		InletFunc(func(context.Context, *message.Batch) error { calls = append(calls, "a"); return nil }),
		InletFunc(func(context.Context, *message.Batch) error { calls = append(calls, "b"); return boom }),
		InletFunc(func(context.Context, *message.Batch) error { calls = append(calls, "c"); return nil }),
	)
	if err := f.Push(context.Background(), &message.Batch{}); !errors.Is(err, boom) || strings.Join(calls, "") != "ab" {
		t.Fatalf("err %v, calls %v", err, calls)
	}
}

func TestSync(t *testing.T) {
	var s Sync
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	s.CloseInput()
	s.CloseInput()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var s2 Sync
	if err := s2.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("run with an ended context: %v", err)
	}
}
