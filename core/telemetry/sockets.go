package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/zpipe/zpipe/core/transport"
)

// instrumentationScope names the meter zpipe's instruments belong to.
const instrumentationScope = "github.com/zpipe/zpipe/core/telemetry"

// Values of SocketObservation.ZeekProxyRole.
const (
	// ZeekProxyFrontend marks the XSUB source of a broker-shaped pipeline
	// (Zeek's proxy "frontend").
	ZeekProxyFrontend = "frontend"
	// ZeekProxyBackend marks the XPUB sink of a broker-shaped pipeline
	// (Zeek's proxy "backend").
	ZeekProxyBackend = "backend"
)

// socketCacheTTL is how long one call of the observation function serves
// further collections, like Zeek pulls its proxy STATISTICS at most once
// every 10 ms.
const socketCacheTTL = 10 * time.Millisecond

// SocketObservation is what the pipeline runtime knows about one socket (or
// other component) at collection time.
type SocketObservation struct {
	// Pipeline, Component and Kind become the attributes pipeline,
	// component (e.g. "source.xsub.nodes") and kind (the socket kind, e.g.
	// "xsub", "xpub").
	Pipeline, Component, Kind string
	// ZeekProxyRole is ZeekProxyFrontend, ZeekProxyBackend or empty. Set,
	// it makes the socket feed Zeek's broker counters.
	ZeekProxyRole string
	// Stats are the socket's cumulative counters. They may restart from
	// zero (a plugin restart); the exported counters stay monotonic. The
	// runtime may add drops it observes itself, such as "plugin_restart".
	Stats transport.SocketStats
}

// Registration is a set of registered instruments; Unregister stops their
// collection.
type Registration interface {
	Unregister() error
}

// RegisterSockets registers the socket counters (zpipe.messages.*,
// zpipe.bytes.*, zpipe.subscriptions.*, zpipe.messages.dropped) and the
// Zeek-named counters derived from them (the eight proxy counters,
// xpub drops, msg errors). fn is called at collection time, at most once
// every 10 ms however many readers collect; its result is shared by all
// instruments. If zeekNode is not empty, the Zeek-named metrics carry the
// attribute node=zeekNode, as Zeek's own do.
//
// Mapping for an observation with a Zeek proxy role: messages received/sent
// are Stats.MessagesReceived/MessagesSent, whole multipart messages, as
// libzmq's proxy counts them for Zeek's STATISTICS (one 4-frame event is one
// message); bytes are Stats.BytesReceived/BytesSent, all frames' payloads.
// xpub drops are Drops["hwm"] and Drops["stalled_peer"] of observations of
// kind "xpub"; msg errors are Drops["malformed"] of all observations.
// Stats.Events become zpipe.socket.events, Stats.Peers
// zpipe.peer.messages.dropped and zpipe.peer.stalled.
//
// A socket that no longer appears in fn's result stops being exported under
// its own attributes, but its last counts stay in the Zeek-named totals.
func RegisterSockets(mp metric.MeterProvider, zeekNode string, fn func(ctx context.Context) ([]SocketObservation, error)) (Registration, error) {
	return registerSockets(mp, zeekNode, fn, time.Now)
}

