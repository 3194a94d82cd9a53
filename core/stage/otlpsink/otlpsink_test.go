package otlpsink

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/grpc/codes"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
	"github.com/zpipe/zpipe/core/value"
	"github.com/zpipe/zpipe/internal/testutil"
	"github.com/zpipe/zpipe/internal/zeektest"
)

// waitTimeout bounds every wait for a condition.
const waitTimeout = 20 * time.Second

var protocols = []string{ProtocolGRPC, ProtocolHTTP}

// seqEvents returns a batch of events seq(from) … seq(to-1), each
// carrying its number.
func seqEvents(t testing.TB, from, to int) *message.Batch {
	t.Helper()
	var b message.Batch
	for i := from; i < to; i++ {
		payload, err := brokerbin.AppendEvent(nil, &value.Event{Name: "seq", Args: []value.Value{value.Count(uint64(i))}})
		if err != nil {
			t.Fatal(err)
		}
		b.Append([]byte("zeek.test.seq"), []byte("zeromq_worker-1_vm_1_Nx"), []byte(codec.FormatBrokerBin), payload)
	}
	return &b
}

// seqs returns the numbers of seq events the collector got, in order.
func seqs(recs []*logspb.LogRecord) []int {
	out := make([]int, 0, len(recs))
	for _, r := range recs {
		out = append(out, int(r.Body.GetArrayValue().GetValues()[0].GetIntValue()))
	}
	return out
}

