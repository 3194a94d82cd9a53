package zmqtransport

/*
#cgo pkg-config: libzmq
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include "zpipe_zmq.h"

static int zp_wake_pipe(int fds[2]) {
	if (pipe(fds) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	}
	return 0;
}
*/
import "C"

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/transport"
)

// Drop reasons as reported in SocketStats.Drops and SendResult.DropReason.
const (
	DropHWM       = transport.DropHWM
	DropNoPeer    = transport.DropNoPeer
	DropMalformed = transport.DropMalformed
)

var dropReasons = [C.ZP_DROP_REASONS]string{
	C.ZP_DROP_HWM:       transport.DropHWM,
	C.ZP_DROP_NO_PEER:   transport.DropNoPeer,
	C.ZP_DROP_MALFORMED: transport.DropMalformed,
	C.ZP_DROP_OVERSIZE:  transport.DropOversize,
	C.ZP_DROP_STALLED:   transport.DropStalledPeer,
}

var eventNames = [C.ZP_EVENTS]string{
	C.ZP_EV_CONNECT_FAILED:        transport.EventConnectFailed,
	C.ZP_EV_HANDSHAKE_FAILED:      transport.EventHandshakeFailed,
	C.ZP_EV_AUTH_FAILED:           transport.EventAuthFailed,
	C.ZP_EV_PEER_OVERSIZE:         transport.EventPeerOversize,
	C.ZP_EV_PEER_STALLED:          transport.EventPeerStalled,
	C.ZP_EV_PEER_STALL_DISCONNECT: transport.EventPeerStallDisconnect,
}

// Event codes of cSocket.addEvent.
const (
	evConnectFailed   = C.ZP_EV_CONNECT_FAILED
	evHandshakeFailed = C.ZP_EV_HANDSHAKE_FAILED
	evAuthFailed      = C.ZP_EV_AUTH_FAILED
)

// socketHandle returns libzmq's void* behind a pebbe socket. pebbe keeps it
// in the unexported field soc; reading it through reflect and unsafe is the
// only way, so the result is checked against pebbe's view of the socket
// (see verifyHandle) before C code uses it.
func socketHandle(s *zmq.Socket) (unsafe.Pointer, error) {
	if s == nil {
		return nil, fmt.Errorf("raw socket handle: nil socket")
	}
	v := reflect.ValueOf(s).Elem()
	f := v.FieldByName("soc")
	if !f.IsValid() {
		return nil, fmt.Errorf("raw socket handle: pebbe/zmq4 Socket has no field soc (library changed?)")
	}
	if f.Kind() != reflect.UnsafePointer {
		return nil, fmt.Errorf("raw socket handle: pebbe/zmq4 Socket.soc is a %s, want unsafe.Pointer (library changed?)", f.Kind())
	}
	p := *(*unsafe.Pointer)(unsafe.Pointer(f.UnsafeAddr()))
	if p == nil {
		return nil, fmt.Errorf("raw socket handle: socket is closed")
	}
	return p, nil
}

// verifyHandle checks that libzmq, asked through the raw handle, reports
// the same socket type as pebbe does for s.
func verifyHandle(h unsafe.Pointer, s *zmq.Socket) error {
	want, err := s.GetType()
	if err != nil {
		return fmt.Errorf("raw socket handle: socket type: %w", err)
	}
	got := int(C.zp_socket_type(h))
	if got != int(want) {
		return fmt.Errorf("raw socket handle: libzmq reports type %d through the handle, pebbe reports %d (%s); refusing to use it", got, int(want), want)
	}
	return nil
}

// handleFunc resolves the raw handle of a socket; a field of Server so the
// guard in verifyHandle can be tested.
type handleFunc func(*zmq.Socket) (unsafe.Pointer, error)

// resolveHandle resolves and verifies the raw handle of s.
func resolveHandle(resolve handleFunc, s *zmq.Socket) (unsafe.Pointer, error) {
	h, err := resolve(s)
	if err != nil {
		return nil, err
	}
	if err := verifyHandle(h, s); err != nil {
		return nil, err
	}
	return h, nil
}

// wakePipe interrupts a wait in C (pollWake on a socket and the pipe's
// read end).
type wakePipe struct {
	mu sync.RWMutex
	r  int // read end, polled in C; -1 once closed
	w  int // write end; -1 once closed
}

