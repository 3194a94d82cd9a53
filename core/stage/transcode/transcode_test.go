package transcode

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/codec/brokerbin"
	"github.com/zpipe/zpipe/core/codec/brokerjson"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
	"github.com/zpipe/zpipe/internal/zeektest"
)

func newStage(t *testing.T, out stage.Inlet, config string) stage.Stage {
	t.Helper()
	env := stagetest.Env(t, out)
	env.Codecs = stagetest.Codecs(t)
	s, err := Kind.New(env, []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func vector(t *testing.T, name string) [][]byte {
	t.Helper()
	frames, err := zeektest.LoadVector(name)
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

// TestBinToJSON: a captured broker-bin-v1 event comes out as the
// broker-json-v1 payload of the same event, topic and sender unchanged;
// a message already in the target format passes untouched.
func TestBinToJSON(t *testing.T) {
	var out stagetest.Collector
	s := newStage(t, &out, `{"to":"broker-json-v1","from":[],"unhandled":"pass"}`)
	ev := vector(t, "zeek-event-test_event.hex")
	already := stagetest.Msg("t", "n", "broker-json-v1", `{"already":"json"}`)
	if err := s.Push(context.Background(), stagetest.Batch(ev, already)); err != nil {
		t.Fatal(err)
	}
	got := out.Messages()
	if len(got) != 2 {
		t.Fatalf("passed on %d messages", len(got))
	}
	decoded, err := brokerbin.Codec{}.DecodeEvent(ev[3])
	if err != nil {
		t.Fatal(err)
	}
	want, err := brokerjson.Codec{}.AppendEvent(nil, &decoded)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0][0], ev[0]) || !bytes.Equal(got[0][1], ev[1]) || string(got[0][2]) != "broker-json-v1" || !bytes.Equal(got[0][3], want) {
		t.Fatalf("transcoded to %q", got[0])
	}
	if !bytes.Equal(bytes.Join(got[1], nil), bytes.Join(already, nil)) {
		t.Fatalf("a message in the target format changed: %q", got[1])
	}
	// And back: broker-json-v1 → broker-bin-v1 gives Zeek's bytes again.
	var back stagetest.Collector
	r := newStage(t, &back, `{"to":"broker-bin-v1","from":["broker-json-v1"],"unhandled":"pass"}`)
	if err := r.Push(context.Background(), stagetest.Batch(got[0])); err != nil {
		t.Fatal(err)
	}
	if b := back.Messages(); len(b) != 1 || !bytes.Equal(b[0][3], ev[3]) || string(b[0][2]) != "broker-bin-v1" {
		t.Fatalf("round trip gave %q", b)
	}
	if st := s.Stats(); st.Received != 2 || st.Sent != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestUnhandledAndBadInput: unknown formats and three-frame messages pass
// or drop as configured; payloads that do not decode, and documents the
// target cannot hold, are dropped and counted; the rest of the batch is
// unharmed and keeps its order.
func TestUnhandledAndBadInput(t *testing.T) {
	ev := vector(t, "zeek-event-test_event.hex")
	logBatch := vector(t, "zeek-log-conn-1rec-a.hex")
	unknown := stagetest.Msg("t", "n", "no-such-format", "x")
	short := stagetest.Msg("t", "n", "broker-bin-v1")
	corrupt := stagetest.Msg("t", "n", "broker-bin-v1", "\x0e\x03garbage")
	in := stagetest.Batch(unknown, ev, short, corrupt, logBatch, ev)

	var pass stagetest.Collector
	s := newStage(t, &pass, `{"to":"broker-json-v1","from":[],"unhandled":"pass"}`)
	if err := s.Push(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	var formats []string
	for _, m := range pass.Messages() {
		formats = append(formats, string(m[min(2, len(m)-1)]))
	}
	if got := strings.Join(formats, " "); got != "no-such-format broker-json-v1 broker-bin-v1 broker-json-v1" {
		t.Fatalf("passed on formats %q", got)
	}
	st := s.Stats()
	if st.Undecoded != 2 || st.Dropped[stage.DropMalformed] != 1 || st.Dropped[stage.DropEncodeFailed] != 1 || st.Sent != 4 {
		t.Fatalf("stats %+v", st)
	}

	var drop stagetest.Collector
	d := newStage(t, &drop, `{"to":"broker-json-v1","from":[],"unhandled":"drop"}`)
	if err := d.Push(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	st = d.Stats()
	if len(drop.Messages()) != 2 || st.Dropped[stage.DropNoCodec] != 1 || st.Dropped[stage.DropMalformed] != 2 || st.Undecoded != 0 {
		t.Fatalf("passed on %d, stats %+v", len(drop.Messages()), st)
	}
}

// TestUnknownTarget: a target format no codec encodes stops the stage
// from being made, with the formats that exist in the error.
func TestUnknownTarget(t *testing.T) {
	env := stagetest.Env(t, &stagetest.Collector{})
	env.Codecs = stagetest.Codecs(t)
	_, err := Kind.New(env, []byte(`{"to":"broker-bin-v2","from":[],"unhandled":"pass"}`))
	if err == nil || !strings.Contains(err.Error(), `attribute "to": no codec can encode format "broker-bin-v2"`) || !strings.Contains(err.Error(), "broker-json-v1") {
		t.Fatalf("error %v", err)
	}
	env.Codecs = nil
	if _, err := Kind.New(env, []byte(`{"to":"broker-json-v1"}`)); err == nil || !strings.Contains(err.Error(), "no codecs") {
		t.Fatalf("without codecs: %v", err)
	}
}
