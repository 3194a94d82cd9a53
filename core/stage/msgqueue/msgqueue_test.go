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
		if err := q.Take(context.Background(), &b, 7, 0); err != nil {
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

func blockRule(*message.Iter) Rule { return Rule{Block: true} }

// pushBlock pushes b, waiting for room, and returns how many were taken.
func pushBlock(ctx context.Context, q *Queue, b *message.Batch) (int, error) {
	r, err := q.Push(ctx, b, blockRule)
	return r.Taken, err
}

// pushDrop pushes b, dropping what does not fit.
func pushDrop(q *Queue, b *message.Batch) (taken, dropped int, err error) {
	r, err := q.Push(context.Background(), b, nil)
	return r.Taken, r.Dropped, err
}

func TestDropNewest(t *testing.T) {
	q := New(Limits{Messages: 5})
	taken, dropped, err := pushDrop(q, numbered(0, 8))
	if err != nil || taken != 5 || dropped != 3 {
		t.Fatalf("push 8 into 5: taken %d dropped %d err %v", taken, dropped, err)
	}
	// Messages ignoring the count go in beyond the limit; others still do
	// not.
	force := func(it *message.Iter) Rule {
		n, _ := strconv.Atoi(string(it.Frame(1)))
		return Rule{IgnoreCount: n%2 == 0}
	}
	r, _ := q.Push(context.Background(), numbered(100, 4), force)
	if r.Taken != 2 || r.Dropped != 2 || r.DroppedIgnoringCount != 0 || q.Len() != 7 {
		t.Fatalf("forced push: %+v, len %d", r, q.Len())
	}
	if got, want := takeAll(t, q), []int{0, 1, 2, 3, 4, 100, 102}; !equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestDropOldest(t *testing.T) {
	q := New(Limits{Messages: 3})
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
	q = New(Limits{Messages: 1500})
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
	q := New(Limits{})
	if taken, dropped, _ := pushDrop(q, numbered(0, 3000)); taken != 3000 || dropped != 0 {
		t.Fatalf("taken %d dropped %d", taken, dropped)
	}
	if got := takeAll(t, q); !equal(got, seq(0, 3000)) {
		t.Fatal("order lost")
	}
}

// TestBlock: a blocked producer waits for room, loses nothing, and gives up
// when its context ends.
func TestBlock(t *testing.T) {
	q := New(Limits{Messages: 10})
	done := make(chan error, 1)
	go func() {
		n, err := pushBlock(context.Background(), q, numbered(0, 100))
		if err == nil && n != 100 {
			err = fmt.Errorf("taken %d", n)
		}
		done <- err
	}()
	var got []int
	var b message.Batch
	for len(got) < 100 {
		if err := q.Take(context.Background(), &b, 3, 0); err != nil {
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
	n, err := pushBlock(ctx, q, numbered(0, 15))
	if !errors.Is(err, context.DeadlineExceeded) || n != 10 {
		t.Fatalf("push into a full queue: taken %d, %v", n, err)
	}
}

// TestClose: Take drains what is left and then reports ErrClosed; waiting
// producers and consumers are released.
func TestClose(t *testing.T) {
	q := New(Limits{Messages: 2})
	if _, _, err := pushDrop(q, numbered(0, 2)); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := pushBlock(context.Background(), q, numbered(2, 1))
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
	if err := q.Take(context.Background(), &b, 0, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("take from a closed, empty queue: %v", err)
	}
	if _, _, err := pushDrop(q, numbered(0, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("push after close: %v", err)
	}

	// A consumer waiting on an empty queue is released by Close.
	q = New(Limits{})
	waiting := make(chan error, 1)
	go func() { waiting <- q.Take(context.Background(), &message.Batch{}, 0, 0) }()
	q.Close()
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting take: %v", err)
	}
}

// sized returns a batch of messages numbered from..from+n-1, each a
// two-frame message of size bytes in all.
func sized(from, n, size int) *message.Batch {
	var b message.Batch
	for i := from; i < from+n; i++ {
		num := []byte(strconv.Itoa(i))
		b.Append(append([]byte("t"), make([]byte, size-1-len(num))...), num)
	}
	return &b
}

// takeNumbers takes everything held, in batches of at most maxBytes, and
// returns the message numbers (frame 1) and the largest batch in bytes.
func takeNumbers(t *testing.T, q *Queue, maxBytes int) (nums []int, largest int) {
	t.Helper()
	var b message.Batch
	for q.Len() > 0 {
		if err := q.Take(context.Background(), &b, 0, maxBytes); err != nil {
			t.Fatal(err)
		}
		largest = max(largest, b.Bytes())
		for it := b.Iter(); it.Next(); {
			n, _ := strconv.Atoi(string(it.Frame(1)))
			nums = append(nums, n)
		}
	}
	if q.Bytes() != 0 {
		t.Fatalf("empty queue counts %d bytes", q.Bytes())
	}
	return nums, largest
}

// TestByteLimit: the byte limit drops (or holds back) messages whatever
// the message limit says, messages ignoring the count included; a message
// larger than the limit is taken when the queue is empty, alone.
func TestByteLimit(t *testing.T) {
	q := New(Limits{Messages: 100, Bytes: 1000})
	taken, dropped, _ := pushDrop(q, sized(0, 15, 100))
	if taken != 10 || dropped != 5 || q.Bytes() != 1000 {
		t.Fatalf("15 × 100 bytes into 1000: taken %d, dropped %d, %d bytes held", taken, dropped, q.Bytes())
	}
	r, _ := q.Push(context.Background(), sized(10, 2, 100), func(*message.Iter) Rule { return Rule{IgnoreCount: true} })
	if r.Taken != 0 || r.Dropped != 2 || r.DroppedIgnoringCount != 2 {
		t.Fatalf("ignoring the count past the byte limit: %+v", r)
	}
	if got, largest := takeNumbers(t, q, 250); !equal(got, seq(0, 10)) || largest != 200 {
		t.Fatalf("took %v, largest batch %d bytes (want at most 250)", got, largest)
	}
	if taken, _, _ := pushDrop(q, sized(0, 2, 5000)); taken != 1 || q.Bytes() != 5000 {
		t.Fatalf("a message above the limit into an empty queue: taken %d, %d bytes held", taken, q.Bytes())
	}
	if got, largest := takeNumbers(t, q, 250); !equal(got, []int{0}) || largest != 5000 {
		t.Fatalf("took %v, largest batch %d: a large message comes out alone", got, largest)
	}
}

// TestByteLimitBlocks: a blocked producer waits for bytes to leave, and
// the queue never holds more than its byte limit.
func TestByteLimitBlocks(t *testing.T) {
	q := New(Limits{Bytes: 1000})
	done := make(chan error, 1)
	go func() {
		n, err := pushBlock(context.Background(), q, sized(0, 100, 300))
		if err == nil && n != 100 {
			err = fmt.Errorf("taken %d", n)
		}
		done <- err
	}()
	var got []int
	var b message.Batch
	for len(got) < 100 {
		if held := q.Bytes(); held > 1000 {
			t.Fatalf("queue holds %d bytes, limit 1000", held)
		}
		if err := q.Take(context.Background(), &b, 0, 700); err != nil {
			t.Fatal(err)
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
}

// TestDropOldestBytes: dropping the oldest keeps the queue within its
// byte limit; a message above the limit pushes out everything else.
func TestDropOldestBytes(t *testing.T) {
	q := New(Limits{Bytes: 1000})
	if d, _ := q.PushDropOldest(sized(0, 15, 100)); d != 5 || q.Bytes() != 1000 {
		t.Fatalf("dropped %d, %d bytes held", d, q.Bytes())
	}
	if d, _ := q.PushDropOldest(sized(15, 1, 3000)); d != 10 || q.Len() != 1 {
		t.Fatalf("a large message: dropped %d, %d held", d, q.Len())
	}
	if got, _ := takeNumbers(t, q, 0); !equal(got, []int{15}) {
		t.Fatalf("got %v", got)
	}
}

// TestClear: Clear empties the queue, says what it held, and makes room
// for a blocked producer.
func TestClear(t *testing.T) {
	q := New(Limits{Messages: 4})
	if _, _, err := pushDrop(q, sized(0, 4, 10)); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan int, 1)
	go func() {
		n, _ := pushBlock(context.Background(), q, sized(4, 2, 10))
		blocked <- n
	}()
	if n, bytes := q.Clear(); n != 4 || bytes != 40 {
		t.Fatalf("cleared %d messages, %d bytes", n, bytes)
	}
	if n := <-blocked; n != 2 {
		t.Fatalf("blocked producer took %d after Clear", n)
	}
	if got, _ := takeNumbers(t, q, 0); !equal(got, []int{4, 5}) {
		t.Fatalf("got %v", got)
	}
}

// TestLargeMessagesMemory: a queue of large messages keeps each in a
// chunk of about its size, not in chunks grown by doubling to a thousand
// messages.
func TestLargeMessagesMemory(t *testing.T) {
	q := New(Limits{Bytes: 64 << 20})
	const size = 370 << 10
	for i := range 100 {
		if taken, _, _ := pushDrop(q, sized(i, 1, size)); taken != 1 {
			t.Fatal("not taken")
		}
	}
	held := 0
	q.mu.Lock()
	for _, c := range q.chunks {
		held += cap(c.b.Data)
	}
	q.mu.Unlock()
	if held > 2*q.Bytes() {
		t.Fatalf("%d bytes allocated for %d held", held, q.Bytes())
	}
}

// TestConcurrent: several producers, blocking and dropping, and two
// consumers; every message is either taken once or counted as dropped.
func TestConcurrent(t *testing.T) {
	q := New(Limits{Messages: 64, Bytes: 64 * 4})
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
					if _, err := pushBlock(context.Background(), q, b); err != nil {
						t.Error(err)
					}
				case 1:
					_, d, _ := pushDrop(q, b)
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
				if err := q.Take(context.Background(), &b, 100, 200); err != nil {
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
		q := New(Limits{Messages: 10000, Bytes: 64 << 20})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var out message.Batch
			for q.Take(context.Background(), &out, 256, 1<<20) == nil {
			}
		}()
		b.SetBytes(int64(in.Bytes()))
		for b.Loop() {
			if _, err := pushBlock(context.Background(), q, &in); err != nil {
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
