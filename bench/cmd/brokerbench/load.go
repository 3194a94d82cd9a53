package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/zpipe/zpipe/bench/internal/cload"
	"github.com/zpipe/zpipe/internal/zeektest"
	"github.com/zpipe/zpipe/internal/zeektest/brokerproc"
)

// noProgress is how long a load-generator socket waits to send or receive
// before it gives up on a run.
const noProgress = 10 * time.Second

// throughputConfig is one throughput run.
type throughputConfig struct {
	Publishers int
	Payload    int
	// Count is events per publisher; if 0, publishers send for Duration.
	Count     int
	Duration  time.Duration
	IOThreads int
}

// throughput is the outcome of one run.
type throughput struct {
	Received uint64
	Lost     uint64
	Elapsed  time.Duration
	// CPU is the broker process tree's CPU time during the run.
	CPU time.Duration
}

func (r throughput) perSecond() float64 { return float64(r.Received) / r.Elapsed.Seconds() }

func (r throughput) mbPerSecond(payload int) float64 {
	return r.perSecond() * float64(payload) / 1e6
}

func (r throughput) cpuPerEvent() time.Duration {
	if r.Received == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Received)
}

// measureThroughput sends Zeek-shaped 4-frame events from cfg.Publishers
// XPUB sockets (XPUB_NODROP, blocking sends: lossless) through the broker to
// one XSUB and times them end to end. The send and receive loops run in C.
func measureThroughput(ctx context.Context, b *brokerproc.Process, cfg throughputConfig, run int) (throughput, error) {
	c, err := cload.NewContext(cfg.IOThreads)
	if err != nil {
		return throughput{}, err
	}
	defer c.Close()
	ep := b.Endpoints()
	topic := fmt.Sprintf("zeek.bench.throughput.%d.", run)

	sub, err := openSocket(c, cload.XSUB, ep.XPub)
	if err != nil {
		return throughput{}, err
	}
	if err := sub.Send(append([]byte{1}, topic...)); err != nil {
		return throughput{}, fmt.Errorf("subscribe: %w", err)
	}
	pubs := make([]*cload.Socket, cfg.Publishers)
	ids := make([]string, cfg.Publishers)
	for i := range pubs {
		if pubs[i], err = openSocket(c, cload.XPUB, ep.XSub); err != nil {
			return throughput{}, err
		}
		if ids[i], err = zeektest.NewNodeID(fmt.Sprintf("bench-%d", i), "", 0); err != nil {
			return throughput{}, err
		}
		if err := waitSubscribed(ctx, pubs[i], topic); err != nil {
			return throughput{}, err
		}
	}

	cpu0, err := b.CPUTime()
	if err != nil {
		return throughput{}, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	sent := make([]uint64, len(pubs))
	sendErrs := make([]error, len(pubs))
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent[i], sendErrs[i] = p.Publish(topic, ids[i], cfg.Payload, i, uint64(cfg.Count), cfg.Duration)
			if sendErrs[i] != nil {
				sendErrs[i] = fmt.Errorf("publisher %d: %w", i, sendErrs[i])
			}
		}()
	}
	received, lost, recvErr := sub.Receive(len(pubs))
	elapsed := time.Since(start)
	cpu1, cpuErr := b.CPUTime()
	// Publishers stuck on a broker that stopped forwarding give up after
	// their send timeout.
	wg.Wait()
	if err := errors.Join(append(sendErrs, recvErr, cpuErr)...); err != nil {
		return throughput{}, err
	}
	var total uint64
	for _, n := range sent {
		total += n
	}
	if received+lost != total {
		return throughput{}, fmt.Errorf("sent %d events, received %d, %d lost", total, received, lost)
	}
	return throughput{Received: received, Lost: lost, Elapsed: elapsed, CPU: cpu1 - cpu0}, nil
}

// openSocket opens a load-generator socket in c: linger 0, noProgress to
// send or receive, and lossless (XPUB_NODROP) if it publishes.
func openSocket(c *cload.Context, typ cload.Type, endpoint string) (*cload.Socket, error) {
	opts := []cload.Option{cload.Linger(0), cload.SendTimeout(noProgress), cload.ReceiveTimeout(noProgress)}
	if typ == cload.XPUB {
		opts = append(opts, cload.XPubNoDrop())
	}
	return c.Socket(typ, endpoint, opts...)
}

// waitSubscribed reads an XPUB until the subscription to topic arrives.
func waitSubscribed(ctx context.Context, xpub *cload.Socket, topic string) error {
	deadline := time.Now().Add(20 * time.Second)
	want := "\x01" + topic
	for {
		msg, err := xpub.Recv()
		if err == nil && string(msg) == want {
			return nil
		}
		if err != nil && !errors.Is(err, syscall.EAGAIN) {
			return fmt.Errorf("wait for subscription: %w", err)
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("subscription %q never reached the publisher", topic)
		}
	}
}

// measureLatency measures round trips through the broker at a low rate: one
// socket pair publishes to a topic it is itself subscribed to and times each
// event from send to receipt.
func measureLatency(ctx context.Context, b *brokerproc.Process, pings int, interval time.Duration, payload int, run int) ([]time.Duration, error) {
	c, err := cload.NewContext(1)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ep := b.Endpoints()
	topic := fmt.Sprintf("zeek.bench.ping.%d.", run)
	sub, err := openSocket(c, cload.XSUB, ep.XPub)
	if err != nil {
		return nil, err
	}
	pub, err := openSocket(c, cload.XPUB, ep.XSub)
	if err != nil {
		return nil, err
	}
	if err := sub.Send(append([]byte{1}, topic...)); err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	if err := waitSubscribed(ctx, pub, topic); err != nil {
		return nil, err
	}
	id, err := zeektest.NewNodeID("pinger", "", 0)
	if err != nil {
		return nil, err
	}
	body := make([]byte, max(payload, cload.MinPayload))
	const warmUp = 10
	rtts := make([]time.Duration, 0, pings)
	for i := range pings + warmUp {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		binary.BigEndian.PutUint64(body, uint64(i))
		start := time.Now()
		if err := pub.SendMessage([]byte(topic), []byte(id), []byte(zeektest.FormatBrokerBinV1), body); err != nil {
			return nil, fmt.Errorf("ping %d: %w", i, err)
		}
		msg, err := sub.RecvMessage()
		if err != nil {
			return nil, fmt.Errorf("ping %d: receive: %w", i, err)
		}
		rtt := time.Since(start)
		if len(msg) != 4 || len(msg[3]) < 8 || binary.BigEndian.Uint64(msg[3]) != uint64(i) {
			return nil, fmt.Errorf("ping %d: unexpected reply %q", i, msg)
		}
		if i >= warmUp {
			rtts = append(rtts, rtt)
		}
		time.Sleep(interval)
	}
	slices.Sort(rtts)
	return rtts, nil
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
