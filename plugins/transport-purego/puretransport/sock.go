package puretransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/internal/zmqopts"
	"github.com/zpipe/zpipe/plugins/transport-purego/puresock"
)

// Receive limits used when the caller's are zero.
const (
	defaultMaxMessages = 1024
	defaultMaxBytes    = 1 << 20
)

// drop reasons counted here, indexes into counters.drops; the socket
// layer counts the others (puresock.Counters).
const (
	dropHWM = iota
	dropNoPeer
	dropMalformed
	dropSubscription
	numDropReasons
)

var dropNames = [numDropReasons]string{
	dropHWM: transport.DropHWM, dropNoPeer: transport.DropNoPeer,
	dropMalformed: transport.DropMalformed, dropSubscription: transport.DropSubscription,
}

// counters are a socket's cumulative counts, updated atomically so that
// Stats never waits for the socket.
type counters struct {
	msgsIn, framesIn, bytesIn    atomic.Uint64
	msgsOut, framesOut, bytesOut atomic.Uint64
	subsIn, subsOut              atomic.Uint64
	drops                        [numDropReasons]atomic.Uint64
}

// isSubscription reports whether msg is a subscription message.
func isSubscription(msg [][]byte) bool {
	return len(msg) == 1 && len(msg[0]) > 0 && msg[0][0] <= message.Subscribe
}

func msgBytes(msg [][]byte) int {
	n := 0
	for _, f := range msg {
		n += len(f)
	}
	return n
}

func (c *counters) received(msg [][]byte, countSubs bool) {
	c.msgsIn.Add(1)
	c.framesIn.Add(uint64(len(msg)))
	c.bytesIn.Add(uint64(msgBytes(msg)))
	if countSubs && isSubscription(msg) {
		c.subsIn.Add(1)
	}
}

func (c *counters) sent(msg [][]byte, countSubs bool) {
	c.msgsOut.Add(1)
	c.framesOut.Add(uint64(len(msg)))
	c.bytesOut.Add(uint64(msgBytes(msg)))
	if countSubs && isSubscription(msg) {
		c.subsOut.Add(1)
	}
}

// stats reads the counters, adding the losses and events the socket
// layer counted (zs nil for a link's tap).
func (c *counters) stats(id string, zs *puresock.Socket) transport.SocketStats {
	st := transport.SocketStats{
		ID:                    id,
		MessagesReceived:      c.msgsIn.Load(),
		FramesReceived:        c.framesIn.Load(),
		BytesReceived:         c.bytesIn.Load(),
		MessagesSent:          c.msgsOut.Load(),
		FramesSent:            c.framesOut.Load(),
		BytesSent:             c.bytesOut.Load(),
		SubscriptionsReceived: c.subsIn.Load(),
		SubscriptionsSent:     c.subsOut.Load(),
		Drops:                 map[string]uint64{},
		Events:                map[string]uint64{},
	}
	for i, name := range dropNames {
		st.Drops[name] = c.drops[i].Load()
	}
	if zs != nil {
		z := zs.Counters()
		st.Drops[transport.DropHWM] += z.Lost
		st.Drops[transport.DropStalledPeer] = z.StalledPeer
		st.Drops[transport.DropSubscription] += z.SubscriptionLost
		st.Drops[transport.DropOversize] = z.Oversize
		st.Events = map[string]uint64{
			transport.EventConnectFailed:       z.ConnectFailed,
			transport.EventHandshakeFailed:     z.HandshakeFailed,
			transport.EventPeerOversize:        z.Oversize,
			transport.EventPeerStalled:         z.PeerStalled,
			transport.EventPeerStallDisconnect: z.PeerStallDisconnect,
		}
		st.Peers = peerStats(zs.PeerStats())
	}
	for _, m := range []map[string]uint64{st.Drops, st.Events} {
		for k, n := range m {
			if n == 0 {
				delete(m, k)
			}
		}
	}
	return st
}