func newWakePipe() (*wakePipe, error) {
	var fds [2]C.int
	if C.zp_wake_pipe(&fds[0]) != 0 {
		return nil, fmt.Errorf("create wake pipe: %w", syscall.EMFILE)
	}
	return &wakePipe{r: int(fds[0]), w: int(fds[1])}, nil
}

// wake interrupts the wait. Safe to call at any time, also after close.
func (p *wakePipe) wake() {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.w >= 0 {
		_, _ = syscall.Write(p.w, []byte{1})
	}
}

// close closes both ends; nothing may wait on the pipe any more.
func (p *wakePipe) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w < 0 {
		return
	}
	_ = syscall.Close(p.w)
	_ = syscall.Close(p.r)
	p.w, p.r = -1, -1
}

// pollWake waits up to timeoutMs (-1 forever) until the libzmq socket
// behind handle is readable or the pipe is woken.
func pollWake(handle unsafe.Pointer, p *wakePipe, timeoutMs int) error {
	if C.zp_poll_wake(handle, C.int(p.r), C.int(timeoutMs)) != 0 {
		return fmt.Errorf("poll: %w", zmq.Errno(C.zmq_errno()))
	}
	return nil
}

// cSocket is the C state of one socket plus the pipe that wakes a receive
// waiting in C.
type cSocket struct {
	p  *C.zp_sock
	wp *wakePipe
}

func kindCode(kind string) C.int {
	switch kind {
	case KindXSub:
		return C.ZP_KIND_XSUB
	case KindPull:
		return C.ZP_KIND_PULL
	case KindXPub:
		return C.ZP_KIND_XPUB
	case KindPush:
		return C.ZP_KIND_PUSH
	}
	return C.ZP_KIND_PAIR
}

// cOptions are the socket settings the C side applies.
type cOptions struct {
	zeekFraming   bool
	sendTimeoutMs int
	// nodrop and verbose describe an XPUB: nodrop resolves refusals by
	// sending with NODROP off once a subscriber is stalled; verbose means
	// every subscription of every peer is seen.
	nodrop, verbose bool
	// maxFrames and maxBytes bound received messages (0 = no bound).
	maxFrames, maxBytes int
}

func cBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func newCSocket(handle unsafe.Pointer, kind string, o cOptions) (*cSocket, error) {
	wp, err := newWakePipe()
	if err != nil {
		return nil, err
	}
	framing := C.int(C.ZP_FRAMING_RAW)
	if o.zeekFraming {
		framing = C.ZP_FRAMING_ZEEK
	}
	p := C.zp_sock_new(handle, kindCode(kind), framing, C.int(o.sendTimeoutMs), C.int(wp.r))
	if p == nil {
		wp.close()
		return nil, fmt.Errorf("allocate socket state: out of memory")
	}
	p.nodrop = cBool(o.nodrop)
	p.verbose = cBool(o.verbose)
	p.max_frames = C.size_t(o.maxFrames)
	p.max_bytes = C.size_t(o.maxBytes)
	return &cSocket{p: p, wp: wp}, nil
}

// wake interrupts a receive waiting in C. Safe to call at any time, also
// after free.
func (c *cSocket) wake() { c.wp.wake() }

// free releases the C state. The socket must be closed and no C call may be
// running on it; free is called once.
func (c *cSocket) free() {
	if c.p == nil {
		return
	}
	c.wp.close()
	C.zp_sock_free(c.p)
	c.p = nil
}

// addPeers changes the connected peer count kept for drop reasons.
func (c *cSocket) addPeers(n int32) {
	atomic.AddInt32((*int32)(unsafe.Pointer(&c.p.peers)), n)
}

// stats reads the counters with atomic loads.
func (c *cSocket) stats(id string) transport.SocketStats {
	return countersStats(id, &c.p.c)
}

func countersStats(id string, k *C.zp_counters) transport.SocketStats {
	ld := func(p *C.uint64_t) uint64 { return atomic.LoadUint64((*uint64)(unsafe.Pointer(p))) }
	st := transport.SocketStats{
		ID:                    id,
		MessagesReceived:      ld(&k.msgs_in),
		FramesReceived:        ld(&k.frames_in),
		BytesReceived:         ld(&k.bytes_in),
		MessagesSent:          ld(&k.msgs_out),
		FramesSent:            ld(&k.frames_out),
		BytesSent:             ld(&k.bytes_out),
		SubscriptionsReceived: ld(&k.subs_in),
		SubscriptionsSent:     ld(&k.subs_out),
		Drops:                 map[string]uint64{},
	}
	for i, name := range dropReasons {
		if n := ld(&k.drops[i]); n > 0 {
			st.Drops[name] = n
		}
	}
	for i, name := range eventNames {
		if n := ld(&k.events[i]); n > 0 {
			if st.Events == nil {
				st.Events = map[string]uint64{}
			}
			st.Events[name] = n
		}
	}
	return st
}

