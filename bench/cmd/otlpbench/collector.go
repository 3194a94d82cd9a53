package main

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the otlp sink compresses with gzip by default
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/gRPC logs collector in this process that only counts
// the log records it receives.
//
// It shares the machine with zpipe, so by default it does not unmarshal the
// records: its gRPC codec walks the request's wire format down to the
// log_records fields and fills the request with that many empty records
// (nil *LogRecord), which Export then counts as usual. A full unmarshal
// costs about as much CPU per record as zpipe's mapping, and that CPU would
// be missing from zpipe on a 2-core machine (-collector-decode full).
type collector struct {
	collogspb.UnimplementedLogsServiceServer
	srv     *grpc.Server
	addr    string
	records atomic.Int64
	// progress gets a token after every export request (never blocks).
	progress chan struct{}
	served   chan error
}

// startCollector serves OTLP/gRPC logs on a free loopback port.
func startCollector(fullDecode bool) (*collector, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("collector: listen: %w", err)
	}
	var opts []grpc.ServerOption
	if !fullDecode {
		opts = append(opts, grpc.ForceServerCodec(countingCodec{}))
	}
	c := &collector{
		srv:      grpc.NewServer(opts...),
		addr:     l.Addr().String(),
		progress: make(chan struct{}, 1),
		served:   make(chan error, 1),
	}
	collogspb.RegisterLogsServiceServer(c.srv, c)
	go func() { c.served <- c.srv.Serve(l) }()
	return c, nil
}

// Export counts the records of one request (summed over resource and scope
// logs) and accepts them all.
func (c *collector) Export(_ context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	n := 0
	for _, rl := range req.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			n += len(sl.GetLogRecords())
		}
	}
	c.records.Add(int64(n))
	select {
	case c.progress <- struct{}{}:
	default:
	}
	return &collogspb.ExportLogsServiceResponse{}, nil
}

// count returns the records received so far.
func (c *collector) count() int64 { return c.records.Load() }

// stop ends the server, letting requests under way finish.
func (c *collector) stop() error {
	c.srv.GracefulStop()
	if err := <-c.served; err != nil && err != grpc.ErrServerStopped {
		return fmt.Errorf("collector: serve: %w", err)
	}
	return nil
}

// countingCodec is the collector's gRPC codec when it does not unmarshal
// records: export requests get their resource and scope structure with
// empty log records, everything else is plain protobuf.
type countingCodec struct{}

func (countingCodec) Name() string { return "proto" }

func (countingCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("collector codec: cannot marshal %T", v)
	}
	return proto.Marshal(m)
}

func (countingCodec) Unmarshal(data []byte, v any) error {
	if req, ok := v.(*collogspb.ExportLogsServiceRequest); ok {
		return shallowRequest(data, req)
	}
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("collector codec: cannot unmarshal into %T", v)
	}
	return proto.Unmarshal(data, m)
}

// Field numbers of the OTLP logs messages (opentelemetry-proto
// collector/logs/v1 and logs/v1).
const (
	fieldResourceLogs = 1 // ExportLogsServiceRequest.resource_logs
	fieldScopeLogs    = 2 // ResourceLogs.scope_logs
	fieldLogRecords   = 2 // ScopeLogs.log_records
)

// shallowRequest fills req from the wire format data with every
// ResourceLogs and ScopeLogs of the request and one nil LogRecord per
// log_records entry.
func shallowRequest(data []byte, req *collogspb.ExportLogsServiceRequest) error {
	req.Reset()
	err := eachField(data, fieldResourceLogs, func(rl []byte) error {
		r := &logspb.ResourceLogs{}
		req.ResourceLogs = append(req.ResourceLogs, r)
		return eachField(rl, fieldScopeLogs, func(sl []byte) error {
			s := &logspb.ScopeLogs{}
			r.ScopeLogs = append(r.ScopeLogs, s)
			return eachField(sl, fieldLogRecords, func([]byte) error {
				s.LogRecords = append(s.LogRecords, nil)
				return nil
			})
		})
	})
	if err != nil {
		return fmt.Errorf("collector codec: export request: %w", err)
	}
	return nil
}

// eachField calls f with the contents of every length-delimited field
// number num of the message b, skipping the other fields.
func eachField(b []byte, num protowire.Number, f func([]byte) error) error {
	for len(b) > 0 {
		n, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return protowire.ParseError(tagLen)
		}
		b = b[tagLen:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return protowire.ParseError(l)
			}
			if err := f(v); err != nil {
				return err
			}
			b = b[l:]
			continue
		}
		l := protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
	}
	return nil
}