// registerSockets is RegisterSockets with the clock that times the cache.
func registerSockets(mp metric.MeterProvider, zeekNode string, fn func(ctx context.Context) ([]SocketObservation, error), now func() time.Time) (Registration, error) {
	if mp == nil {
		return nil, errors.New("register socket metrics: nil meter provider")
	}
	if fn == nil {
		return nil, errors.New("register socket metrics: nil observation function")
	}
	c := newSocketCollector(zeekNode, fn, now)
	meter := mp.Meter(instrumentationScope)
	insts, err := newObservables(meter,
		MetricMessagesReceived, MetricMessagesSent,
		MetricBytesReceived, MetricBytesSent,
		MetricSubscriptionsReceived, MetricSubscriptionsSent,
		MetricMessagesDropped,
		MetricZeekProxyFrontendMessagesReceived, MetricZeekProxyFrontendBytesReceived,
		MetricZeekProxyFrontendMessagesSent, MetricZeekProxyFrontendBytesSent,
		MetricZeekProxyBackendMessagesReceived, MetricZeekProxyBackendBytesReceived,
		MetricZeekProxyBackendMessagesSent, MetricZeekProxyBackendBytesSent,
		MetricZeekXPUBDrops, MetricZeekMsgErrors,
		MetricSocketEvents, MetricPeerMessagesDropped, MetricPeerStalled,
	)
	if err != nil {
		return nil, fmt.Errorf("register socket metrics: %w", err)
	}
	c.messagesReceived, c.messagesSent = insts[0], insts[1]
	c.bytesReceived, c.bytesSent = insts[2], insts[3]
	c.subsReceived, c.subsSent = insts[4], insts[5]
	c.dropped = insts[6]
	copy(c.frontend[:], insts[7:11])
	copy(c.backend[:], insts[11:15])
	c.xpubDrops, c.msgErrors = insts[15], insts[16]
	c.events, c.peerDropped, c.peerStalled = insts[17], insts[18], insts[19]

	observables := make([]metric.Observable, len(insts))
	for i, inst := range insts {
		observables[i] = inst
	}
	reg, err := meter.RegisterCallback(c.observe, observables...)
	if err != nil {
		return nil, fmt.Errorf("register socket metrics: %w", err)
	}
	return reg, nil
}

// socketKey identifies one observed socket across collections.
type socketKey struct {
	pipeline, component, kind string
}

// socketSeries is the monotonic state of one observed socket.
type socketSeries struct {
	role  string
	attrs attribute.Set

	messagesReceived, bytesReceived monotonic
	messagesSent, bytesSent         monotonic
	subsReceived, subsSent          monotonic
	drops                           map[string]*monotonic
	events                          map[string]*monotonic
	// peers holds the peers of the last observation, in its order;
	// peerState keeps their counters, also across readings that miss
	// them for a while.
	peers     []peerKey
	peerState map[peerKey]*peerSeries
}

// peerKey identifies one peer of a socket.
type peerKey struct{ address, nodeID string }

// peerSeries is the state of one peer of a socket.
type peerSeries struct {
	dropped monotonic
	stalled bool
}

// maxPeerSeries bounds the peers kept per socket, so that a storm of
// short connections cannot grow the exported series without bound: the
// transport reports connected peers and recent ones with losses; beyond
// this many, peers not in the latest reading are forgotten.
const maxPeerSeries = 1024

// socketCollector turns observations into data points. Its state is only
// touched under mu, as collections of several readers may overlap.
type socketCollector struct {
	fn        func(ctx context.Context) ([]SocketObservation, error)
	zeekAttrs attribute.Set
	now       func() time.Time

	messagesReceived, messagesSent   metric.Int64Observable
	bytesReceived, bytesSent         metric.Int64Observable
	subsReceived, subsSent           metric.Int64Observable
	dropped                          metric.Int64Observable
	events, peerDropped, peerStalled metric.Int64Observable
	// frontend and backend hold messages received, bytes received,
	// messages sent, bytes sent, in that order.
	frontend, backend    [4]metric.Int64Observable
	xpubDrops, msgErrors metric.Int64Observable

	mu        sync.Mutex
	fetched   bool
	fetchedAt time.Time
	fetchErr  error
	current   []socketKey
	series    map[socketKey]*socketSeries
}

func newSocketCollector(zeekNode string, fn func(ctx context.Context) ([]SocketObservation, error), now func() time.Time) *socketCollector {
	zeekAttrs := attribute.NewSet()
	if zeekNode != "" {
		zeekAttrs = attribute.NewSet(attribute.String(AttrNode, zeekNode))
	}
	return &socketCollector{
		fn:        fn,
		zeekAttrs: zeekAttrs,
		now:       now,
		series:    make(map[socketKey]*socketSeries),
	}
}

// refresh calls fn unless a recent result is still fresh. On error the
// previous state stays in place.
func (c *socketCollector) refresh(ctx context.Context) error {
	if c.fetched && c.now().Sub(c.fetchedAt) < socketCacheTTL {
		return c.fetchErr
	}
	obs, err := c.fn(ctx)
	c.fetched, c.fetchedAt = true, c.now()
	if err != nil {
		c.fetchErr = fmt.Errorf("collect socket statistics: %w", err)
		return c.fetchErr
	}
	c.fetchErr = c.apply(obs)
	return c.fetchErr
}

