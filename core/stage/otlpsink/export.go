package otlpsink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	grpcgzip "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// exporter sends one export request to the collector.
type exporter interface {
	export(ctx context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error)
	close() error
}

// exportError is a failed export: whether trying again may succeed, and
// how long the collector asked to wait first (0: not said).
type exportError struct {
	retryable  bool
	retryAfter time.Duration
	err        error
}

func (e *exportError) Error() string { return e.err.Error() }
func (e *exportError) Unwrap() error { return e.err }

// retryable reports whether err is worth trying again, and the wait the
// collector asked for.
func retryable(err error) (bool, time.Duration) {
	var ee *exportError
	if errors.As(err, &ee) {
		return ee.retryable, ee.retryAfter
	}
	return false, 0
}

// grpcExporter exports over gRPC (OTLP/gRPC).
type grpcExporter struct {
	conn   *grpc.ClientConn
	client collogspb.LogsServiceClient
	md     metadata.MD
	opts   []grpc.CallOption
}

func newGRPCExporter(s *settings) (*grpcExporter, error) {
	creds := insecure.NewCredentials()
	if !s.insecure {
		creds = credentials.NewTLS(s.tls)
	}
	bo := grpcbackoff.DefaultConfig
	bo.BaseDelay, bo.MaxDelay = s.retryInitial, s.retryMax
	conn, err := grpc.NewClient(s.endpoint,
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: s.timeout}),
		grpc.WithUserAgent("zpipe-otlp-sink"))
	if err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", s.endpoint, err)
	}
	e := &grpcExporter{conn: conn, client: collogspb.NewLogsServiceClient(conn)}
	if len(s.headers) > 0 {
		e.md = metadata.New(s.headers)
	}
	if s.gzip {
		e.opts = append(e.opts, grpc.UseCompressor(grpcgzip.Name))
	}
	return e, nil
}

// grpcRetryable are the status codes worth retrying: the OTLP
// specification's list, plus ResourceExhausted (a collector under
// pressure), which the specification retries only with RetryInfo.
var grpcRetryable = map[codes.Code]bool{
	codes.Canceled: true, codes.DeadlineExceeded: true, codes.Aborted: true, codes.OutOfRange: true,
	codes.Unavailable: true, codes.DataLoss: true, codes.ResourceExhausted: true,
}

func (e *grpcExporter) export(ctx context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	if e.md != nil {
		ctx = metadata.NewOutgoingContext(ctx, e.md)
	}
	resp, err := e.client.Export(ctx, req, e.opts...)
	if err != nil {
		st := status.Convert(err)
		return nil, &exportError{retryable: grpcRetryable[st.Code()], retryAfter: retryDelay(st),
			err: fmt.Errorf("grpc export: %s: %s", st.Code(), st.Message())}
	}
	return resp, nil
}

// retryDelay returns the wait a collector asked for in a RetryInfo
// detail of its status (OTLP/gRPC's throttling), or 0.
func retryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return max(ri.GetRetryDelay().AsDuration(), 0)
		}
	}
	return 0
}

func (e *grpcExporter) close() error { return e.conn.Close() }

// httpExporter exports over HTTP with protobuf bodies (OTLP/HTTP).
type httpExporter struct {
	url       string
	headers   map[string]string
	gzip      bool
	client    *http.Client
	transport *http.Transport
	zw        *gzip.Writer // reset onto each request's own buffer
	sizeHint  int          // size of the last request body
}

// maxResponse bounds how much of a response body the exporter reads.
const maxResponse = 64 << 10

func newHTTPExporter(s *settings) *httpExporter {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = s.tls
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	e := &httpExporter{url: s.endpoint, headers: s.headers, gzip: s.gzip, transport: t, client: &http.Client{Transport: t}}
	if s.gzip {
		e.zw = gzip.NewWriter(io.Discard)
	}
	return e
}

// httpRetryable are the HTTP statuses OTLP/HTTP says to retry.
var httpRetryable = map[int]bool{
	http.StatusTooManyRequests: true, http.StatusBadGateway: true,
	http.StatusServiceUnavailable: true, http.StatusGatewayTimeout: true,
}

func (e *httpExporter) export(ctx context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	// Each request gets buffers of its own: the transport may still read a
	// body after Do returned (an early answer), so none is reused.
	body, err := proto.MarshalOptions{}.MarshalAppend(make([]byte, 0, e.sizeHint), req)
	if err != nil {
		return nil, fmt.Errorf("http export: marshal: %w", err)
	}
	e.sizeHint = len(body)
	if e.gzip {
		zbuf := bytes.NewBuffer(make([]byte, 0, len(body)/4))
		e.zw.Reset(zbuf)
		if _, err := e.zw.Write(body); err != nil {
			return nil, fmt.Errorf("http export: gzip: %w", err)
		}
		if err := e.zw.Close(); err != nil {
			return nil, fmt.Errorf("http export: gzip: %w", err)
		}
		body = zbuf.Bytes()
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("http export: %w", err)
	}
	for k, v := range e.headers {
		hreq.Header.Set(k, v)
	}
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("User-Agent", "zpipe-otlp-sink")
	if e.gzip {
		hreq.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := e.client.Do(hreq)
	if err != nil {
		// Connection refused or reset, timeouts: the collector may come back.
		return nil, &exportError{retryable: true, err: fmt.Errorf("http export: %w", err)}
	}
	defer resp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	_, _ = io.Copy(io.Discard, resp.Body) // let the connection be reused
	if resp.StatusCode/100 == 2 {
		if rerr != nil {
			return nil, &exportError{retryable: true, err: fmt.Errorf("http export: reading the response: %w", rerr)}
		}
		var out collogspb.ExportLogsServiceResponse
		if err := proto.Unmarshal(data, &out); err != nil {
			// The records were accepted; only the details are unreadable.
			return &collogspb.ExportLogsServiceResponse{}, nil
		}
		return &out, nil
	}
	msg := responseMessage(data)
	ee := &exportError{retryable: httpRetryable[resp.StatusCode], err: fmt.Errorf("http export: %s: %s", resp.Status, msg)}
	if ee.retryable {
		ee.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return nil, ee
}

// responseMessage returns the message of an error response: a
// google.rpc.Status in protobuf as OTLP/HTTP specifies, or else the start
// of the body as text.
func responseMessage(data []byte) string {
	var st spb.Status
	if len(data) > 0 && proto.Unmarshal(data, &st) == nil && st.GetMessage() != "" {
		return utf8Safe(st.GetMessage())
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return utf8Safe(s)
}

// parseRetryAfter parses a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func (e *httpExporter) close() error {
	e.transport.CloseIdleConnections()
	return nil
}
