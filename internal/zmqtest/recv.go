// Package zmqtest holds helpers for tests that drive libzmq sockets.
package zmqtest

import (
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Recv receives one message from s within timeout, calling into the drive
// sockets while it waits. libzmq attaches a new peer, and replays an XSUB's
// subscriptions to it, only when the application next touches the socket,
// as a Zeek node's poll loop does all the time; a test that blocks on one
// socket while another sits idle can otherwise wait forever.
func Recv(t testing.TB, timeout time.Duration, s *zmq.Socket, drive ...*zmq.Socket) [][]byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, d := range drive {
			if _, err := d.GetEvents(); err != nil {
				t.Fatalf("drive peer: %v", err)
			}
		}
		msg, err := s.RecvMessageBytes(zmq.DONTWAIT)
		if err == nil {
			return msg
		}
		if zmq.AsErrno(err) != zmq.Errno(syscall.EAGAIN) || time.Now().After(deadline) {
			t.Fatalf("receive: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
