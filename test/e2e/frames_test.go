package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// TestOversizeMessages: pipelines/zeek-broker.hcl with its defaults
// (max_message_bytes 64 MiB, max_message_frames 1024). One publisher
// (a raw ZMTP peer) announces a frame of 70 MiB, another sends a message
// of 200,000 empty frames,
// while a third keeps publishing numbered events to a subscriber. Both
// offenders are disconnected, each message is counted (oversize) and the
// event too (peer_oversize), and every event of the good publisher
// arrives, in order. With cgo, libzmq refuses the huge frame itself
// (ZMQ_MAXMSGSIZE) and reports only a disconnect, so only the flood is
// counted there (README, "Limits on what peers send"). make stress sends
// an 800 MiB frame and 20 million empty frames, and records the broker's
// peak memory and the longest pause in the good publisher's events.
func TestOversizeMessages(t *testing.T) {
	const (
		topic = "zeek.test.frames"
		// The good publisher sends at least count events, in rounds of
		// round, until both offenders are disconnected.
		count = 20000
		round = 20
	)
	hugeBytes, floodFrames := stressSize(70<<20, 800<<20), stressSize(200000, 20000000)
	forEachZpipe(t, func(t *testing.T, kind brokerproc.Kind) {
		b := StartBroker(t, kind)
		ctx := waitCtx(t, stressSize(90*time.Second, 5*time.Minute))
		sub := startNode(t, b, zeektest.Config{Name: "manager", Role: "manager", NoHello: true, Topics: []string{topic}})
		if err := sub.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		good := startNode(t, b, zeektest.Config{Name: "worker-1", NoStartupSubscriptions: true, NoHello: true, XPubSndHWM: zeektest.Unlimited})
		if err := good.WaitSubscriptionSeen(ctx, topic); err != nil {
			t.Fatal(err)
		}
		big, many := dialRawPublisher(t, b.Endpoints().XSub), dialRawPublisher(t, b.Endpoints().XSub)
		rss := watchRSS(t, b.PID())
		cpuBefore, err := b.CPUTime()
		if err != nil {
			t.Fatal(err)
		}

		// The offenders send straight from the test, so that what is
		// measured is the broker's work: an 800 MiB frame is announced and
		// sent until the broker ends the connection; the flood is 2 bytes
		// a frame.
		go big.send(append(zmtpFrame(true, []byte(topic)), zmtpLongHeader(false, uint64(hugeBytes))...), hugeBytes)
		flood := zmtpFrame(true, []byte(topic))
		flood = append(flood, bytes.Repeat([]byte{0x01, 0x00}, floodFrames-1)...)
		flood = append(flood, 0x00, 0x00)
		go many.send(flood, 0)
		disconnected := func(p *rawPeer) bool {
			select {
			case <-p.gone:
				return true
			default:
				return false
			}
		}
		disconnectBy := time.Now().Add(stressSize(waitTimeout, 3*time.Minute))
		sent := 0
		for sent < count || !disconnected(big) || !disconnected(many) {
			if time.Now().After(disconnectBy) {
				for name, p := range map[string]*rawPeer{"the huge frame's sender": big, "the flood's sender": many} {
					if !disconnected(p) {
						t.Fatalf("%s: %s was not disconnected", kind, name)
					}
				}
			}
			for range round {
				if err := good.PublishEvent(topic, "Test::seq", uint64(sent)); err != nil {
					t.Fatal(err)
				}
				sent++
			}
			time.Sleep(time.Millisecond)
		}

		// Counted as drops and as events.
		counted := 2.0
		if kind == brokerproc.Zpipe {
			counted = 1
		}
		if err := waitSeries(ctx, t, b, "zpipe_messages_dropped_total", "error_type", "oversize", counted); err != nil {
			t.Fatal(err)
		}
		if err := waitSeries(ctx, t, b, "zpipe_socket_events_total", "event", "peer_oversize", counted); err != nil {
			t.Fatal(err)
		}
		// The good publisher's events all arrive, in order.
		got, _ := waitQuiet(ctx, t, sub, topic, sent, stressSize(5*time.Second, 20*time.Second))
		var pause time.Duration
		var last time.Time
		next := uint64(0)
		for _, m := range sub.Received() {
			if m.Topic() != topic {
				continue
			}
			if seq := seqOf(t, m); seq != next {
				t.Fatalf("%s: event %d arrived as %d", kind, next, seq)
			}
			next++
			if !last.IsZero() {
				pause = max(pause, m.At.Sub(last))
			}
			last = m.At
		}
		peak := rss.Peak()
		var after int64
		if procs, err := processTreeRSS(b.PID()); err == nil {
			for _, p := range procs {
				after += p.bytes
			}
		}
		cpu, err := b.CPUTime()
		if err != nil {
			t.Fatal(err)
		}
		scenario := fmt.Sprintf("frame of %s, message of %d empty frames", mib(int64(hugeBytes)), floodFrames)
		recordFigure(t, scenario, kind, "zpipe and plugins, peak RSS", mib(peak), "≤ 1024 MiB", peak <= 1<<30)
		recordFigure(t, scenario, kind, "zpipe and plugins, RSS afterwards", mib(after), "≤ 256 MiB (returned)", after <= 256<<20)
		recordFigure(t, scenario, kind, "broker CPU for the whole run", (cpu - cpuBefore).Round(time.Millisecond).String(), "–", true)
		recordFigure(t, scenario, kind, "a good publisher's events delivered, in order", fmt.Sprintf("%d of %d", got, sent), "all", got == sent)
		recordFigure(t, scenario, kind, "longest pause in them (sent every ms)", pause.Round(time.Millisecond).String(), "≤ 100 ms", pause <= 100*time.Millisecond)
		if got != sent {
			t.Fatalf("%s: the subscriber got %d of %d events", kind, got, sent)
		}
		if lines := warnLines(b, "peer"); len(lines) == 0 {
			t.Errorf("%s: no warning about the disconnected peers", kind)
		}
	})
}