// addEvent counts a connection event.
func (c *cSocket) addEvent(ev C.int) {
	C.zp_add_event(c.p, ev)
}

// addPeer records connection fd (from a monitor event).
func (c *cSocket) addPeer(fd int) {
	C.zp_peer_add(c.p, C.int(fd))
}

// removePeer forgets connection fd and returns its last counters.
func (c *cSocket) removePeer(fd int) (transport.PeerStats, bool) {
	var p C.zp_peer
	if C.zp_peer_remove(c.p, C.int(fd), &p) == 0 {
		return transport.PeerStats{}, false
	}
	return peerStats(&p), true
}

func peerStats(p *C.zp_peer) transport.PeerStats {
	return transport.PeerStats{
		Address: C.GoString(&p.addr[0]),
		NodeID:  C.GoString(&p.node_id[0]),
		Dropped: uint64(p.dropped),
		Stalled: p.stalled != 0,
		Stalls:  uint64(p.stalls),
	}
}

// peers returns the counters of the connected peers.
func (c *cSocket) peers() []transport.PeerStats {
	buf := make([]C.zp_peer, 16)
	for {
		n := int(C.zp_peers_copy(c.p, &buf[0], C.int(len(buf))))
		if n <= len(buf) {
			out := make([]transport.PeerStats, n)
			for i := range out {
				out[i] = peerStats(&buf[i])
			}
			return out
		}
		buf = make([]C.zp_peer, n+8)
	}
}

// peerFDs returns the connection descriptors of the peers, for tests that
// look at the connections themselves.
func (c *cSocket) peerFDs() []int {
	buf := make([]C.zp_peer, 64)
	n := min(int(C.zp_peers_copy(c.p, &buf[0], C.int(len(buf)))), len(buf))
	fds := make([]int, n)
	for i := range fds {
		fds[i] = int(buf[i].fd)
	}
	return fds
}

// endWriting shuts down the sending side of every connection, marks them
// as connections a drain waits for and returns how many there are.
func (c *cSocket) endWriting() int {
	return int(C.zp_peers_end_writing(c.p))
}

// endWritingPeer does what endWriting does for connection fd alone.
func (c *cSocket) endWritingPeer(fd int) {
	C.zp_peer_end_writing(c.p, C.int(fd))
}

// draining returns the number of connections a drain waits for.
func (c *cSocket) draining() int {
	return int(C.zp_peers_draining(c.p))
}

// note is a log line the C side asked for.
type note struct {
	what          int
	addr, nodeID  string
	dropped       uint64
	ms            int64
	frames, bytes uint64
}

// Kinds of note.
const (
	noteStalled         = C.ZP_NOTE_STALLED
	noteUnstalled       = C.ZP_NOTE_UNSTALLED
	noteStallDisconnect = C.ZP_NOTE_STALL_DISCONNECT
	noteOversize        = C.ZP_NOTE_OVERSIZE
	noteStalledUnknown  = C.ZP_NOTE_STALLED_UNKNOWN
)

// takeNotes returns the pending log notes and how many were lost because
// too many were pending.
func (c *cSocket) takeNotes() ([]note, uint64) {
	var buf [C.ZP_NOTES_MAX]C.zp_note
	var lost C.uint64_t
	n := int(C.zp_notes_take(c.p, &buf[0], C.int(len(buf)), &lost))
	out := make([]note, n)
	for i := range out {
		b := &buf[i]
		out[i] = note{what: int(b.what), addr: C.GoString(&b.addr[0]), nodeID: C.GoString(&b.node_id[0]),
			dropped: uint64(b.dropped), ms: int64(b.ms), frames: uint64(b.frames), bytes: uint64(b.bytes)}
	}
	return out, uint64(lost)
}

// review ends the stall episodes of peers that read again and disconnects
// peers stalled longer than disconnectMs (0 = never).
func (c *cSocket) review(disconnectMs int) {
	C.zp_peers_review(c.p, C.int64_t(disconnectMs))
}

// recvResult is what one zp_recv_batch call produced.
type recvResult struct {
	needSpace  bool
	needBytes  int
	needFrames int
}

