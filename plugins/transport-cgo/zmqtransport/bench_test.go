package zmqtransport

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/transport"
)

// Benchmarks of the broker's hot path: Zeek-shaped 4-frame events from a
// publisher through a forwarder (xsub → xpub) to one subscriber, over tcp on
// 127.0.0.1. The forwarder is this package's link, libzmq's zmq_proxy, or a
// Go loop calling pebbe once per frame. Publisher and subscriber are this
// package's sockets driven through Send and Recv batches, so they cost few
// cgo crossings and the forwarder is what is measured.
//
//	go test -run '^$' -bench . ./plugins/transport-cgo/zmqtransport/

// forwarder starts an xsub→xpub forwarder bound to tcp://127.0.0.1:* and
// returns its endpoints and a function that stops it.
type forwarder func(b *testing.B) (xsubEP, xpubEP string, stop func())

func BenchmarkForward(b *testing.B) {
	for _, size := range []int{64, 1024} {
		for _, f := range []struct {
			name string
			fwd  forwarder
		}{
			{"link", linkForwarder},
			{"zmq_proxy", proxyForwarder},
			{"goloop", goLoopForwarder},
		} {
			b.Run(fmt.Sprintf("%dB/%s", size, f.name), func(b *testing.B) {
				benchForward(b, f.fwd, size)
			})
		}
	}
}

func benchForward(b *testing.B, fwd forwarder, size int) {
	xsubEP, xpubEP, stop := fwd(b)
	defer stop()
	peers := New()
	defer peers.CloseAll(context.Background())
	ctx := context.Background()
	open := func(id, kind string, a attrs) {
		if err := peers.Open(ctx, transport.SocketSpec{ID: id, Kind: kind, Config: mustJSON(b, a)}); err != nil {
			b.Fatal(err)
		}
	}
	open("pub", KindXPub, attrs{"connect": []string{xsubEP}, "linger_ms": 0})
	open("sub", KindXSub, attrs{"connect": []string{xpubEP}, "linger_ms": 0})
	var sb message.Batch
	sb.Append(sub(""))
	if _, err := peers.Send(ctx, "sub", &sb); err != nil {
		b.Fatal(err)
	}
	// Wait until the subscription reached the publisher.
	rctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	sb.Reset()
	if err := peers.Recv(rctx, "pub", &sb, transport.Limits{}); err != nil {
		b.Fatalf("subscription at the publisher: %v", err)
	}

	var batch message.Batch
	payload := bytes.Repeat([]byte{'x'}, size)
	const perBatch = 512
	for range perBatch {
		batch.Append(event("zeek.cluster.worker", "zeromq_manager_zeek1_4100_N9kP", payload)...)
	}
	b.SetBytes(int64(frameBytes(event("zeek.cluster.worker", "zeromq_manager_zeek1_4100_N9kP", payload))))
	pubErr := make(chan error, 1)
	b.ResetTimer()
	cpuStart := processCPU(b)
	start := time.Now()
	go func() {
		for sent := 0; sent < b.N; {
			n := min(perBatch, b.N-sent)
			part := message.Batch{Data: batch.Data[:n*len(batch.Data)/perBatch], Sizes: batch.Sizes[:4*n], Parts: batch.Parts[:n]}
			res, err := peers.Send(rctx, "pub", &part)
			if err != nil {
				pubErr <- err
				return
			}
			if res.Dropped > 0 {
				pubErr <- fmt.Errorf("publisher dropped %d", res.Dropped)
				return
			}
			sent += n
		}
		pubErr <- nil
	}()
	var rb message.Batch
	for got := 0; got < b.N; {
		rb.Reset()
		if err := peers.Recv(rctx, "sub", &rb, transport.Limits{MaxMessages: 1024}); err != nil {
			b.Fatalf("after %d of %d: %v", got, b.N, err)
		}
		got += rb.Len()
	}
	elapsed := time.Since(start)
	cpu := processCPU(b) - cpuStart
	b.StopTimer()
	if err := <-pubErr; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	// CPU of the whole process (publisher, forwarder, subscriber and
	// libzmq's I/O threads) per event: compare forwarders by difference.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// linkForwarder is this package's link, its xpub set up as in
// pipelines/zeek-broker.hcl (a refused message waits up to 1000 ms, then a
// stalled subscriber is skipped).
func linkForwarder(b *testing.B) (string, string, func()) {
	s := New()
	ctx := context.Background()
	for _, spec := range []transport.SocketSpec{
		{ID: "xsub", Kind: KindXSub, Config: []byte(`{"bind":["tcp://127.0.0.1:*"],"linger_ms":0}`)},
		{ID: "xpub", Kind: KindXPub, Config: []byte(`{"bind":["tcp://127.0.0.1:*"],"verboser":true,"send_timeout_ms":1000,"linger_ms":0}`)},
	} {
		if err := s.Open(ctx, spec); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.StartLink(ctx, transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}}); err != nil {
		b.Fatal(err)
	}
	return boundEndpoint(b, s, "xsub", 0), boundEndpoint(b, s, "xpub", 0), func() { s.CloseAll(ctx) }
}