// rawSocket sums the observations of one key (normally exactly one).
type rawSocket struct {
	role  string
	stats transport.SocketStats
}

// apply folds one set of observations into the monotonic state.
func (c *socketCollector) apply(obs []SocketObservation) error {
	var errs []error
	raw := make(map[socketKey]*rawSocket, len(obs))
	order := make([]socketKey, 0, len(obs))
	for _, o := range obs {
		role := o.ZeekProxyRole
		switch role {
		case "", ZeekProxyFrontend, ZeekProxyBackend:
		default:
			errs = append(errs, fmt.Errorf("socket %s/%s: unknown Zeek proxy role %q (want %q or %q)",
				o.Pipeline, o.Component, role, ZeekProxyFrontend, ZeekProxyBackend))
			role = ""
		}
		k := socketKey{o.Pipeline, o.Component, o.Kind}
		r, ok := raw[k]
		if !ok {
			r = &rawSocket{role: role, stats: transport.SocketStats{Drops: map[string]uint64{}}}
			raw[k] = r
			order = append(order, k)
		} else if r.role == "" {
			r.role = role
		}
		addStats(&r.stats, &o.Stats)
	}

	for _, k := range order {
		r := raw[k]
		s, ok := c.series[k]
		if !ok {
			s = &socketSeries{
				attrs: attribute.NewSet(
					attribute.String(AttrPipeline, k.pipeline),
					attribute.String(AttrComponent, k.component),
					attribute.String(AttrKind, k.kind),
				),
				drops:     make(map[string]*monotonic),
				events:    make(map[string]*monotonic),
				peerState: make(map[peerKey]*peerSeries),
			}
			c.series[k] = s
		}
		s.role = r.role
		st := &r.stats
		s.messagesReceived.update(st.MessagesReceived)
		s.bytesReceived.update(st.BytesReceived)
		s.messagesSent.update(st.MessagesSent)
		s.bytesSent.update(st.BytesSent)
		s.subsReceived.update(st.SubscriptionsReceived)
		s.subsSent.update(st.SubscriptionsSent)
		for reason, m := range s.drops {
			if _, ok := st.Drops[reason]; !ok {
				// The reason vanished from the map: its count restarted.
				m.update(0)
			}
		}
		updateCounters(s.drops, st.Drops)
		updateCounters(s.events, st.Events)
		s.applyPeers(st.Peers)
	}
	c.current = order
	return errors.Join(errs...)
}

// updateCounters folds a reading of counters by key into their monotonic
// state. A key that vanished from the reading restarted from zero.
func updateCounters(state map[string]*monotonic, reading map[string]uint64) {
	for key, m := range state {
		if _, ok := reading[key]; !ok {
			m.update(0)
		}
	}
	for key, n := range reading {
		m, ok := state[key]
		if !ok {
			m = &monotonic{}
			state[key] = m
		}
		m.update(n)
	}
}

// applyPeers folds the peers of one reading into s.
func (s *socketSeries) applyPeers(peers []transport.PeerStats) {
	s.peers = s.peers[:0]
	seen := make(map[peerKey]bool, len(peers))
	for _, p := range peers {
		k := peerKey{p.Address, p.NodeID}
		if seen[k] {
			continue
		}
		seen[k] = true
		ps, ok := s.peerState[k]
		if !ok {
			ps = &peerSeries{}
			s.peerState[k] = ps
		}
		ps.dropped.update(p.Dropped)
		ps.stalled = p.Stalled
		s.peers = append(s.peers, k)
	}
	if len(s.peerState) > maxPeerSeries {
		for k := range s.peerState {
			if !seen[k] {
				delete(s.peerState, k)
			}
		}
	}
}

// addStats adds the counters of b to a.
func addStats(a, b *transport.SocketStats) {
	a.MessagesReceived += b.MessagesReceived
	a.FramesReceived += b.FramesReceived
	a.BytesReceived += b.BytesReceived
	a.MessagesSent += b.MessagesSent
	a.FramesSent += b.FramesSent
	a.BytesSent += b.BytesSent
	a.SubscriptionsReceived += b.SubscriptionsReceived
	a.SubscriptionsSent += b.SubscriptionsSent
	for reason, n := range b.Drops {
		if reason == "" {
			reason = "_OTHER"
		}
		a.Drops[reason] += n
	}
	for event, n := range b.Events {
		if event == "" {
			event = "_OTHER"
		}
		if a.Events == nil {
			a.Events = make(map[string]uint64, len(b.Events))
		}
		a.Events[event] += n
	}
	a.Peers = append(a.Peers, b.Peers...)
}

