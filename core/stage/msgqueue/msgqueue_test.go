package msgqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/message"
)

// numbered returns a batch of messages "from".."from+n-1", each two frames.
func numbered(from, n int) *message.Batch {
	var b message.Batch
	for i := from; i < from+n; i++ {
		b.Append([]byte("t"), []byte(strconv.Itoa(i)))
	}
	return &b
}

// takeAll drains the queue without waiting and returns the message numbers.
func takeAll(t *testing.T, q *Queue) []int {
	t.Helper()
	var out []int
	var b message.Batch
	for q.Len() > 0 {
		if err := q.Take(context.Background(), &b, 7); err != nil {
			t.Fatal(err)
		}
		if err := b.Validate(); err != nil {
			t.Fatal(err)
		}
		for it := b.Iter(); it.Next(); {
			if it.NumFrames() != 2 || string(it.Frame(0)) != "t" {
				t.Fatalf("message %d has frames %q", it.Index(), it.Frames(nil))
			}
			n, err := strconv.Atoi(string(it.Frame(1)))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func equal(a, b []int) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestDropNewest(t *testing.T) {
	q := New(5)
	taken, dropped, err := q.PushDropNewest(numbered(0, 8), nil)
	if err != nil || taken != 5 || dropped != 3 {
		t.Fatalf("push 8 into 5: taken %d dropped %d err %v", taken, dropped, err)
	}
	// Forced messages go in beyond the limit; others still do not.
	force := func(it *message.Iter) bool { n, _ := strconv.Atoi(string(it.Frame(1))); return n%2 == 0 }
	taken, dropped, _ = q.PushDropNewest(numbered(100, 4), force)
	if taken != 2 || dropped != 2 || q.Len() != 7 {
		t.Fatalf("forced push: taken %d dropped %d len %d", taken, dropped, q.Len())
	}
	if got, want := takeAll(t, q), []int{0, 1, 2, 3, 4, 100, 102}; !equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestDropOldest(t *testing.T) {
	q := New(3)
	if d, _ := q.PushDropOldest(numbered(0, 2)); d != 0 {
		t.Fatalf("dropped %d", d)
	}
	if d, _ := q.PushDropOldest(numbered(2, 5)); d != 4 {
		t.Fatalf("dropped %d, want 4", d)
	}
	if got := takeAll(t, q); !equal(got, []int{4, 5, 6}) {
		t.Fatalf("got %v", got)
	}
	// Across chunk boundaries.
	q = New(1500)
	for i := 0; i < 5000; i += 500 {
		if _, err := q.PushDropOldest(numbered(i, 500)); err != nil {
			t.Fatal(err)
		}
		if q.Len() > 1500 {
			t.Fatalf("queue holds %d, limit 1500", q.Len())
		}
	}
	if got := takeAll(t, q); !equal(got, seq(3500, 5000)) {
		t.Fatalf("got %d messages from %v", len(got), got[:3])
	}
}

func TestUnbounded(t *testing.T) {
	q := New(0)
	if taken, dropped, _ := q.PushDropNewest(numbered(0, 3000), nil); taken != 3000 || dropped != 0 {
		t.Fatalf("taken %d dropped %d", taken, dropped)
	}
	if got := takeAll(t, q); !equal(got, seq(0, 3000)) {
		t.Fatal("order lost")
	}
}

// TestBlock: a blocked producer waits for room, loses nothing, and gives up
// when its context ends.
func TestBlock(t *testing.T) {
	q := New(10)
	done := make(chan error, 1)
	go func() {
		n, err := q.PushBlock(context.Background(), numbered(0, 100))
		if err == nil && n != 100 {
			err = fmt.Errorf("taken %d", n)
		}
		done <- err
	}()
	var got []int
	var b message.Batch
	for len(got) < 100 {
		if err := q.Take(context.Background(), &b, 3); err != nil {
			t.Fatal(err)
		}
		if q.Len() > 10 {
			t.Fatalf("queue holds %d, limit 10", q.Len())
		}
		for it := b.Iter(); it.Next(); {
			n, _ := strconv.Atoi(string(it.Frame(1)))
			got = append(got, n)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !equal(got, seq(0, 100)) {
		t.Fatalf("got %v", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	n, err := q.PushBlock(ctx, numbered(0, 15))
	if !errors.Is(err, context.DeadlineExceeded) || n != 10 {
		t.Fatalf("push into a full queue: taken %d, %v", n, err)
	}
}

// TestClose: Take drains what is left and then reports ErrClosed; waiting
// producers and consumers are released.
func TestClose(t *testing.T) {
	q := New(2)
	if _, _, err := q.PushDropNewest(numbered(0, 2), nil); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := q.PushBlock(context.Background(), numbered(2, 1))
		blocked <- err
	}()
	q.Close()
	q.Close()
	if err := <-blocked; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked push after close: %v", err)
	}
	if got := takeAll(t, q); !equal(got, []int{0, 1}) {
		t.Fatalf("got %v", got)
	}
	var b message.Batch
	if err := q.Take(context.Background(), &b, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("take from a closed, empty queue: %v", err)
	}
	if _, _, err := q.PushDropNewest(numbered(0, 1), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("push after close: %v", err)
	}

	// A consumer waiting on an empty queue is released by Close.
	q = New(0)
	waiting := make(chan error, 1)
	go func() { waiting <- q.Take(context.Background(), &message.Batch{}, 0) }()
	q.Close()
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting take: %v", err)
	}
}

// TestConcurrent: several producers, blocking and dropping, and two
// consumers; every message is either taken once or counted as dropped.
func TestConcurrent(t *testing.T) {
	q := New(64)
	const producers, per = 4, 5000
	var wg sync.WaitGroup
	var mu sync.Mutex
	dropped := 0
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i += 50 {
				b := numbered(p*per+i, 50)
				switch p % 3 {
				case 0:
					if _, err := q.PushBlock(context.Background(), b); err != nil {
						t.Error(err)
					}
				case 1:
					_, d, _ := q.PushDropNewest(b, nil)
					mu.Lock()
					dropped += d
					mu.Unlock()
				default:
					d, _ := q.PushDropOldest(b)
					mu.Lock()
					dropped += d
					mu.Unlock()
				}
			}
		}()
	}
	seen := make(map[int]bool)
	var consumers sync.WaitGroup
	for range 2 {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			var b message.Batch
			for {
				if err := q.Take(context.Background(), &b, 100); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					return
				}
				mu.Lock()
				for it := b.Iter(); it.Next(); {
					n, _ := strconv.Atoi(string(it.Frame(1)))
					if seen[n] {
						t.Errorf("message %d taken twice", n)
					}
					seen[n] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	q.Close()
	consumers.Wait()
	if len(seen)+dropped != producers*per {
		t.Fatalf("taken %d + dropped %d != %d", len(seen), dropped, producers*per)
	}
}

// BenchmarkQueue moves 64-byte two-frame messages through the queue in
// batches of 256, beside a buffered channel of per-message frame copies
// (the obvious alternative) as the baseline.
func BenchmarkQueue(b *testing.B) {
	var in message.Batch
	payload := make([]byte, 64)
	for range 256 {
		in.Append([]byte("zeek.cluster.worker"), payload)
	}
	b.Run("msgqueue", func(b *testing.B) {
		q := New(10000)
		done := make(chan struct{})
		go func() {
			defer close(done)
			var out message.Batch
			for q.Take(context.Background(), &out, 256) == nil {
			}
		}()
		b.SetBytes(int64(in.Bytes()))
		for b.Loop() {
			if _, err := q.PushBlock(context.Background(), &in); err != nil {
				b.Fatal(err)
			}
		}
		q.Close()
		<-done
		b.ReportMetric(float64(b.N*in.Len())/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("chan-baseline", func(b *testing.B) {
		ch := make(chan [][]byte, 10000)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range ch {
			}
		}()
		b.SetBytes(int64(in.Bytes()))
		for b.Loop() {
			for it := in.Iter(); it.Next(); {
				frames := it.Frames(nil)
				msg := make([][]byte, len(frames))
				for i, f := range frames {
					msg[i] = append([]byte(nil), f...)
				}
				ch <- msg
			}
		}
		close(ch)
		<-done
		b.ReportMetric(float64(b.N*in.Len())/b.Elapsed().Seconds(), "msgs/s")
	})
}