// sendPolicy applies send_timeout_ms to a sink whose socket refuses a
// message: -1 waits until it is taken, 0 gives up at once, N waits up to
// N ms. Giving up on an xpub message stalls the subscribers that are full
// (puresock.PublishStalling): the others get it, and the stalled ones
// cost no wait until they recover. Giving up on a push message drops it
// and turns the socket degraded: later refusals drop at once until a
// send succeeds at least N ms after that drop. Whoever sends on the
// socket (Send calls, or the link that owns it) uses it, one at a time.
type sendPolicy struct {
	timeout       time.Duration // negative: forever
	perPeer       bool          // xpub: no degraded state
	deadline      time.Time     // of the wait in progress, zero if none
	degraded      bool
	degradedSince time.Time
}

// waitLeft says how long to wait for a refused message: 0 gives up now,
// a negative duration waits forever.
func (p *sendPolicy) waitLeft(now time.Time) time.Duration {
	switch {
	case p.timeout == 0:
		return 0
	case p.timeout < 0:
		return -1
	}
	if p.deadline.IsZero() {
		if p.degraded {
			return 0
		}
		p.deadline = now.Add(p.timeout)
	}
	left := p.deadline.Sub(now)
	if left <= 0 {
		if !p.perPeer {
			p.degraded, p.degradedSince = true, now
		}
		return 0
	}
	return left
}

func (p *sendPolicy) sentOne(now time.Time) {
	p.deadline = time.Time{}
	if p.degraded && now.Sub(p.degradedSince) >= p.timeout {
		p.degraded = false
	}
}

func (p *sendPolicy) gaveUp() { p.deadline = time.Time{} }

// sock is one socket and the bookkeeping that lets several goroutines use
// it: one receiving and one sending at a time, or a link owning it.
type sock struct {
	id    string
	kind  string
	cfg   *zmqopts.Config
	zs    *puresock.Socket
	bound []string
	c     counters

	policy    sendPolicy // used by the one sender (Send calls or a link)
	unreached []int      // the sender's: messages of a send no subscriber got
	noteMiss  func(int)  // appends to unreached

	mu      sync.Mutex
	idle    *sync.Cond    // signalled when users drops to zero
	users   int           // Recv and Send calls in progress
	closed  bool          // under mu
	link    string        // under mu: the link owning the socket, if any
	changed chan struct{} // under mu: closed (and replaced) when closed or link change
}

func socketType(kind string) puresock.Type {
	switch kind {
	case KindXSub:
		return puresock.XSub
	case KindPull:
		return puresock.Pull
	case KindXPub:
		return puresock.XPub
	}
	return puresock.Push
}

// newSock creates the socket and binds and connects it.
func newSock(id, kind string, cfg *zmqopts.Config, log *slog.Logger) (*sock, error) {
	o := options(cfg, kind)
	o.Logger = log.With("socket_id", id)
	zs, err := puresock.New(socketType(kind), o)
	if err != nil {
		return nil, err
	}
	sk := &sock{
		id: id, kind: kind, cfg: cfg, zs: zs, changed: make(chan struct{}),
		policy: sendPolicy{timeout: time.Duration(cfg.SendTimeoutMs) * time.Millisecond, perPeer: kind == KindXPub},
	}
	sk.idle = sync.NewCond(&sk.mu)
	sk.noteMiss = func(i int) { sk.unreached = append(sk.unreached, i) }
	for _, ep := range cfg.Bind {
		bound, err := zs.Bind(ep)
		if err != nil {
			sk.discard()
			return nil, err
		}
		sk.bound = append(sk.bound, bound)
	}
	for _, ep := range cfg.Connect {
		if err := zs.Connect(ep); err != nil {
			sk.discard()
			return nil, err
		}
	}
	return sk, nil
}

// discard closes a socket that was never used and waits for it; nothing
// is queued, so there is no linger to wait for.
func (k *sock) discard() {
	_ = k.zs.Close()
	<-k.zs.Done()
}

// close marks the socket closed, which ends every waiting Recv and Send
// with transport.ErrClosed, waits for them, and closes the socket; its
// linger runs in the background (zs.Done tells when it is over).
func (k *sock) close() {
	k.mu.Lock()
	if !k.closed {
		k.closed = true
		close(k.changed)
		k.changed = make(chan struct{})
	}
	for k.users > 0 {
		k.idle.Wait()
	}
	k.mu.Unlock()
	_ = k.zs.Close()
}

func (k *sock) stateErrLocked() error {
	if k.closed {
		return transport.ErrClosed
	}
	if k.link != "" {
		return fmt.Errorf("%s socket %q is used by link %q; stop the link first", k.kind, k.id, k.link)
	}
	return nil
}