// recvBatch runs zp_recv_batch into the free capacity of b's slices.
func (c *cSocket) recvBatch(timeoutMs int, data []byte, sizes, parts []uint32, maxMsgs int) (msgs, frames, bytes int, r recvResult, err error) {
	rc := C.zp_recv_batch(c.p, C.int(timeoutMs),
		(*C.char)(unsafe.Pointer(unsafe.SliceData(data))), C.size_t(len(data)),
		(*C.uint32_t)(unsafe.Pointer(unsafe.SliceData(sizes))), C.size_t(len(sizes)),
		(*C.uint32_t)(unsafe.Pointer(unsafe.SliceData(parts))), C.size_t(len(parts)),
		C.int(maxMsgs))
	if rc == C.ZP_ERROR {
		return 0, 0, 0, recvResult{}, c.lastError()
	}
	r = recvResult{needSpace: rc == C.ZP_NEED_SPACE, needBytes: int(c.p.need_bytes), needFrames: int(c.p.need_frames)}
	return int(c.p.out_msgs), int(c.p.out_frames), int(c.p.out_bytes), r, nil
}

// sendProgress is where a zp_send_batch call stopped.
type sendProgress struct {
	msg, frame, off int
}

// sendBatch runs zp_send_batch; blocked reports a message waiting for room.
func (c *cSocket) sendBatch(data []byte, sizes, parts []uint32, from sendProgress, resume bool, chunkMs int) (sent, dropped int, reason string, next sendProgress, blocked bool, err error) {
	var dp *C.char
	if len(data) > 0 {
		dp = (*C.char)(unsafe.Pointer(unsafe.SliceData(data)))
	}
	var sp *C.uint32_t
	if len(sizes) > 0 {
		sp = (*C.uint32_t)(unsafe.Pointer(unsafe.SliceData(sizes)))
	}
	res := C.int(0)
	if resume {
		res = 1
	}
	rc := C.zp_send_batch(c.p, dp, sp, (*C.uint32_t)(unsafe.Pointer(unsafe.SliceData(parts))), C.int(len(parts)),
		C.int(from.msg), C.size_t(from.frame), C.size_t(from.off), res, C.int(chunkMs))
	sent, dropped = int(c.p.out_sent), int(c.p.out_dropped)
	if r := int(c.p.out_reason); r >= 0 && r < len(dropReasons) {
		reason = dropReasons[r]
	}
	switch rc {
	case C.ZP_ERROR:
		err = c.lastError()
	case C.ZP_BLOCKED:
		blocked = true
		next = sendProgress{msg: int(c.p.next_msg), frame: int(c.p.next_frame), off: int(c.p.next_off)}
	}
	return
}

func (c *cSocket) lastError() error {
	return fmt.Errorf("%s: %w", C.GoString(c.p.err_where), zmq.Errno(c.p.err))
}

// cLink is the C state of a running link.
type cLink struct {
	p *C.zp_link
}

func newCLink(src *cSocket, sinks []*cSocket, ctrl, tap unsafe.Pointer, burst int) (*cLink, error) {
	p := C.zp_link_new(C.int(len(sinks)))
	if p == nil {
		return nil, fmt.Errorf("allocate link state: out of memory")
	}
	p.src = src.p
	arr := unsafe.Slice(p.sinks, len(sinks))
	for i, s := range sinks {
		arr[i] = s.p
	}
	p.ctrl = ctrl
	p.tap = tap
	p.burst = C.int(burst)
	return &cLink{p: p}, nil
}

// run forwards until stopped; it returns nil when stopped through the
// control socket.
func (l *cLink) run() error {
	rc := C.zp_link_run(l.p)
	if rc == C.ZP_ERROR {
		return fmt.Errorf("%s: %w", C.GoString(l.p.err_where), zmq.Errno(l.p.err))
	}
	return nil
}

func (l *cLink) tapStats(id string) transport.SocketStats {
	return countersStats(id, &l.p.tapc)
}

func (l *cLink) free() {
	C.zp_link_free(l.p)
	l.p = nil
}

// handle returns the raw libzmq handle the C state uses.
func (c *cSocket) handle() unsafe.Pointer { return c.p.handle }

// peerCount returns the number of connected peers the monitor has seen.
func (c *cSocket) peerCount() int32 {
	return atomic.LoadInt32((*int32)(unsafe.Pointer(&c.p.peers)))
}