// waitSeries waits until the series of metric name whose label has value
// add up to want, and fails if they go beyond it.
func waitSeries(ctx context.Context, t *testing.T, b *brokerproc.Process, name, label, value string, want float64) error {
	t.Helper()
	for {
		total := 0.0
		for _, s := range metricSeries(t, b, name) {
			if s.labels[label] == value {
				total += s.value
			}
		}
		if total == want {
			return nil
		}
		if total > want {
			t.Fatalf("%s{%s=%q} is %v, want %v", name, label, value, total, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rawPeer is a publisher that speaks ZMTP 3.0 from the test itself, as a
// hostile peer would: it sends whatever bytes it is given.
type rawPeer struct {
	conn net.Conn
	gone chan struct{} // closed when the broker has ended the connection
}

// dialRawPublisher connects to a broker's XSUB endpoint as an XPUB peer
// with the NULL mechanism and completes the handshake; the subscriptions
// the broker then sends are read and ignored.
func dialRawPublisher(t *testing.T, ep string) *rawPeer {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	greeting := make([]byte, 64)
	greeting[0], greeting[9], greeting[10] = 0xff, 0x7f, 3
	copy(greeting[12:], "NULL")
	ready := []byte("\x05READY\x0bSocket-Type\x00\x00\x00\x04XPUB")
	hello := append(greeting, 0x04, byte(len(ready)))
	if _, err := conn.Write(append(hello, ready...)); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 66)
	if _, err := io.ReadFull(conn, head); err != nil || head[0] != 0xff || head[64] != 0x04 {
		t.Fatalf("the broker's greeting and READY: % x, %v", head, err)
	}
	if _, err := io.ReadFull(conn, make([]byte, head[65])); err != nil {
		t.Fatalf("the broker's READY: %v", err)
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{conn: conn, gone: make(chan struct{})}
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		close(p.gone)
	}()
	return p
}

// send writes b and then, if fill > 0, up to fill more bytes of filler,
// stopping at the first error (the broker ended the connection).
func (p *rawPeer) send(b []byte, fill int) {
	if _, err := p.conn.Write(b); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte{'h'}, 1<<20)
	for ; fill > 0; fill -= len(chunk) {
		if _, err := p.conn.Write(chunk[:min(fill, len(chunk))]); err != nil {
			return
		}
	}
}

// zmtpFrame encodes a short ZMTP frame.
func zmtpFrame(more bool, body []byte) []byte {
	flags := byte(0)
	if more {
		flags = 0x01
	}
	return append([]byte{flags, byte(len(body))}, body...)
}

// zmtpLongHeader encodes the header of a long ZMTP frame of size bytes.
func zmtpLongHeader(more bool, size uint64) []byte {
	flags := byte(0x02)
	if more {
		flags |= 0x01
	}
	return binary.BigEndian.AppendUint64([]byte{flags}, size)
}
