package registry

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/zpipe/zpipe/core/codec"
	"github.com/zpipe/zpipe/core/codec/batch"
	"github.com/zpipe/zpipe/core/codec/builtin"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	"github.com/zpipe/zpipe/core/codec/zeeklog"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/internal/vectors"
)

// recordingCodec wraps a codec and records its calls and the largest
// batch of payload bytes it was handed.
type recordingCodec struct {
	*batch.Local
	mu                      sync.Mutex
	decodes, renders, maxIn int
	failRender              error
}

var _ batch.Renderer = (*recordingCodec)(nil)

func (c *recordingCodec) note(in *batch.Items, render bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if render {
		c.renders++
	} else {
		c.decodes++
	}
	c.maxIn = max(c.maxIn, len(in.Data))
}

func (c *recordingCodec) Decode(ctx context.Context, format string, in *batch.Items, out *batch.Result) error {
	c.note(in, false)
	return c.Local.Decode(ctx, format, in, out)
}

func (c *recordingCodec) Render(ctx context.Context, format, target string, in *batch.Items, out *batch.RenderResult) error {
	c.note(in, true)
	if c.failRender != nil {
		return c.failRender
	}
	return c.Local.Render(ctx, format, target, in, out)
}

// renderedLines renders a log-write payload as the file writer does from
// decoded values.
func renderedLines(t *testing.T, payload []byte) []byte {
	t.Helper()
	b, err := zeeklog.Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := zeekascii.AppendRecords(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestRenderMessages renders a batch of several megabytes of log batches
// with every other kind of message among them: the log batches come back
// rendered, chunk by chunk and in order, no codec request holding much
// more than a chunk; the events are decoded; the rest is passed on or
// failed as DecodeMessages does.
func TestRenderMessages(t *testing.T) {
	rec := &recordingCodec{Local: mustLocal(t, builtin.Zeek()...)}
	r := New(nil, LocalSource("codec-zeek", rec))
	hello := vectors.Load(t, "derived/event-zmq-hello.hex")
	conn := vectors.Load(t, "captured/zeek-log-conn-7rec.hex")
	dns := vectors.Load(t, "captured/zeek-log-dns-8rec.hex")
	var msgs message.Batch
	const logs = 2000
	for i := range logs {
		switch {
		case i == 100:
			msgs.Append(hello...) // event
		case i == 700:
			msgs.Append(hello[0], hello[1], []byte("broker-json-v1"), []byte(`{}`)) // nobody decodes it here
		case i == 1200:
			msgs.Append(conn[0], conn[1], conn[2], conn[3][:50]) // bad payload
		case i == 1500:
			msgs.Append([]byte("one frame"))
		case i%3 == 0:
			msgs.Append(dns...)
		default:
			msgs.Append(conn...)
		}
	}
	connLines, dnsLines := renderedLines(t, conn[3]), renderedLines(t, dns[3])
	chunks, next := 0, 0
	err := r.RenderMessages(context.Background(), &msgs, zeekascii.Format, PassUndecoded, func(got []Message) error {
		chunks++
		for _, m := range got {
			if m.Index != next {
				t.Fatalf("message %d came as %d", m.Index, next)
			}
			next++
			switch i := m.Index; {
			case i == 100:
				if m.Event == nil || m.Rendered != nil {
					t.Fatalf("event: %+v", m)
				}
			case i == 700:
				if !m.Undecoded || m.Format != "broker-json-v1" {
					t.Fatalf("unhandled: %+v", m)
				}
			case i == 1200:
				if m.Err == nil || m.Rendered != nil || !strings.Contains(m.Err.Error(), "zeeklog") {
					t.Fatalf("bad payload: %+v", m)
				}
			case i == 1500:
				if !m.Undecoded || m.Format != "" {
					t.Fatalf("one frame: %+v", m)
				}
			default:
				want, path := connLines, "conn"
				if i%3 == 0 {
					want, path = dnsLines, "dns"
				}
				if m.Rendered == nil || m.Log != nil || !bytes.Equal(m.Rendered.Lines, want) || m.Rendered.Log.Path != path ||
					m.Rendered.Records != bytes.Count(want, []byte("\n")) || len(m.Rendered.Log.Fields) == 0 || m.Topic != string(conn[0]) {
					t.Fatalf("message %d: %+v", i, m)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next != logs || chunks < 3 {
		t.Fatalf("%d messages in %d chunks", next, chunks)
	}
	if rec.maxIn > renderChunkBytes+max(len(conn[3]), len(dns[3])) || rec.decodes == 0 || rec.renders < 3 {
		t.Fatalf("codec calls: %d renders, %d decodes, largest %d bytes", rec.renders, rec.decodes, rec.maxIn)
	}
	st := r.Stats()
	if st.Decoded[codec.FormatZeekLog] != logs-4 || st.Failed[codec.FormatZeekLog] != 1 || st.Decoded[codec.FormatBrokerBin] != 1 ||
		st.Unhandled["broker-json-v1"] != 1 || st.Malformed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRenderMessagesDecodesWhatDoesNotRender: a codec that does not render
// the format (or not into the target) has its payloads decoded instead.
func TestRenderMessagesDecodesWhatDoesNotRender(t *testing.T) {
	logs := builtin.Zeek()
	for i := range logs {
		logs[i].Renders = nil
	}
	for name, r := range map[string]*Registry{
		"no renders":   New(nil, LocalSource("codec-zeek", mustLocal(t, logs...))),
		"other target": New(nil, LocalSource("codec-zeek", mustLocal(t, builtin.Zeek()...))),
	} {
		target := zeekascii.Format
		if name == "other target" {
			target = "zeek-xml"
		}
		var msgs message.Batch
		msgs.Append(vectors.Load(t, "captured/zeek-log-conn-7rec.hex")...)
		err := r.RenderMessages(context.Background(), &msgs, target, PassUndecoded, func(got []Message) error {
			if len(got) != 1 || got[0].Rendered != nil || got[0].Log == nil || len(got[0].Log.Records) != 7 {
				t.Fatalf("%s: %+v", name, got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestRenderMessagesErrors: an error of fn or of the codec ends the call
// with it; the chunks before were handled.
func TestRenderMessagesErrors(t *testing.T) {
	conn := vectors.Load(t, "captured/zeek-log-conn-7rec.hex")
	var msgs message.Batch
	for range 2000 {
		msgs.Append(conn...)
	}
	stop := errors.New("stop")
	r := New(nil, LocalSource("codec-zeek", mustLocal(t, builtin.Zeek()...)))
	calls := 0
	err := r.RenderMessages(context.Background(), &msgs, zeekascii.Format, PassUndecoded, func([]Message) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("fn error: %v after %d calls", err, calls)
	}
	broken := errors.New("codec gone")
	r = New(nil, LocalSource("codec-zeek", &recordingCodec{Local: mustLocal(t, builtin.Zeek()...), failRender: broken}))
	err = r.RenderMessages(context.Background(), &msgs, zeekascii.Format, PassUndecoded, func([]Message) error {
		t.Fatal("fn called after the codec failed")
		return nil
	})
	if !errors.Is(err, broken) {
		t.Fatalf("codec error: %v", err)
	}
}