func span(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func push(t testing.TB, s *Sink, b *message.Batch) {
	t.Helper()
	if err := s.Push(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// fast are settings for quick tests: small batches, short waits.
func fast(col *collector, extra map[string]any) map[string]any {
	c := map[string]any{"endpoint": col.endpoint(), "protocol": col.proto, "insecure": true,
		"batch_size": 10, "batch_timeout": "5ms", "retry_initial": "5ms", "retry_max": "50ms", "timeout": "2s"}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// TestHeadersAndCompression: headers arrive as gRPC metadata and HTTP
// headers; requests are gzipped when compression is gzip, and not when
// it is none.
func TestHeadersAndCompression(t *testing.T) {
	for _, protocol := range protocols {
		for _, comp := range []string{CompressionGzip, CompressionNone} {
			t.Run(protocol+"/"+comp, func(t *testing.T) {
				col := startCollector(t, protocol, nil)
				s, _ := newSink(t, fast(col, map[string]any{"compression": comp,
					"headers": map[string]string{"Authorization": "Bearer s3cret", "x-tenant": "zeek-prod"}}))
				finish := run(t, s)
				push(t, s, seqEvents(t, 0, 25))
				if err := finish(); err != nil {
					t.Fatal(err)
				}
				if got := seqs(col.Records()); !slices.Equal(got, span(0, 25)) {
					t.Fatalf("got %v", got)
				}
				seen := col.Seen()
				if len(seen) < 3 { // 25 records in batches of 10
					t.Fatalf("%d requests", len(seen))
				}
				wantComp := map[string]string{CompressionGzip: "gzip", CompressionNone: ""}[comp]
				for _, r := range seen {
					if r.headers["authorization"] != "Bearer s3cret" || r.headers["x-tenant"] != "zeek-prod" {
						t.Errorf("headers %v", r.headers)
					}
					if r.compression != wantComp {
						t.Errorf("compression %q, want %q", r.compression, wantComp)
					}
				}
			})
		}
	}
}

// TestTLS: the collector's self-signed CA given as ca_file verifies it,
// over gRPC and HTTPS; with mutual TLS the client certificate is
// presented.
func TestTLS(t *testing.T) {
	p := newPKI(t)
	for _, protocol := range protocols {
		for _, mutual := range []bool{false, true} {
			name := protocol + "/server-auth"
			if mutual {
				name = protocol + "/mutual"
			}
			t.Run(name, func(t *testing.T) {
				col := startCollector(t, protocol, p.serverTLS(mutual))
				cfg := fast(col, map[string]any{"insecure": false, "ca_file": p.caFile})
				if mutual {
					cfg["cert_file"], cfg["key_file"] = p.certFile, p.keyFile
				}
				s, _ := newSink(t, cfg)
				finish := run(t, s)
				push(t, s, seqEvents(t, 0, 5))
				if err := finish(); err != nil {
					t.Fatal(err)
				}
				if got := seqs(col.Records()); !slices.Equal(got, span(0, 5)) {
					t.Fatalf("got %v", got)
				}
			})
		}
	}
}

// TestTLSUnknownCA: without the CA, the sink does not trust the
// collector: nothing arrives, and the records are counted at shutdown.
func TestTLSUnknownCA(t *testing.T) {
	p := newPKI(t)
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			col := startCollector(t, protocol, p.serverTLS(false))
			s, logs := newSink(t, fast(col, map[string]any{"insecure": false, "flush_timeout": "100ms"}))
			finish := run(t, s)
			push(t, s, seqEvents(t, 0, 5))
			testutil.Eventually(t, waitTimeout, "a failed export", func() bool { return logs.contains("export") })
			if err := finish(); err != nil {
				t.Fatal(err)
			}
			if n := len(col.Records()); n != 0 {
				t.Fatalf("collector got %d records", n)
			}
			if st := s.Stats(); st.Dropped[DropExportFailed] != 5 || st.Sent != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestQueueBytes: the queue holds no more than queue_bytes of encoded
// records, whatever queue_size allows; what does not fit is counted as
// queue_full, what fits arrives once the collector is up.
func TestQueueBytes(t *testing.T) {
	col := newCollector(t, ProtocolGRPC, nil) // not started: down
	s, _ := newSink(t, fast(col, map[string]any{"queue_size": 1000, "queue_bytes": 1000}))
	finish := run(t, s)
	push(t, s, seqEvents(t, 0, 100))
	st := s.Stats()
	if st.Depth == 0 || st.Depth >= 100 || st.Bytes > 1000 || st.MaxBytes != 1000 || st.Depth+int64(st.Dropped[stage.DropQueueFull]) != 100 {
		t.Fatalf("stats %+v", st)
	}
	col.start()
	testutil.Eventually(t, waitTimeout, "the queued records accepted", func() bool { return s.Stats().Sent == uint64(st.Depth) })
	if got := seqs(col.Records()); !slices.Equal(got, span(0, int(st.Depth))) {
		t.Fatalf("the collector got %v", got)
	}
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Bytes != 0 {
		t.Fatalf("an empty queue counts %d bytes", st.Bytes)
	}
}

// TestOutage: records pushed while the collector is down stay queued and
// arrive exactly once when it comes up; in a second outage, records beyond
// queue_size are dropped and counted, the rest arrive.
func TestOutage(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			col := newCollector(t, protocol, nil) // not started: down
			s, logs := newSink(t, fast(col, map[string]any{"queue_size": 100}))
			finish := run(t, s)

			push(t, s, seqEvents(t, 0, 30))
			push(t, s, seqEvents(t, 30, 60))
			testutil.Eventually(t, waitTimeout, "a failed export being retried", func() bool { return logs.contains("export failed; retrying") })
			if q := s.Queued(); q != 60 {
				t.Fatalf("queued %d, want 60", q)
			}
			col.start()
			testutil.Eventually(t, waitTimeout, "60 records accepted", func() bool { return s.Stats().Sent == 60 })
			if got := seqs(col.Records()); !slices.Equal(got, span(0, 60)) {
				t.Fatalf("after the first outage the collector got %v", got)
			}

			col.stop()
			push(t, s, seqEvents(t, 60, 160))
			push(t, s, seqEvents(t, 160, 210)) // 150 pushed, 100 fit
			st := s.Stats()
			if st.Dropped[stage.DropQueueFull] != 50 || st.Depth != 100 || st.Capacity != 100 || !st.HasDepth {
				t.Fatalf("during the second outage: stats %+v", st)
			}
			col.start()
			testutil.Eventually(t, waitTimeout, "160 records accepted", func() bool { return s.Stats().Sent == 160 })
			if err := finish(); err != nil {
				t.Fatal(err)
			}
			if got := seqs(col.Records()); !slices.Equal(got, span(0, 160)) {
				t.Fatalf("the collector got %v, want 0…159 once each", got)
			}
			st = s.Stats()
			if st.Received != 210 || st.Sent != 160 || st.Dropped[stage.DropQueueFull] != 50 || st.Dropped[DropExportFailed] != 0 || st.Depth != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestWhenFullBlock: with when_full = "block", records that do not fit
// wait in Push while the collector is down — Push cannot return — and all
// arrive once it is up, none dropped; a Push whose context ends while it
// waits (a deadline far beyond the time decoding takes) returns the
// context's error and counts what it could not queue.
func TestWhenFullBlock(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			col := newCollector(t, protocol, nil) // not started: down
			s, logs := newSink(t, fast(col, map[string]any{"queue_size": 100, "when_full": "block"}))
			finish := run(t, s)
			pushed := make(chan error, 1)
			go func() {
				for _, b := range []*message.Batch{seqEvents(t, 0, 100), seqEvents(t, 100, 200), seqEvents(t, 200, 250)} {
					if err := s.Push(context.Background(), b); err != nil {
						pushed <- err
						return
					}
				}
				pushed <- nil
			}()
			testutil.Eventually(t, waitTimeout, "a failed export being retried", func() bool { return logs.contains("export failed; retrying") })
			testutil.Eventually(t, waitTimeout, "a full queue", func() bool { return s.Queued() == 100 })
			select {
			case err := <-pushed:
				t.Fatalf("Push returned (%v) with 250 records for a queue of 100 and no collector", err)
			default:
			}
			col.start()
			if err := <-pushed; err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, waitTimeout, "250 records accepted", func() bool { return s.Stats().Sent == 250 })
			if got := seqs(col.Records()); !slices.Equal(got, span(0, 250)) {
				t.Fatalf("the collector got %v, want 0…249 once each", got)
			}
			if d := s.Stats().Dropped[stage.DropQueueFull]; d != 0 {
				t.Fatalf("%d records dropped as queue_full in block mode", d)
			}

			col.stop()
			push(t, s, seqEvents(t, 250, 350)) // fills the queue
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if err := s.Push(ctx, seqEvents(t, 350, 380)); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Push whose context ends while it waits: %v", err)
			}
			if d := s.Stats().Dropped[stage.DropQueueFull]; d != 30 {
				t.Fatalf("queue_full %d after the canceled Push, want 30", d)
			}
			col.start()
			if err := finish(); err != nil {
				t.Fatal(err)
			}
			if st := s.Stats(); st.Sent != 350 {
				t.Fatalf("stats %+v, want 350 sent", st)
			}
		})
	}
}

// TestRetryHint: a collector that asks for a pause (RetryInfo over gRPC,
// Retry-After over HTTP) gets its next request no sooner, although the
// sink's own backoff is far shorter.
func TestRetryHint(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			col := startCollector(t, protocol, nil)
			col.then(reply{code: codes.ResourceExhausted, httpStatus: 429, message: "slow down", retryAfter: time.Second})
			s, _ := newSink(t, fast(col, map[string]any{"retry_max": "5s"}))
			finish := run(t, s)
			push(t, s, seqEvents(t, 0, 5))
			testutil.Eventually(t, waitTimeout, "5 records accepted", func() bool { return s.Stats().Sent == 5 })
			if err := finish(); err != nil {
				t.Fatal(err)
			}
			seen := col.Seen()
			if len(seen) != 2 {
				t.Fatalf("%d requests, want 2", len(seen))
			}
			if gap := seen[1].at.Sub(seen[0].at); gap < time.Second {
				t.Fatalf("retried after %s; the collector asked for 1s (the sink's own backoff is 5ms)", gap)
			}
		})
	}
}

