package filter

import (
	"context"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
	"github.com/zpipe/zpipe/internal/zeektest"
)

func newFilter(t *testing.T, out stage.Inlet, config string, withCodecs bool) stage.Stage {
	t.Helper()
	env := stagetest.Env(t, out)
	if withCodecs {
		env.Codecs = stagetest.Codecs(t)
	}
	s, err := Kind.New(env, []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func topics(msgs [][][]byte) string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m[0]))
	}
	return strings.Join(out, " ")
}

func TestFrameConditions(t *testing.T) {
	var out stagetest.Collector
	s := newFilter(t, &out, `{"topics":["zeek.cluster.","zeek.test"],"exclude_topics":["zeek.cluster.nodeid."],"formats":["broker-bin-v1"],"events":[],"log_paths":[]}`, false)
	in := stagetest.Batch(
		stagetest.Msg("zeek.cluster.worker", "n", "broker-bin-v1", "p"),
		stagetest.Msg("zeek.cluster.nodeid.x.", "n", "broker-bin-v1", "p"),
		stagetest.Msg("zeek.test.events", "n", "broker-json-v1", "p"),
		stagetest.Msg("zeek.test.events", "n", "broker-bin-v1", "p"),
		stagetest.Msg("other", "n", "broker-bin-v1", "p"),
		stagetest.Msg("zeek.test.short", "n", "broker-bin-v1"),
	)
	if err := s.Push(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if got := topics(out.Messages()); got != "zeek.cluster.worker zeek.test.events" {
		t.Fatalf("kept %q", got)
	}
	if st := s.Stats(); st.Received != 6 || st.Sent != 2 || st.Dropped[stage.DropFiltered] != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPayloadConditions: event names and log paths from captured Zeek
// messages; undecodable and unknown payloads are counted apart.
func TestPayloadConditions(t *testing.T) {
	load := func(name string) [][]byte {
		f, err := zeektest.LoadVector(name)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	testEvent := load("zeek-event-test_event.hex")
	hello := load("zeek-event-zeromq-hello.hex")
	conn := load("zeek-log-conn-1rec-a.hex")
	dns := load("zeek-log-dns-8rec.hex")
	unknown := stagetest.Msg("t", "n", "no-such-format", "x")
	corrupt := stagetest.Msg("t", "n", "broker-bin-v1", "\x0e\x03garbage")

	var out stagetest.Collector
	s := newFilter(t, &out, `{"topics":[],"exclude_topics":[],"formats":[],"events":["test_event"],"log_paths":["dns"]}`, true)
	if err := s.Push(context.Background(), stagetest.Batch(testEvent, hello, conn, dns, unknown, corrupt)); err != nil {
		t.Fatal(err)
	}
	got := out.Messages()
	if len(got) != 2 || topics(got) != string(testEvent[0])+" "+string(dns[0]) {
		t.Fatalf("kept %q", topics(got))
	}
	st := s.Stats()
	if st.Dropped[stage.DropFiltered] != 2 || st.Dropped[stage.DropNoCodec] != 1 || st.Dropped[stage.DropMalformed] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPayloadConditionsNeedCodecs(t *testing.T) {
	_, err := Kind.New(stagetest.Env(t, &stagetest.Collector{}), []byte(`{"events":["x"]}`))
	if err == nil || !strings.Contains(err.Error(), "no codecs") {
		t.Fatalf("error %v", err)
	}
}
