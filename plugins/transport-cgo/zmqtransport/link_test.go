package zmqtransport

import (
	"context"
	"strings"
	"testing"
	"unsafe"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
)

// TestRawHandleGuard: a raw handle that does not belong to the socket (as
// it would after a change inside pebbe/zmq4) makes StartLink fail with a
// clear error, and nothing is left running.
func TestRawHandleGuard(t *testing.T) {
	s := newTestServer(t)
	openSocket(t, s, "xsub", KindXSub, attrs{"bind": []string{"tcp://127.0.0.1:*"}})
	openSocket(t, s, "xpub", KindXPub, attrs{"bind": []string{"tcp://127.0.0.1:*"}})

	// The real resolver agrees with pebbe about every open socket.
	for _, id := range []string{"xsub", "xpub"} {
		sk := internalSock(t, s, id)
		h, err := socketHandle(sk.zs)
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyHandle(h, sk.zs); err != nil {
			t.Fatal(err)
		}
	}

	other := peerSocket(t, peerContext(t), zmq.PAIR, nil)
	otherHandle, err := socketHandle(other)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.rawHandle = func(*zmq.Socket) (unsafe.Pointer, error) { return otherHandle, nil }
	s.mu.Unlock()
	err = s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}})
	if err == nil || !strings.Contains(err.Error(), "raw socket handle") {
		t.Fatalf("StartLink with a foreign handle: %v", err)
	}
	t.Log(err)
	// Opening is guarded the same way.
	if err := s.Open(context.Background(), transport.SocketSpec{ID: "p", Kind: KindPull, Config: []byte(`{"bind":["tcp://127.0.0.1:*"]}`)}); err == nil {
		t.Fatal("Open with a foreign handle succeeded")
	}

	s.mu.Lock()
	s.rawHandle = socketHandle
	s.mu.Unlock()
	if err := s.StartLink(context.Background(), transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}}); err != nil {
		t.Fatalf("StartLink after the failed one: %v", err)
	}

	// A closed socket has no handle; nil is not a socket.
	closed := peerSocket(t, peerContext(t), zmq.PAIR, nil)
	closed.Close()
	if _, err := socketHandle(closed); err == nil {
		t.Error("handle of a closed socket")
	}
	if _, err := socketHandle(nil); err == nil {
		t.Error("handle of nil")
	}
}
