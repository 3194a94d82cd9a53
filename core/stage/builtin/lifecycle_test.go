package builtin

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/msgfile"
	"github.com/zpipe/zpipe/core/stage/stagetest"
	"github.com/zpipe/zpipe/internal/testutil"
)

// values gives a value to every required attribute of the built-in kinds,
// and to those whose default a kind does not accept on its own, by block
// class and kind name. The other attributes keep their defaults.
func values(t *testing.T) map[string]map[string]any {
	var b message.Batch
	b.Append([]byte("topic"), []byte("payload"))
	replay := filepath.Join(t.TempDir(), "replay.zpmsg")
	if err := os.WriteFile(replay, msgfile.AppendBatch([]byte(msgfile.Magic), &b), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]map[string]any{
		"stage/transcode": {"to": "broker-json-v1"},
		"stage/subscribe": {"topics": []string{"zeek/"}},
		"sink/file":       {"dir": t.TempDir()},
		"sink/otlp":       {"endpoint": "127.0.0.1:1"},
		"source/file":     {"path": replay},
	}
}

// TestLifecycle: every built-in kind, configured with its schema's defaults
// (and the values above), is made, runs, takes a message (a source
// replays one), is closed, and accounts for what it took: a stage passes
// it on or counts it dropped, a sink counts it received.
func TestLifecycle(t *testing.T) {
	values := values(t)
	for _, k := range Kinds() {
		key := k.Class() + "/" + k.Name
		t.Run(key, func(t *testing.T) {
			cfg := map[string]any{}
			for _, a := range k.Schema.Attributes {
				cfg[a.Name] = a.Default
				if v, ok := values[key][a.Name]; ok {
					cfg[a.Name] = v
				} else if a.Required {
					t.Fatalf("required attribute %q has no value in the test's table", a.Name)
				}
			}
			for name := range values[key] {
				if _, ok := k.Schema.Lookup(name); !ok {
					t.Fatalf("the test's table sets %q, an attribute the kind does not have", name)
				}
			}
			raw, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			out := &stagetest.Collector{}
			env := stagetest.Env(t, out)
			if k.Sink {
				env.Out = nil
			}
			env.Codecs = stagetest.Codecs(t)
			env.Upstream = &stagetest.Collector{}
			s, err := k.New(env, raw)
			if err != nil {
				t.Fatalf("new with %s: %v", raw, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			if k.Source {
				testutil.Eventually(t, time.Minute, "the replay of the file's message", func() bool { return s.Stats().Sent == 1 })
			} else {
				if err := s.Push(ctx, stagetest.Batch(stagetest.Msg("topic", "payload"))); err != nil {
					t.Fatalf("push: %v", err)
				}
			}
			s.CloseInput()
			if err := <-done; err != nil {
				t.Fatalf("run: %v", err)
			}
			st := s.Stats()
			var dropped uint64
			for _, n := range st.Dropped {
				dropped += n
			}
			switch {
			case k.Source:
				if len(out.Messages()) != 1 {
					t.Fatalf("passed on %d messages, want 1: %+v", len(out.Messages()), st)
				}
			case k.Sink:
				if st.Received != 1 {
					t.Fatalf("took %d messages, want 1: %+v", st.Received, st)
				}
			case st.Received != 1 || st.Sent+dropped != 1:
				t.Fatalf("took %d messages, passed on or wrote %d and dropped %d; want 1 taken and accounted for: %+v", st.Received, st.Sent, dropped, st)
			}
			if !k.Sink && !k.Source && uint64(len(out.Messages())) != st.Sent {
				t.Fatalf("passed on %d messages, counted %d", len(out.Messages()), st.Sent)
			}
		})
	}
}