// baselineSockets opens an XSUB and an XPUB set up as Zeek's broker does.
func baselineSockets(b *testing.B) (ctx *zmq.Context, xsub, xpub *zmq.Socket, xsubEP, xpubEP string) {
	ctx, err := zmq.NewContext()
	if err != nil {
		b.Fatal(err)
	}
	xsub, _ = ctx.NewSocket(zmq.XSUB)
	xpub, _ = ctx.NewSocket(zmq.XPUB)
	for _, s := range []*zmq.Socket{xsub, xpub} {
		if err := s.SetLinger(0); err != nil {
			b.Fatal(err)
		}
		if err := s.Bind("tcp://127.0.0.1:*"); err != nil {
			b.Fatal(err)
		}
	}
	if err := xpub.SetXpubVerboser(1); err != nil {
		b.Fatal(err)
	}
	if err := xpub.SetXpubNodrop(true); err != nil {
		b.Fatal(err)
	}
	xsubEP, _ = xsub.GetLastEndpoint()
	xpubEP, _ = xpub.GetLastEndpoint()
	return ctx, xsub, xpub, xsubEP, xpubEP
}

// controlPair returns both ends of an inproc PAIR used to stop a loop.
func controlPair(b *testing.B, ctx *zmq.Context) (in, out *zmq.Socket) {
	in, _ = ctx.NewSocket(zmq.PAIR)
	out, _ = ctx.NewSocket(zmq.PAIR)
	if err := in.Bind("inproc://bench-control"); err != nil {
		b.Fatal(err)
	}
	if err := out.Connect("inproc://bench-control"); err != nil {
		b.Fatal(err)
	}
	return in, out
}

// proxyForwarder is libzmq's zmq_proxy_steerable, as Zeek's broker runs it.
func proxyForwarder(b *testing.B) (string, string, func()) {
	ctx, xsub, xpub, xsubEP, xpubEP := baselineSockets(b)
	in, out := controlPair(b, ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = zmq.ProxySteerable(xsub, xpub, nil, in)
	}()
	return xsubEP, xpubEP, func() {
		_, _ = out.Send("TERMINATE", 0)
		<-done
		for _, s := range []*zmq.Socket{xsub, xpub, in, out} {
			s.Close()
		}
		_ = ctx.Term()
	}
}

// goLoopForwarder is a Go poll loop over pebbe, one cgo call per frame.
func goLoopForwarder(b *testing.B) (string, string, func()) {
	ctx, xsub, xpub, xsubEP, xpubEP := baselineSockets(b)
	in, out := controlPair(b, ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		poller := zmq.NewPoller()
		poller.Add(in, zmq.POLLIN)
		poller.Add(xsub, zmq.POLLIN)
		poller.Add(xpub, zmq.POLLIN)
		forward := func(from, to *zmq.Socket) bool {
			for range 100 {
				for more := true; more; {
					frame, err := from.RecvBytes(zmq.DONTWAIT)
					if err != nil {
						return true
					}
					more, _ = from.GetRcvmore()
					flags := zmq.Flag(0)
					if more {
						flags = zmq.SNDMORE
					}
					if _, err := to.SendBytes(frame, flags); err != nil {
						return false
					}
				}
			}
			return true
		}
		for {
			polled, err := poller.PollAll(-1)
			if err != nil {
				return
			}
			if polled[0].Events != 0 {
				return
			}
			if polled[1].Events != 0 && !forward(xsub, xpub) {
				return
			}
			if polled[2].Events != 0 && !forward(xpub, xsub) {
				return
			}
		}
	}()
	return xsubEP, xpubEP, func() {
		_, _ = out.Send("stop", 0)
		<-done
		for _, s := range []*zmq.Socket{xsub, xpub, in, out} {
			s.Close()
		}
		_ = ctx.Term()
	}
}
