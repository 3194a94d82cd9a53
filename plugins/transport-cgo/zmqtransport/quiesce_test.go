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
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/testutil"
	"github.com/zpipe/zpipe/internal/transporttest"
	"golang.org/x/sys/unix"
)

// zmtpConnect connects to ep as a ZMTP 3.0 PUSH peer with the NULL
// mechanism and completes the handshake: greeting, READY, and the
// socket's READY, after which a peer may send messages. It returns the
// connection and the bytes it wrote.
func zmtpConnect(t *testing.T, ep string) (*net.TCPConn, uint64) {
	t.Helper()
	conn, written := zmtpGreet(t, ep)
	if err := conn.SetReadDeadline(time.Now().Add(waitFor)); err != nil {
		t.Fatal(err)
	}
	if err := zmtpReadReady(conn); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	return conn, written
}

// zmtpGreet connects to ep as a ZMTP 3.0 PUSH peer with the NULL
// mechanism, exchanges greetings and sends its READY. It returns the
// connection and the bytes it wrote.
func zmtpGreet(t *testing.T, ep string) (*net.TCPConn, uint64) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(*net.TCPConn)
	t.Cleanup(func() { conn.Close() })
	greeting := make([]byte, 64)
	greeting[0], greeting[8], greeting[9], greeting[10], greeting[11] = 0xff, 1, 0x7f, 3, 0
	copy(greeting[12:], "NULL")
	if _, err := conn.Write(greeting); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(waitFor)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conn, make([]byte, 64)); err != nil {
		t.Fatalf("the socket's greeting: %v", err)
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	ready := append([]byte("\x05READY\x0bSocket-Type"), binary.BigEndian.AppendUint32(nil, 4)...)
	ready = append(ready, "PUSH"...)
	if _, err := conn.Write(append([]byte{0x04, byte(len(ready))}, ready...)); err != nil {
		t.Fatal(err)
	}
	return conn, uint64(len(greeting) + 2 + len(ready))
}

// zmtpReadReady reads the socket's READY command.
func zmtpReadReady(conn net.Conn) error {
	head := make([]byte, 2)
	if _, err := io.ReadFull(conn, head); err != nil {
		return fmt.Errorf("the socket's READY: %w", err)
	}
	body := make([]byte, head[1])
	if _, err := io.ReadFull(conn, body); err != nil || head[0] != 0x04 || !bytes.HasPrefix(body, []byte("\x05READY")) {
		return fmt.Errorf("the socket's READY: %x %q, %v", head, body, err)
	}
	return nil
}

// zmtpMessages encodes single-frame messages as a ZMTP peer sends them.
func zmtpMessages(payloads ...string) []byte {
	var b []byte
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
	conn, handshake := zmtpConnect(t, ep)
	wire := zmtpMessages(payloads...)
	if _, err := conn.Write(wire); err != nil {
		t.Fatal(err)
	}
	// Wait until libzmq has read every byte off the connection: then all
	// messages are in its queue for the socket.
	sk := internalSock(t, s, "pull")
	testutil.Eventually(t, waitFor, "libzmq to take every byte", func() bool {
		fds := sk.c.peerFDs()
		if len(fds) != 1 {
			return false
		}
		info, err := unix.GetsockoptTCPInfo(fds[0], unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return false
		}
		unread, err := unix.IoctlGetInt(fds[0], unix.SIOCINQ)
		return err == nil && info.Bytes_received == handshake+uint64(len(wire)) && unread == 0
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
	got := recvUntilDrained(t, s, "pull", transport.Limits{MaxMessages: 100}, 0)
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

// TestQuiesceRefusesNewPeers: a peer that connects while a socket drains
// is refused before its handshake completes, so it sends nothing there
// (it tries again later, as after any lost connection); the drain waits
// only for the connections it found. Whether the monitor goroutine has
// caught up does not matter.
func TestQuiesceRefusesNewPeers(t *testing.T) {
	s := newHeldServer(t)
	openSocket(t, s, "pull", KindPull, attrs{"bind": []string{"tcp://127.0.0.1:*"}, "framing": "raw"})
	ep := boundEndpoint(t, s, "pull", 0)
	old, _ := zmtpConnect(t, ep)
	if _, err := old.Write(zmtpMessages("before")); err != nil {
		t.Fatal(err)
	}
	if got := recvAll(t, s, "pull", 1, transport.Limits{}); string(got[0][0]) != "before" {
		t.Fatalf("got %s", showFrames(got[0]))
	}
	if err := s.Quiesce(context.Background(), "pull"); err != nil {
		t.Fatal(err)
	}

	// A new peer: if the socket completed the handshake, the peer would
	// send a message.
	late, _ := zmtpGreet(t, ep)
	admitted := make(chan error, 1)
	go func() {
		if err := late.SetReadDeadline(time.Now().Add(waitFor)); err != nil {
			admitted <- err
			return
		}
		if err := zmtpReadReady(late); err != nil {
			admitted <- err
			return
		}
		if _, err := late.Write(zmtpMessages("late")); err != nil {
			admitted <- err
			return
		}
		admitted <- nil
	}()

	// The old peer ends its connection.
	if err := old.SetReadDeadline(time.Now().Add(waitFor)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, old); err != nil {
		t.Fatalf("the peer did not see its connection end: %v", err)
	}
	if err := old.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got := recvUntilDrained(t, s, "pull", transport.Limits{}, 0)
	if len(got) != 0 {
		t.Fatalf("drained %q from a peer that came during the drain", got)
	}
	if err := <-admitted; err == nil {
		t.Fatal("the peer that came during the drain completed its handshake")
	}
}

// recvUntilDrained receives from socket id until it reports ErrDrained and
// returns frame i of every message it delivered.
func recvUntilDrained(t *testing.T, s *Server, id string, lim transport.Limits, i int) []string {
	t.Helper()
	var got []string
	for {
		var b message.Batch
		err := s.Recv(testCtx(t), id, &b, lim)
		for it := b.Iter(); it.Next(); {
			got = append(got, string(it.Frame(i)))
		}
		if errors.Is(err, transport.ErrDrained) {
			return got
		}
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
	}
}