// begin registers a Recv or Send call; the returned channel is closed when
// the socket is closed or a link takes it.
func (k *sock) begin() (<-chan struct{}, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.stateErrLocked(); err != nil {
		return nil, err
	}
	k.users++
	return k.changed, nil
}

func (k *sock) end() {
	k.mu.Lock()
	k.users--
	if k.users == 0 {
		k.idle.Broadcast()
	}
	k.mu.Unlock()
}

// stateErr tells a call interrupted by a state change why.
func (k *sock) stateErr() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stateErrLocked()
}

// claim hands the socket to link id once the calls in progress have
// returned.
func (k *sock) claim(id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.stateErrLocked(); err != nil {
		return err
	}
	k.link = id
	close(k.changed)
	k.changed = make(chan struct{})
	for k.users > 0 {
		k.idle.Wait()
	}
	return nil
}

// release gives the socket back after its link stopped.
func (k *sock) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.link = ""
}

// zeekFraming reports whether the socket drops messages without exactly
// four frames.
func (k *sock) zeekFraming() bool {
	return (k.kind == KindXSub || k.kind == KindPull) && k.cfg.Framing == FramingZeek
}

// take is the receive side of the socket's messages, shared by Recv and a
// link: it counts msg as received and reports whether it is to be used
// (false for a malformed one, which is counted as dropped).
func (k *sock) take(msg [][]byte) bool {
	k.c.received(msg, k.kind == KindXPub)
	if k.zeekFraming() && len(msg) != 4 {
		k.c.drops[dropMalformed].Add(1)
		return false
	}
	return true
}

// recv implements Server.Recv for this socket.
func (k *sock) recv(ctx context.Context, b *message.Batch, lim transport.Limits) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	changed, err := k.begin()
	if err != nil {
		return fmt.Errorf("receive on %s %q: %w", k.kind, k.id, err)
	}
	defer k.end()
	maxMsgs, maxBytes := limits(lim)
	for {
		if k.readInto(b, maxMsgs, maxBytes) {
			return nil
		}
		if k.zs.Drained() {
			return transport.ErrDrained
		}
		select {
		case <-k.zs.Readable():
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			return fmt.Errorf("receive on %s %q: %w", k.kind, k.id, k.stateErr())
		}
	}
}

func limits(lim transport.Limits) (maxMsgs, maxBytes int) {
	maxMsgs, maxBytes = lim.MaxMessages, lim.MaxBytes
	if maxMsgs <= 0 {
		maxMsgs = defaultMaxMessages
	}
	if maxBytes <= 0 {
		maxBytes = defaultMaxBytes
	}
	return maxMsgs, maxBytes
}

// readInto appends ready messages to b within the limits (a message larger
// than maxBytes comes alone) and reports whether it appended any.
func (k *sock) readInto(b *message.Batch, maxMsgs, maxBytes int) bool {
	start := b.Len()
	full := false
	accept := func(msg [][]byte) bool {
		if b.Len() > start && (b.Len()-start >= maxMsgs || b.Bytes()+msgBytes(msg) > maxBytes) {
			full = true
			return false
		}
		if k.take(msg) {
			b.Append(msg...)
		}
		return true
	}
	for !full && b.Len()-start < maxMsgs {
		if k.zs.TryRecv(maxMsgs, accept) == 0 {
			break
		}
	}
	return b.Len() > start
}