// TestRetryableStatus: a collector answering Unavailable / 503 gets the
// same records again until it accepts them.
func TestRetryableStatus(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			col := startCollector(t, protocol, nil)
			col.then(reply{code: codes.Unavailable, httpStatus: 503, message: "busy"},
				reply{code: codes.ResourceExhausted, httpStatus: 429, message: "slow down"})
			s, _ := newSink(t, fast(col, nil))
			finish := run(t, s)
			push(t, s, seqEvents(t, 0, 10))
			if err := finish(); err != nil {
				t.Fatal(err)
			}
			if got := seqs(col.Records()); !slices.Equal(got, span(0, 10)) {
				t.Fatalf("got %v", got)
			}
			if n := len(col.Seen()); n != 3 {
				t.Fatalf("%d requests, want 3 (two refused, one accepted)", n)
			}
			if st := s.Stats(); st.Sent != 10 || st.Dropped[DropExportFailed] != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestRejected: a non-retryable failure (InvalidArgument / 400) drops the
// batch, counted; a partial success counts its rejected records and logs
// the collector's message.
func TestRejected(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			col := startCollector(t, protocol, nil)
			col.then(reply{code: codes.InvalidArgument, httpStatus: 400, message: "bad records"},
				reply{rejected: 3, message: "3 records too old"})
			s, logs := newSink(t, fast(col, map[string]any{"batch_size": 10, "batch_timeout": "1h"}))
			finish := run(t, s)
			push(t, s, seqEvents(t, 0, 10)) // a full batch: rejected
			testutil.Eventually(t, waitTimeout, "the rejected batch counted", func() bool { return s.Stats().Dropped[DropExportFailed] == 10 })
			push(t, s, seqEvents(t, 10, 20)) // a partial success
			testutil.Eventually(t, waitTimeout, "the partial success counted", func() bool { return s.Stats().Sent == 7 })
			if err := finish(); err != nil {
				t.Fatal(err)
			}
			st := s.Stats()
			if st.Sent != 7 || st.Dropped[DropExportFailed] != 13 {
				t.Fatalf("stats %+v", st)
			}
			if got := seqs(col.Records()); !slices.Equal(got, span(10, 17)) {
				t.Fatalf("collector kept %v", got)
			}
			if n := len(col.Seen()); n != 2 {
				t.Fatalf("%d requests: the rejected batch was retried", n)
			}
			if !logs.contains("bad records") || !logs.contains("3 records too old") {
				t.Fatal("the collector's messages are not in the log")
			}
		})
	}
}

