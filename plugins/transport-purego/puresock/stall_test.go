package puresock

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/internal/syncbuf"
	"github.com/zpipe/zpipe/internal/testutil"
)

// TestXPubStallEpisode: a subscriber that stops reading is stalled when
// the sender gives up on it (PublishStalling): it misses messages without
// further refusals while the other subscriber gets every one; its misses
// are counted exactly, once per message for the socket; each episode is
// logged once at warning level with the peer's label and address, and
// its end, once it has read its queue, at info level with the number of
// messages missed; then it gets messages again. (The subscriber's libzmq
// goes on taking from its connection for a while after the first
// refusal, so a loaded machine may see it recover and stall again: each
// episode is accounted for.)
func TestXPubStallEpisode(t *testing.T) {
	var logs syncbuf.Buffer
	s := newSocket(t, XPub, func(o *Options) {
		o.SendHWM, o.SendBuffer, o.XPubNoDrop = 10, 4096, true
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), &logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.PeerLabel = func(prefix []byte) (string, bool) {
			label, ok := bytes.CutPrefix(prefix, []byte("id."))
			return string(label), ok
		}
	})
	ep := bind(t, s, "tcp://127.0.0.1:*")
	ctx := peerContext(t)
	slow := peerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
		for _, err := range []error{p.SetRcvhwm(10), p.SetRcvbuf(4096), p.SetSubscribe("id.slow"), p.SetSubscribe("t")} {
			if err != nil {
				return err
			}
		}
		return p.Connect(ep)
	})
	fast := peerSocket(t, ctx, zmq.SUB, func(p *zmq.Socket) error {
		for _, err := range []error{p.SetSubscribe("id.fast"), p.SetSubscribe("t")} {
			if err != nil {
				return err
			}
		}
		return p.Connect(ep)
	})
	for range 3 { // t once (not verbose), both ids
		recv(t, s)
	}

	payload := bytes.Repeat([]byte{'p'}, 16<<10)
	const n = 300
	refused := 0
	for i := range n {
		msg := [][]byte{[]byte("t"), []byte(strconv.Itoa(i)), payload}
		if err := s.TrySend(msg); errors.Is(err, ErrWouldBlock) {
			refused++
			if reached, err := s.PublishStalling(msg); err != nil || !reached {
				t.Fatalf("publish %d past the full subscriber: reached %v, %v", i, reached, err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		if got := recvPeer(t, fast); string(got[1]) != strconv.Itoa(i) {
			t.Fatalf("fast subscriber got %s, want %d", show(got[:2]), i)
		}
	}
	peers := map[string]PeerStats{}
	for _, p := range s.PeerStats() {
		peers[p.Label] = p
	}
	st, ft := peers["slow"], peers["fast"]
	c := s.Counters()
	if st.Missed == 0 || st.Missed != c.StalledPeer || !st.Stalled || st.Stalls == 0 || !st.Connected || st.Address == "" {
		t.Fatalf("slow subscriber %+v; counters %+v", st, c)
	}
	if refused != int(st.Stalls) {
		t.Errorf("%d messages refused in %d stall episodes; want one refusal each, the one that began it", refused, st.Stalls)
	}
	if ft.Missed != 0 || ft.Stalled || ft.Stalls != 0 {
		t.Fatalf("fast subscriber %+v", ft)
	}
	if c.PeerStalled != st.Stalls {
		t.Errorf("counters %+v: want %d stall episodes", c, st.Stalls)
	}
	warns := linesWith(logs.String(), "level=WARN", "subscriber stalled")
	if len(warns) != int(st.Stalls) {
		t.Fatalf("%d warnings about %d stall episodes: %q", len(warns), st.Stalls, warns)
	}
	for _, w := range warns {
		if !strings.Contains(w, "zeek_node_id=slow") || !strings.Contains(w, "peer="+st.Address) || !strings.Contains(w, "queued_messages=") {
			t.Fatalf("warning about the stall: %q", w)
		}
	}

	// The slow subscriber reads its queue: it gets what it did not miss,
	// in order, and recovers.
	got := 0
	for last := -1; ; {
		msg, ok := tryRecvPeer(t, slow)
		if !ok {
			break
		}
		seq, _ := strconv.Atoi(string(msg[1]))
		if seq <= last {
			t.Fatalf("slow subscriber: %d after %d", seq, last)
		}
		last, got = seq, got+1
	}
	if got != n-int(st.Missed) {
		t.Fatalf("slow subscriber got %d of %d, %d counted as missed", got, n, st.Missed)
	}
	// Every episode ended, and together they missed what was counted.
	testutil.Eventually(t, waitFor, "the recovery", func() bool {
		lines := linesWith(logs.String(), "level=INFO", "subscriber recovered")
		var missed uint64
		for _, l := range lines {
			_, after, _ := strings.Cut(l, " missed=")
			if f := strings.Fields(after); len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				missed += n
			}
		}
		return len(lines) == int(st.Stalls) && missed == st.Missed
	})
	if err := s.TrySend([][]byte{[]byte("t"), []byte("after")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*zmq.Socket{fast, slow} {
		if got := recvPeer(t, p); string(got[1]) != "after" {
			t.Fatalf("after the recovery: got %s", show(got))
		}
	}
	if p := s.PeerStats(); len(p) != 2 || p[0].Stalled || p[1].Stalled {
		t.Fatalf("peers after the recovery %+v", p)
	}
}

// linesWith returns the lines of log that contain every one of words.
func linesWith(log string, words ...string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}