// observe is the callback of every socket instrument.
func (c *socketCollector) observe(ctx context.Context, o metric.Observer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.refresh(ctx)

	for _, k := range c.current {
		s := c.series[k]
		attrs := metric.WithAttributeSet(s.attrs)
		o.ObserveInt64(c.messagesReceived, toInt64(s.messagesReceived.value()), attrs)
		o.ObserveInt64(c.messagesSent, toInt64(s.messagesSent.value()), attrs)
		o.ObserveInt64(c.bytesReceived, toInt64(s.bytesReceived.value()), attrs)
		o.ObserveInt64(c.bytesSent, toInt64(s.bytesSent.value()), attrs)
		o.ObserveInt64(c.subsReceived, toInt64(s.subsReceived.value()), attrs)
		o.ObserveInt64(c.subsSent, toInt64(s.subsSent.value()), attrs)
		for reason, m := range s.drops {
			o.ObserveInt64(c.dropped, toInt64(m.value()), metric.WithAttributes(
				attribute.String(AttrPipeline, k.pipeline),
				attribute.String(AttrComponent, k.component),
				attribute.String(AttrKind, k.kind),
				attribute.String(AttrErrorType, reason),
			))
		}
		for event, m := range s.events {
			o.ObserveInt64(c.events, toInt64(m.value()), metric.WithAttributes(
				attribute.String(AttrPipeline, k.pipeline),
				attribute.String(AttrComponent, k.component),
				attribute.String(AttrKind, k.kind),
				attribute.String(AttrEvent, event),
			))
		}
		for _, pk := range s.peers {
			ps := s.peerState[pk]
			attrs := metric.WithAttributes(
				attribute.String(AttrPipeline, k.pipeline),
				attribute.String(AttrComponent, k.component),
				attribute.String(AttrKind, k.kind),
				attribute.String(AttrPeerAddress, pk.address),
				attribute.String(AttrZeekNodeID, pk.nodeID),
			)
			o.ObserveInt64(c.peerDropped, toInt64(ps.dropped.value()), attrs)
			stalled := int64(0)
			if ps.stalled {
				stalled = 1
			}
			o.ObserveInt64(c.peerStalled, stalled, attrs)
		}
	}

	var (
		frontend, backend         [4]uint64
		hasFrontend, hasBackend   bool
		xpubDrops, malformedTotal uint64
	)
	for k, s := range c.series {
		totals := [4]uint64{s.messagesReceived.value(), s.bytesReceived.value(), s.messagesSent.value(), s.bytesSent.value()}
		switch s.role {
		case ZeekProxyFrontend:
			hasFrontend = true
			addAll(&frontend, totals)
		case ZeekProxyBackend:
			hasBackend = true
			addAll(&backend, totals)
		}
		if k.kind == "xpub" {
			for _, reason := range []string{transport.DropHWM, transport.DropStalledPeer} {
				if m, ok := s.drops[reason]; ok {
					xpubDrops = saturatingAdd(xpubDrops, m.value())
				}
			}
		}
		if m, ok := s.drops[transport.DropMalformed]; ok {
			malformedTotal = saturatingAdd(malformedTotal, m.value())
		}
	}
	zeek := metric.WithAttributeSet(c.zeekAttrs)
	if hasFrontend {
		for i, inst := range c.frontend {
			o.ObserveInt64(inst, toInt64(frontend[i]), zeek)
		}
	}
	if hasBackend {
		for i, inst := range c.backend {
			o.ObserveInt64(inst, toInt64(backend[i]), zeek)
		}
	}
	o.ObserveInt64(c.xpubDrops, toInt64(xpubDrops), zeek)
	o.ObserveInt64(c.msgErrors, toInt64(malformedTotal), zeek)
	return err
}

func addAll(dst *[4]uint64, src [4]uint64) {
	for i := range dst {
		dst[i] = saturatingAdd(dst[i], src[i])
	}
}