// TestFlushOnClose: what is queued when the input closes arrives before
// Run returns.
func TestFlushOnClose(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			col := startCollector(t, protocol, nil)
			s, _ := newSink(t, fast(col, map[string]any{"batch_size": 100, "batch_timeout": "1h", "queue_size": 1000}))
			finish := run(t, s)
			push(t, s, seqEvents(t, 0, 250))
			if q := s.Queued(); q < 50 {
				t.Fatalf("only %d queued before closing", q)
			}
			if err := finish(); err != nil {
				t.Fatal(err)
			}
			if got := seqs(col.Records()); !slices.Equal(got, span(0, 250)) {
				t.Fatalf("after Run returned the collector has %d records", len(got))
			}
			if st := s.Stats(); st.Sent != 250 || st.Depth != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestFlushTimeout: with the collector down, Run returns about
// flush_timeout after CloseInput and counts what it could not send.
func TestFlushTimeout(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			col := newCollector(t, protocol, nil) // never started
			s, _ := newSink(t, fast(col, map[string]any{"flush_timeout": "200ms", "retry_initial": "20ms", "retry_max": "1s"}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			push(t, s, seqEvents(t, 0, 42))
			start := time.Now()
			s.CloseInput()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return")
			}
			took := time.Since(start)
			if took < 200*time.Millisecond || took > 2*time.Second {
				t.Fatalf("Run returned %v after CloseInput, want about 200ms", took)
			}
			if st := s.Stats(); st.Dropped[DropExportFailed] != 42 || st.Depth != 0 || st.Sent != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestContextEnds: Run returns when its context ends, counting what is
// queued.
func TestContextEnds(t *testing.T) {
	col := newCollector(t, ProtocolGRPC, nil)
	s, _ := newSink(t, fast(col, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	push(t, s, seqEvents(t, 0, 7))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Dropped[DropExportFailed] != 7 || st.Depth != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBadInput: messages without four frames, of unknown formats or with
// payloads that do not decode are counted, and the good ones go on.
func TestBadInput(t *testing.T) {
	col := startCollector(t, ProtocolGRPC, nil)
	s, logs := newSink(t, fast(col, nil))
	finish := run(t, s)
	good := zeektest.MustVector(t, "zeek-event-test_event.hex")
	push(t, s, stagetest.Batch(
		stagetest.Msg("topic", "node", codec.FormatBrokerBin), // three frames
		stagetest.Msg("only one frame"),
		stagetest.Msg("topic", "node", "no-such-format", "x"),
		stagetest.Msg("topic", "node", codec.FormatBrokerBin, "\xff\x00garbage"),
		stagetest.Msg("log-write", "node", codec.FormatZeekLog, "\x00\x00\x00\x05trunc"),
		good,
		stagetest.Msg("topic", "node", codec.FormatBrokerBin, ""),
	))
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Received != 7 || st.Dropped[stage.DropMalformed] != 5 || st.Dropped[stage.DropNoCodec] != 1 || st.Sent != 1 {
		t.Fatalf("stats %+v", st)
	}
	if len(col.Records()) != 1 || !logs.contains("dropped") {
		t.Fatal("the good event did not arrive alone, or nothing was logged")
	}
}

// TestBadConfig: New rejects bad attributes, naming them.
func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := stage.Env{Component: "sink.otlp.bad", Codecs: stagetest.Codecs(t)}
	for _, c := range []struct {
		config map[string]any
		want   string
	}{
		{map[string]any{"endpoint": ""}, `attribute "endpoint"`},
		{map[string]any{"endpoint": "collector"}, `attribute "endpoint"`},
		{map[string]any{"endpoint": "http://collector:4317"}, `attribute "endpoint"`},
		{map[string]any{"endpoint": "collector:4318", "protocol": "http"}, `attribute "endpoint"`},
		{map[string]any{"endpoint": "ftp://collector:4318", "protocol": "http"}, `attribute "endpoint"`},
		{map[string]any{"endpoint": "c:4317", "protocol": "udp"}, `attribute "protocol"`},
		{map[string]any{"endpoint": "c:4317", "compression": "zstd"}, `attribute "compression"`},
		{map[string]any{"endpoint": "c:4317", "ca_file": filepath.Join(dir, "missing.pem")}, `attribute "ca_file"`},
		{map[string]any{"endpoint": "c:4317", "ca_file": notPEM}, `attribute "ca_file"`},
		{map[string]any{"endpoint": "c:4317", "cert_file": notPEM}, `attribute "key_file"`},
		{map[string]any{"endpoint": "c:4317", "key_file": notPEM}, `attribute "cert_file"`},
		{map[string]any{"endpoint": "c:4317", "cert_file": notPEM, "key_file": notPEM}, `attribute "cert_file"`},
		{map[string]any{"endpoint": "c:4317", "insecure": true, "ca_file": notPEM}, `attribute "insecure"`},
		{map[string]any{"endpoint": "http://c:4318", "protocol": "http", "ca_file": notPEM}, `attribute "endpoint"`},
		{map[string]any{"endpoint": "c:4317", "timeout": "0s"}, `attribute "timeout"`},
		{map[string]any{"endpoint": "c:4317", "batch_timeout": "soon"}, `attribute "batch_timeout"`},
		{map[string]any{"endpoint": "c:4317", "flush_timeout": "-1s"}, `attribute "flush_timeout"`},
		{map[string]any{"endpoint": "c:4317", "retry_initial": "10s", "retry_max": "1s"}, `attribute "retry_max"`},
		{map[string]any{"endpoint": "c:4317", "batch_size": 0}, `attribute "batch_size"`},
		{map[string]any{"endpoint": "c:4317", "batch_size": 1.5}, `attribute "batch_size"`},
		{map[string]any{"endpoint": "c:4317", "queue_size": -1}, `attribute "queue_size"`},
		{map[string]any{"endpoint": "c:4317", "batch_size": 100, "queue_size": 10}, `attribute "batch_size"`},
		{map[string]any{"endpoint": "c:4317", "headers": map[string]string{"bad header": "x"}}, `attribute "headers"`},
		{map[string]any{"endpoint": "c:4317", "headers": map[string]string{"x": "a\r\nb"}}, `attribute "headers"`},
	} {
		_, err := Kind.New(env, withDefaults(t, c.config))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			cfg, _ := json.Marshal(c.config)
			t.Errorf("%s: error %v, want %s", cfg, err, c.want)
		}
	}
	if _, err := Kind.New(stage.Env{}, withDefaults(t, map[string]any{"endpoint": "c:4317"})); err == nil || !strings.Contains(err.Error(), "codecs") {
		t.Errorf("without codecs: %v", err)
	}
}

// TestGoodConfig: the schema is valid, its defaults make a sink, and an
// HTTP endpoint without a path gets /v1/logs.
func TestGoodConfig(t *testing.T) {
	if _, err := stage.NewRegistry(Kind); err != nil {
		t.Fatal(err)
	}
	for endpoint, want := range map[string]string{
		"http://c:4318":         "http://c:4318/v1/logs",
		"https://c:4318/":       "https://c:4318/v1/logs",
		"http://c:4318/otlp/v1": "http://c:4318/otlp/v1",
	} {
		set, err := parse(withDefaults(t, map[string]any{"endpoint": endpoint, "protocol": "http"}))
		if err != nil || set.endpoint != want {
			t.Errorf("%s: %v, endpoint %q, want %q", endpoint, err, set.endpoint, want)
		}
	}
	set, err := parse(withDefaults(t, map[string]any{"endpoint": "c:4317"}))
	if err != nil {
		t.Fatal(err)
	}
	if set.protocol != "grpc" || set.insecure || !set.gzip || set.timeout != 10*time.Second || set.batchSize != 512 ||
		set.batchTimeout != time.Second || set.queueSize != 10000 || set.retryInitial != time.Second ||
		set.retryMax != 30*time.Second || set.flushTimeout != 5*time.Second || set.resource["service.name"] != "zeek" || set.tls == nil {
		t.Fatalf("defaults %+v", set)
	}
	// Without the loader's defaults (a bare configuration) the same.
	bare, err := parse([]byte(`{"endpoint":"c:4317"}`))
	if err != nil || bare.batchSize != 512 || bare.resource["service.name"] != "zeek" {
		t.Fatalf("bare: %v %+v", err, bare)
	}
}
