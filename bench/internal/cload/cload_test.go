package cload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zpipe/zpipe/internal/zeektest/refproxy"
)

const timeout = 10 * time.Second

// TestPublishReceive sends events from two publishers through the
// reference broker: every one arrives, and a message that is not an event
// fails the receiver.
func TestPublishReceive(t *testing.T) {
	proxy, err := refproxy.Start(refproxy.Config{XSub: "tcp://127.0.0.1:*", XPub: "tcp://127.0.0.1:*"})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	c, err := NewContext(1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts := []Option{Linger(0), SendTimeout(timeout), ReceiveTimeout(timeout)}
	sub, err := c.Socket(XSUB, proxy.XPubEndpoint(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	const topic = "zeek.test."
	if err := sub.Send([]byte("\x01" + topic)); err != nil {
		t.Fatal(err)
	}
	var pubs []*Socket
	for range 2 {
		pub, err := c.Socket(XPUB, proxy.XSubEndpoint(), append(opts, XPubNoDrop())...)
		if err != nil {
			t.Fatal(err)
		}
		if msg, err := pub.Recv(); err != nil || string(msg) != "\x01"+topic {
			t.Fatalf("subscription: %q, %v", msg, err)
		}
		pubs = append(pubs, pub)
	}
	errs := make(chan error, len(pubs))
	for i, pub := range pubs {
		go func() {
			n, err := pub.Publish(topic, "node", MinPayload+10, i, 500, 0)
			if err == nil && n != 500 {
				err = fmt.Errorf("publisher %d sent %d, want 500", i, n)
			}
			errs <- err
		}()
	}
	received, lost, err := sub.Receive(len(pubs))
	for range pubs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if err != nil || received != 1000 || lost != 0 {
		t.Fatalf("received %d, lost %d, %v; want 1000, 0, no error", received, lost, err)
	}

	if err := pubs[0].SendMessage([]byte(topic), []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sub.Receive(1); err == nil || !strings.Contains(err.Error(), "not a 4-frame") {
		t.Errorf("a 2-frame message: %v", err)
	}
}

// TestPush sends a message three times to a libzmq PULL socket, which
// receives it three times, whole.
func TestPush(t *testing.T) {
	pull, err := zmq.NewSocket(zmq.PULL)
	if err != nil {
		t.Fatal(err)
	}
	defer pull.Close()
	if err := pull.SetRcvtimeo(timeout); err != nil {
		t.Fatal(err)
	}
	if err := pull.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	ep, err := pull.GetLastEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPusher(ep)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	frames := [][]byte{[]byte("topic"), []byte("sender"), {}, bytes.Repeat([]byte("x"), 100)}
	m, err := NewMessage(frames)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	if err := p.Send(context.Background(), m, 3); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		got, err := pull.RecvMessageBytes(0)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if len(got) != 4 || !bytes.Equal(bytes.Join(got, []byte("|")), bytes.Join(frames, []byte("|"))) {
			t.Fatalf("message %d: %q, want %q", i, got, frames)
		}
	}
	if _, err := NewMessage(frames[:3]); err == nil {
		t.Error("a 3-frame message was accepted")
	}
}

// TestPushCancelled: a Send blocked on a peer that takes nothing returns
// once its context ends.
func TestPushCancelled(t *testing.T) {
	// A port nobody listens on: the socket queues up to its high-water
	// mark, then blocks.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p, err := NewPusher("tcp://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m, err := NewMessage([][]byte{{1}, {2}, {3}, {4}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Send(ctx, m, 10*zeekLogSndHWM); !errors.Is(err, context.Canceled) {
		t.Errorf("Send on a cancelled context to no peer: %v, want context.Canceled", err)
	}
}
