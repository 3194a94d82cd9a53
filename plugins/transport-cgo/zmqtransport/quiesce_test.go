package zmqtransport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/transporttest"
	"golang.org/x/sys/unix"
)

// zmtpPush returns the bytes a ZMTP 3.0 PUSH peer with the NULL mechanism
// sends: greeting, READY, then one single-frame message per payload.
func zmtpPush(payloads []string) []byte {
	b := make([]byte, 64)
	b[0], b[8], b[9], b[10], b[11] = 0xff, 1, 0x7f, 3, 1
	copy(b[12:], "NULL")
	body := append([]byte("\x05READY\x0bSocket-Type"), binary.BigEndian.AppendUint32(nil, 4)...)
	body = append(body, "PUSH"...)
	b = append(b, 0x04, byte(len(body)))
	b = append(b, body...)
	for _, p := range payloads {
		b = append(b, 0x00, byte(len(p)))
		b = append(b, p...)
	}
	return b
}

// TestQuiesce: after Quiesce, Recv returns every message the pull's peer
// had sent before (all of them in libzmq's queues here, none read yet), in
// order, then ErrDrained; by then the socket listens no more.
func TestQuiesce(t *testing.T) {
	const n = 3000
	s := newTestServer(t)
	openSocket(t, s, "pull", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": "raw", "rcvhwm": 2 * n, "linger_ms": 0})
	ep := boundEndpoint(t, s, "pull", 0)
	payloads := make([]string, n)
	for i := range payloads {
		payloads[i] = fmt.Sprintf("message %06d", i)
	}
	wire := zmtpPush(payloads)
	conn, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The greeting first: libzmq reads what follows it only once it has
	// answered.
	if _, err := conn.Write(wire[:64]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conn, make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(wire[64:]); err != nil {
		t.Fatal(err)
	}
	// Wait until libzmq has read every byte off the connection: then all
	// messages are in its queue for the socket.
	sk := internalSock(t, s, "pull")
	eventually(t, "libzmq to take every byte", func() bool {
		fds := sk.c.peerFDs()
		if len(fds) != 1 {
			return false
		}
		info, err := unix.GetsockoptTCPInfo(fds[0], unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return false
		}
		unread, err := unix.IoctlGetInt(fds[0], unix.SIOCINQ)
		return err == nil && info.Bytes_received == uint64(len(wire)) && unread == 0
	})
	if err := s.Quiesce(context.Background(), "pull"); err != nil {
		t.Fatal(err)
	}
	// The peer sees its connection end (as libzmq does, it reads to the
	// end, then closes).
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		conn.Close()
	}()
	var got []string
	for {
		var b message.Batch
		err := s.Recv(testCtx(t), "pull", &b, transport.Limits{MaxMessages: 100})
		if errors.Is(err, transport.ErrDrained) {
			break
		}
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
		for it := b.Iter(); it.Next(); {
			got = append(got, string(it.Frame(0)))
		}
	}
	if len(got) != n {
		t.Fatalf("drained %d of %d messages", len(got), n)
	}
	for i, m := range got {
		if m != payloads[i] {
			t.Fatalf("message %d is %q, want %q", i, m, payloads[i])
		}
	}
	// Drained stays drained, and the endpoint is free.
	var b message.Batch
	if err := s.Recv(testCtx(t), "pull", &b, transport.Limits{}); !errors.Is(err, transport.ErrDrained) {
		t.Fatalf("second receive: %v", err)
	}
	if c, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://")); err == nil {
		c.Close()
		t.Error("the drained socket still accepts connections")
	}
}

// TestQuiesceConnected: a quiesced xsub disconnects from the publisher it
// connected to; what it had received is delivered, then ErrDrained; the
// publisher sees it go.
func TestQuiesceConnected(t *testing.T) {
	s := newTestServer(t)
	ctx := peerContext(t)
	pub := peerSocket(t, ctx, zmq.XPUB, func(p *zmq.Socket) error { return p.Bind("tcp://127.0.0.1:*") })
	ep, err := pub.GetLastEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	openSocket(t, s, "xsub", KindXSub, attrs{"connect": []string{ep}})
	var sb message.Batch
	sb.Append(sub(""))
	if _, err := s.Send(testCtx(t), "xsub", &sb); err != nil {
		t.Fatal(err)
	}
	recvMessage(t, pub) // the subscription
	for i := range 10 {
		sendMessage(t, pub, event("t", fmt.Sprint(i), []byte("x"))...)
	}
	got := recvAll(t, s, "xsub", 1, transport.Limits{MaxMessages: 1})
	if string(got[0][1]) != "0" {
		t.Fatalf("got %s", showFrames(got[0]))
	}
	if err := s.Quiesce(context.Background(), "xsub"); err != nil {
		t.Fatal(err)
	}
	n := 1
	for {
		var b message.Batch
		err := s.Recv(testCtx(t), "xsub", &b, transport.Limits{})
		if errors.Is(err, transport.ErrDrained) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for it := b.Iter(); it.Next(); {
			if string(it.Frame(1)) != fmt.Sprint(n) {
				t.Fatalf("message %s, want %d", it.Frame(1), n)
			}
			n++
		}
	}
	// The publisher sees the subscriber go: its subscription ends.
	if msg := recvMessage(t, pub); !bytes.Equal(msg[0], transporttest.Unsub("")) {
		t.Fatalf("publisher got %s, want the unsubscription", showFrames(msg))
	}
	if err := s.Quiesce(context.Background(), "nope"); err == nil {
		t.Error("quiesce of an unknown socket succeeded")
	}
}
