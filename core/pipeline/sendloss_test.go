package pipeline

import (
	"context"
	"testing"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
)

// reportingClient stands for a plugin host whose send stream reports each
// batch through OnAck with a fixed outcome, as core/plugin's host does when
// a plugin dies with batches in flight (tested there with a real plugin).
type reportingClient struct {
	transport.Client
	outcome transport.SendResult
}

func (c reportingClient) Sender(_ context.Context, _ string, opts transport.SendOptions) (transport.Sender, error) {
	return reportingSender{onAck: opts.OnAck, outcome: c.outcome}, nil
}

type reportingSender struct {
	onAck   func(transport.SendResult)
	outcome transport.SendResult
}

func (s reportingSender) Send(_ context.Context, b *message.Batch) error {
	r := s.outcome
	r.Dropped = b.Len()
	s.onAck(r)
	return nil
}

func (reportingSender) Close() error { return nil }

// TestSendLossCounted: messages the plugin host reports lost on their way
// to a plugin (it died, or the stream failed) are counted by socket and
// reason, and survive the sender's close; drops the plugin counts itself
// (hwm) are not counted twice.
func TestSendLossCounted(t *testing.T) {
	for _, tc := range []struct {
		reason string
		want   map[string]uint64
	}{
		{transport.DropPluginRestart, map[string]uint64{transport.DropPluginRestart: 3, transport.DropStreamError: 0}},
		{transport.DropStreamError, map[string]uint64{transport.DropPluginRestart: 0, transport.DropStreamError: 3}},
		{transport.DropHWM, map[string]uint64{transport.DropPluginRestart: 0, transport.DropStreamError: 0}},
	} {
		ss := newSenderSet(reportingClient{outcome: transport.SendResult{DropReason: tc.reason}})
		s, err := ss.get(context.Background(), "out")
		if err != nil {
			t.Fatal(err)
		}
		var b message.Batch
		for range 3 {
			b.Append([]byte("m"))
		}
		if err := s.Push(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		ss.closeAll()
		got := ss.lost()["out"]
		for reason, n := range tc.want {
			if got[reason] != n {
				t.Errorf("%s reported: %s counted %d, want %d", tc.reason, reason, got[reason], n)
			}
		}
	}
}