// send implements Server.Send for this socket.
func (k *sock) send(ctx context.Context, b *message.Batch) (transport.SendResult, error) {
	var res transport.SendResult
	if err := b.Validate(); err != nil {
		return res, errInvalid("send on %s %q: %w", k.kind, k.id, err)
	}
	msgs := make([][][]byte, 0, b.Len())
	// The socket keeps the frames until they are written; b is the
	// caller's to reuse.
	data := slices.Clone(b.Data)
	off, frame := 0, 0
	for i, parts := range b.Parts {
		if parts == 0 {
			return res, errInvalid("send on %s %q: message %d has no frames", k.kind, k.id, i)
		}
		msg := make([][]byte, parts)
		for j := range msg {
			size := int(b.Sizes[frame])
			msg[j] = data[off : off+size : off+size]
			off += size
			frame++
		}
		if k.kind == KindXSub {
			if len(msg) != 1 {
				return res, errInvalid("send on xsub %q: message %d has %d frames; an xsub sends single-frame subscription messages", k.id, i, len(msg))
			}
			if !isSubscription(msg) {
				return res, errInvalid("send on xsub %q: message %d is not a subscription (first byte 0x00 or 0x01)", k.id, i)
			}
		}
		msgs = append(msgs, msg)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if len(msgs) == 0 {
		return res, nil
	}
	changed, err := k.begin()
	if err != nil {
		return res, fmt.Errorf("send on %s %q: %w", k.kind, k.id, err)
	}
	defer k.end()
	// A new batch starts without a wait in progress; a degraded socket
	// stays degraded.
	k.policy.deadline = time.Time{}
	err = k.deliver(ctx, changed, msgs, &res)
	if errors.Is(err, errInterrupted) {
		err = k.stateErr()
	}
	if err != nil {
		return res, fmt.Errorf("send on %s %q: %w", k.kind, k.id, err)
	}
	return res, nil
}

// errInterrupted reports a send interrupted by its abort channel.
var errInterrupted = errors.New("interrupted")

// deliver sends msgs in order under the socket's send policy, counting
// what is sent and dropped in the socket's counters and in res. It stops
// early with ctx's error when ctx ends, and with errInterrupted when abort
// is closed, leaving the rest unsent and uncounted.
func (k *sock) deliver(ctx context.Context, abort <-chan struct{}, msgs [][][]byte, res *transport.SendResult) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for len(msgs) > 0 {
		k.unreached = k.unreached[:0]
		n, err := k.zs.TrySendMany(msgs, k.noteMiss)
		if n > 0 {
			k.countTaken(msgs[:n], res)
			k.policy.sentOne(time.Now())
			msgs = msgs[n:]
		}
		if len(msgs) == 0 {
			return nil
		}
		if !errors.Is(err, puresock.ErrWouldBlock) {
			return toTransportErr(err)
		}
		left := k.policy.waitLeft(time.Now())
		if left == 0 {
			if err := k.giveUp(msgs[0], res); err != nil {
				return err
			}
			msgs = msgs[1:]
			continue
		}
		var expired <-chan time.Time
		if left > 0 {
			if timer == nil {
				timer = time.NewTimer(left)
			} else {
				timer.Reset(left)
			}
			expired = timer.C
		}
		select {
		case <-k.zs.Writable():
		case <-expired:
		case <-ctx.Done():
			return ctx.Err()
		case <-abort:
			return errInterrupted
		}
		if timer != nil {
			timer.Stop()
		}
	}
	return nil
}

// countTaken counts messages the socket took: sent, except those no
// subscriber got (k.unreached, ascending), which are hwm drops.
func (k *sock) countTaken(msgs [][][]byte, res *transport.SendResult) {
	countSubs := k.kind == KindXSub
	next := 0
	for i, m := range msgs {
		if next < len(k.unreached) && k.unreached[next] == i {
			next++
			k.drop(dropHWM, res)
			continue
		}
		k.c.sent(m, countSubs)
		res.Sent++
	}
}

// giveUp ends the wait for a refused message: an xpub sends it to the
// subscribers with room and stalls the full ones; other sockets drop it.
func (k *sock) giveUp(msg [][]byte, res *transport.SendResult) error {
	k.policy.gaveUp()
	if k.kind != KindXPub {
		k.dropOne(res)
		return nil
	}
	reached, err := k.zs.PublishStalling(msg)
	if err != nil {
		return toTransportErr(err)
	}
	if reached {
		k.c.sent(msg, false)
		res.Sent++
	} else {
		k.drop(dropHWM, res)
	}
	return nil
}

// dropOne counts a refused message as dropped, with its reason.
func (k *sock) dropOne(res *transport.SendResult) {
	reason := dropHWM
	if k.kind == KindPush && k.zs.Peers() == 0 {
		reason = dropNoPeer
	}
	k.drop(reason, res)
}

// drop counts one message lost for reason, in the socket's counters and
// in res if not nil.
func (k *sock) drop(reason int, res *transport.SendResult) {
	k.c.drops[reason].Add(1)
	if res != nil {
		res.Dropped++
		if res.DropReason == "" {
			res.DropReason = dropNames[reason]
		}
	}
}
