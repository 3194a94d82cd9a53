package puretransport

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
	"github.com/zpipe/zpipe/plugins/transport-cgo/zmqtransport"
)

// Benchmarks of the broker's hot path: Zeek-shaped 4-frame events from a
// publisher through a forwarder (xsub → xpub) to one subscriber, over tcp
// on 127.0.0.1. The forwarder is this package's link, the libzmq
// transport's link, or libzmq's own zmq_proxy (run in-process through
// pebbe/zmq4, set up as Zeek's broker is). Publisher and subscriber are
// libzmq sockets driven in batches through the libzmq transport, so they
// cost little and the forwarder is what is measured.
//
//	go test -run '^$' -bench Forward ./plugins/transport-purego/puretransport/
//	go test -run '^$' -bench 'Forward/64B/purego' -cpuprofile cpu.out ./plugins/transport-purego/puretransport/

// forwarder starts an xsub→xpub forwarder bound to tcp://127.0.0.1:* and
// returns its endpoints and a function that stops it.
type forwarder func(b *testing.B) (xsubEP, xpubEP string, stop func())

func BenchmarkForward(b *testing.B) {
	for _, size := range []int{64, 1024} {
		for _, f := range []struct {
			name string
			fwd  forwarder
		}{
			{"purego", linkForwarder(func() transport.Server { return New() })},
			{"cgo", linkForwarder(func() transport.Server { return zmqtransport.New() })},
			{"zmq_proxy", proxyForwarder},
		} {
			b.Run(fmt.Sprintf("%dB/%s", size, f.name), func(b *testing.B) {
				benchForward(b, f.fwd, size)
			})
		}
	}
}

// endpointer is what both transports offer beyond transport.Server.
type endpointer interface {
	BoundEndpoints(id string) ([]string, error)
	CloseAll(ctx context.Context) error
}

func benchForward(b *testing.B, fwd forwarder, size int) {
	xsubEP, xpubEP, stop := fwd(b)
	defer stop()
	peers := zmqtransport.New()
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
	ev := event("zeek.cluster.worker", "zeromq_manager_zeek1_4100_N9kP", payload)
	for range perBatch {
		batch.Append(ev...)
	}
	b.SetBytes(int64(frameBytes(ev)))
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
	// CPU of the whole process (publisher, forwarder, subscriber, libzmq's
	// I/O threads) per event: compare forwarders by difference.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// linkForwarder is a transport's link, set up as the zeek-broker pipeline
// sets it up.
func linkForwarder(newServer func() transport.Server) forwarder {
	return func(b *testing.B) (string, string, func()) {
		s := newServer()
		ctx := context.Background()
		for _, spec := range []transport.SocketSpec{
			{ID: "xsub", Kind: KindXSub, Config: []byte(`{"bind":["tcp://127.0.0.1:*"],"linger_ms":0}`)},
			{ID: "xpub", Kind: KindXPub, Config: []byte(`{"bind":["tcp://127.0.0.1:*"],"verboser":true,"linger_ms":0}`)},
		} {
			if err := s.Open(ctx, spec); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.StartLink(ctx, transport.LinkSpec{ID: "l", Source: "xsub", Sinks: []string{"xpub"}}); err != nil {
			b.Fatal(err)
		}
		e := s.(endpointer)
		ep := func(id string) string {
			eps, err := e.BoundEndpoints(id)
			if err != nil {
				b.Fatal(err)
			}
			return eps[0]
		}
		return ep("xsub"), ep("xpub"), func() { _ = e.CloseAll(ctx) }
	}
}

// proxyForwarder is libzmq's zmq_proxy, as Zeek's broker runs it: XPUB
// with VERBOSER and NODROP.
func proxyForwarder(b *testing.B) (string, string, func()) {
	ctx, err := zmq.NewContext()
	if err != nil {
		b.Fatal(err)
	}
	xsub, _ := ctx.NewSocket(zmq.XSUB)
	xpub, _ := ctx.NewSocket(zmq.XPUB)
	for _, err := range []error{xpub.SetXpubVerboser(1), xpub.SetXpubNodrop(true)} {
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, s := range []*zmq.Socket{xsub, xpub} {
		if err := s.SetLinger(0); err != nil {
			b.Fatal(err)
		}
		if err := s.Bind("tcp://127.0.0.1:*"); err != nil {
			b.Fatal(err)
		}
	}
	xsubEP, _ := xsub.GetLastEndpoint()
	xpubEP, _ := xpub.GetLastEndpoint()
	in, _ := ctx.NewSocket(zmq.PAIR)
	out, _ := ctx.NewSocket(zmq.PAIR)
	if err := in.Bind("inproc://bench-control"); err != nil {
		b.Fatal(err)
	}
	if err := out.Connect("inproc://bench-control"); err != nil {
		b.Fatal(err)
	}
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
