package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// StageObservation is the state of one stage at collection time. Stage
// counters live in zpipe's own process and never restart.
type StageObservation struct {
	Pipeline, Component, Kind string
	Received, Sent, Undecoded uint64
	// Dropped counts drops by reason (the error.type attribute).
	Dropped map[string]uint64
	// HasDepth is set for queue stages, which report Depth and Capacity
	// in messages, Bytes and MaxBytes in bytes.
	HasDepth        bool
	Depth, Capacity int64
	Bytes, MaxBytes int64
}

// OnloopKind is the stage kind whose queue_full drops are Zeek's onloop
// drops.
const OnloopKind = "onloop"

// RegisterStages registers the stage counters (zpipe.messages.received,
// .sent, .dropped, .undecoded under the stage's component), the queue
// gauges (messages and bytes), and Zeek's onloop drop counter (queue_full drops of every onloop
// stage), fed by fn at collection time. If zeekNode is not empty, the
// Zeek-named counter carries node=zeekNode.
func RegisterStages(mp metric.MeterProvider, zeekNode string, fn func() []StageObservation) (Registration, error) {
	if mp == nil {
		return nil, errors.New("register stage metrics: nil meter provider")
	}
	if fn == nil {
		return nil, errors.New("register stage metrics: nil observation function")
	}
	meter := mp.Meter(instrumentationScope)
	insts, err := newObservables(meter, MetricMessagesReceived, MetricMessagesSent, MetricMessagesDropped,
		MetricMessagesUndecoded, MetricQueueDepth, MetricQueueCapacity, MetricQueueBytes, MetricQueueBytesCapacity, MetricZeekOnloopDrops)
	if err != nil {
		return nil, fmt.Errorf("register stage metrics: %w", err)
	}
	received, sent, dropped, undecoded, depth, capacity, qbytes, qbytesCap, onloop := insts[0], insts[1], insts[2], insts[3], insts[4], insts[5], insts[6], insts[7], insts[8]
	var zeekAttrs []attribute.KeyValue
	if zeekNode != "" {
		zeekAttrs = append(zeekAttrs, attribute.String(AttrNode, zeekNode))
	}
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		var onloopDrops uint64
		for _, s := range fn() {
			attrs := []attribute.KeyValue{
				attribute.String(AttrPipeline, s.Pipeline),
				attribute.String(AttrComponent, s.Component),
				attribute.String(AttrKind, s.Kind),
			}
			set := metric.WithAttributes(attrs...)
			o.ObserveInt64(received, toInt64(s.Received), set)
			o.ObserveInt64(sent, toInt64(s.Sent), set)
			o.ObserveInt64(undecoded, toInt64(s.Undecoded), set)
			for reason, n := range s.Dropped {
				o.ObserveInt64(dropped, toInt64(n), metric.WithAttributes(append(attrs, attribute.String(AttrErrorType, reason))...))
			}
			if s.HasDepth {
				o.ObserveInt64(depth, s.Depth, set)
				o.ObserveInt64(capacity, s.Capacity, set)
				o.ObserveInt64(qbytes, s.Bytes, set)
				o.ObserveInt64(qbytesCap, s.MaxBytes, set)
			}
			if s.Kind == OnloopKind {
				onloopDrops = saturatingAdd(onloopDrops, s.Dropped["queue_full"])
			}
		}
		o.ObserveInt64(onloop, toInt64(onloopDrops), metric.WithAttributes(zeekAttrs...))
		return nil
	}, received, sent, dropped, undecoded, depth, capacity, qbytes, qbytesCap, onloop)
	if err != nil {
		return nil, fmt.Errorf("register stage metrics: %w", err)
	}
	return reg, nil
}

// MemberObservation is one cluster node a hello_tracker stage sees up.
type MemberObservation struct {
	Pipeline, Component string
	Name, Role          string
}

// maxMemberSeries bounds the series of zpipe.cluster.nodes kept at 0
// after their node went down.
const maxMemberSeries = 10000

// RegisterMembership registers zpipe.cluster.nodes, fed by fn at
// collection time: the number of nodes up per tracker, name and role. A
// name seen up once stays in the series, at 0 while down.
func RegisterMembership(mp metric.MeterProvider, fn func() []MemberObservation) (Registration, error) {
	if mp == nil || fn == nil {
		return nil, errors.New("register membership metrics: nil meter provider or function")
	}
	meter := mp.Meter(instrumentationScope)
	nodes, err := newObservable(meter, MetricClusterNodes)
	if err != nil {
		return nil, fmt.Errorf("register membership metrics: %w", err)
	}
	// seen keeps every (tracker, name, role) once observed, so that a node
	// that went down reads 0 rather than vanishing from the series.
	var (
		mu   sync.Mutex
		seen = map[MemberObservation]bool{}
	)
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		counts := map[MemberObservation]int64{}
		for _, m := range fn() {
			counts[m]++
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen)+len(counts) > maxMemberSeries {
			clear(seen) // a cluster of that many names is beyond the gauge's purpose; start over
		}
		for m := range counts {
			seen[m] = true
		}
		for m := range seen {
			n := counts[m]
			o.ObserveInt64(nodes, n, metric.WithAttributes(
				attribute.String(AttrPipeline, m.Pipeline), attribute.String(AttrComponent, m.Component),
				attribute.String(AttrNodeName, m.Name), attribute.String(AttrNodeRole, m.Role)))
		}
		return nil
	}, nodes)
	if err != nil {
		return nil, fmt.Errorf("register membership metrics: %w", err)
	}
	return reg, nil
}

// RegisterMembership is RegisterMembership on this provider.
func (t *Telemetry) RegisterMembership(fn func() []MemberObservation) (Registration, error) {
	return RegisterMembership(t.provider, fn)
}
