package otlpsink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/stagetest"
)

// reply scripts the collector's answer to one export request.
type reply struct {
	code       codes.Code // gRPC: a failure status
	httpStatus int        // HTTP: a failure status
	rejected   int64      // partial success
	message    string
	// retryAfter, with a failure, asks the client to wait: a RetryInfo
	// detail (gRPC) or a Retry-After header in whole seconds (HTTP).
	retryAfter time.Duration
}

// seen is what the collector noted about one request.
type seen struct {
	headers     map[string]string // lowercased names
	compression string            // "gzip" or ""
	at          time.Time         // when the request arrived
}

// collector is an OTLP logs collector in the test process, serving
// OTLP/gRPC (collectorlogs.LogsServiceServer) or OTLP/HTTP (POST /v1/logs,
// protobuf).
type collector struct {
	collogspb.UnimplementedLogsServiceServer
	t     testing.TB
	proto string
	addr  string
	tls   *tls.Config // server side; nil: plain text
	keep  bool        // keep the records (false: only count them)

	mu       sync.Mutex
	script   []reply
	requests []*collogspb.ExportLogsServiceRequest
	records  []*logspb.LogRecord
	seen     []seen
	inComp   []string // gRPC: compression of each incoming request header
	count    atomic.Int64

	grpcSrv *grpc.Server
	httpSrv *http.Server
	served  chan struct{}
}

// newCollector returns a collector with an address reserved for it, not
// started.
func newCollector(t testing.TB, protocol string, tlsConf *tls.Config) *collector {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := &collector{t: t, proto: protocol, addr: addr, tls: tlsConf, keep: true}
	t.Cleanup(c.stop)
	return c
}

// startCollector returns a running collector.
func startCollector(t testing.TB, protocol string, tlsConf *tls.Config) *collector {
	c := newCollector(t, protocol, tlsConf)
	c.start()
	return c
}

// endpoint is the sink's endpoint attribute for the collector.
func (c *collector) endpoint() string {
	if c.proto == ProtocolGRPC {
		return c.addr
	}
	if c.tls != nil {
		return "https://" + c.addr
	}
	return "http://" + c.addr
}

// start serves on the collector's address (again, after stop).
func (c *collector) start() {
	c.t.Helper()
	var l net.Listener
	var err error
	for range 100 { // the port was free; another test may hold it briefly
		if l, err = net.Listen("tcp", c.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.served = make(chan struct{})
	switch c.proto {
	case ProtocolGRPC:
		opts := []grpc.ServerOption{grpc.StatsHandler(compressionSpy{c})}
		if c.tls != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(c.tls)))
		}
		c.grpcSrv = grpc.NewServer(opts...)
		collogspb.RegisterLogsServiceServer(c.grpcSrv, c)
		go func(s *grpc.Server) { defer close(c.served); _ = s.Serve(l) }(c.grpcSrv)
	default:
		c.httpSrv = &http.Server{Handler: http.HandlerFunc(c.serveHTTP), TLSConfig: c.tls, ReadHeaderTimeout: 5 * time.Second}
		go func(s *http.Server) {
			defer close(c.served)
			if c.tls != nil {
				_ = s.ServeTLS(l, "", "")
				return
			}
			_ = s.Serve(l)
		}(c.httpSrv)
	}
}

// stop stops serving and closes every connection.
func (c *collector) stop() {
	switch {
	case c.grpcSrv != nil:
		c.grpcSrv.Stop()
		c.grpcSrv = nil
	case c.httpSrv != nil:
		c.httpSrv.Close()
		c.httpSrv = nil
	default:
		return
	}
	<-c.served
}

// then scripts the answers to the next requests.
func (c *collector) then(r ...reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.script = append(c.script, r...)
}

// Records returns the records received so far.
func (c *collector) Records() []*logspb.LogRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*logspb.LogRecord(nil), c.records...)
}

func (c *collector) Requests() []*collogspb.ExportLogsServiceRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*collogspb.ExportLogsServiceRequest(nil), c.requests...)
}

func (c *collector) Seen() []seen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]seen(nil), c.seen...)
}

// handle takes one request; it returns the scripted failure, if any.
func (c *collector) handle(req *collogspb.ExportLogsServiceRequest, s seen) (*collogspb.ExportLogsServiceResponse, *reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.at = time.Now()
	c.seen = append(c.seen, s)
	var r reply
	if len(c.script) > 0 {
		r, c.script = c.script[0], c.script[1:]
	}
	if r.code != codes.OK || r.httpStatus != 0 {
		return nil, &r
	}
	var recs []*logspb.LogRecord
	for _, rl := range req.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			recs = append(recs, sl.GetLogRecords()...)
		}
	}
	keep := recs[:len(recs)-int(min(r.rejected, int64(len(recs))))]
	c.count.Add(int64(len(keep)))
	if c.keep {
		c.requests = append(c.requests, req)
		c.records = append(c.records, keep...)
	}
	resp := &collogspb.ExportLogsServiceResponse{}
	if r.rejected > 0 || r.message != "" {
		resp.PartialSuccess = &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: r.rejected, ErrorMessage: r.message}
	}
	return resp, nil
}

// Export serves OTLP/gRPC.
func (c *collector) Export(ctx context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	s := seen{headers: map[string]string{}}
	md, _ := metadata.FromIncomingContext(ctx)
	for k, v := range md {
		s.headers[k] = strings.Join(v, ",")
	}
	c.mu.Lock()
	if n := len(c.inComp); n > 0 {
		s.compression = c.inComp[n-1]
	}
	c.mu.Unlock()
	resp, fail := c.handle(req, s)
	if fail != nil {
		st := status.New(fail.code, fail.message)
		if fail.retryAfter > 0 {
			if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(fail.retryAfter)}); err == nil {
				st = d
			}
		}
		return nil, st.Err()
	}
	return resp, nil
}

// serveHTTP serves OTLP/HTTP.
func (c *collector) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/logs" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want application/x-protobuf", http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	s := seen{headers: map[string]string{}}
	for k, v := range r.Header {
		s.headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body, s.compression = zr, "gzip"
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req collogspb.ExportLogsServiceRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, fail := c.handle(&req, s)
	w.Header().Set("Content-Type", "application/x-protobuf")
	if fail != nil {
		out, _ := proto.Marshal(&spb.Status{Code: int32(codes.InvalidArgument), Message: fail.message})
		if fail.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(fail.retryAfter/time.Second)))
		}
		w.WriteHeader(fail.httpStatus)
		_, _ = w.Write(out)
		return
	}
	out, err := proto.Marshal(resp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(out)
}

// compressionSpy notes the compression of incoming gRPC requests.
type compressionSpy struct{ c *collector }

func (s compressionSpy) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (s compressionSpy) HandleRPC(_ context.Context, st stats.RPCStats) {
	if h, ok := st.(*stats.InHeader); ok {
		s.c.mu.Lock()
		s.c.inComp = append(s.c.inComp, h.Compression)
		s.c.mu.Unlock()
	}
}
func (s compressionSpy) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (s compressionSpy) HandleConn(context.Context, stats.ConnStats) {}

// logs captures what a sink logs.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
	t   testing.TB
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Logf("%s", bytes.TrimSuffix(p, []byte("\n")))
	return l.buf.Write(p)
}

func (l *logs) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.buf.String(), s)
}

// withDefaults returns config with the schema's defaults for what it
// leaves out, as the configuration loader hands it to New.
func withDefaults(t testing.TB, config map[string]any) []byte {
	t.Helper()
	full := map[string]any{}
	for _, a := range Kind.Schema.Attributes {
		if a.Default != nil {
			full[a.Name] = a.Default
		}
	}
	for k, v := range config {
		full[k] = v
	}
	raw, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// newSink makes a sink; its log goes to the returned logs.
func newSink(t testing.TB, config map[string]any) (*Sink, *logs) {
	t.Helper()
	l := &logs{t: t}
	env := stage.Env{
		Pipeline: "p", Component: "sink.otlp.test",
		Logger: slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Codecs: stagetest.Codecs(t),
	}
	st, err := Kind.New(env, withDefaults(t, config))
	if err != nil {
		t.Fatal(err)
	}
	return st.(*Sink), l
}

// run runs the sink's Run in a goroutine; the returned function closes
// the input and returns Run's error. Cleanup stops it in any case.
func run(t testing.TB, s *Sink) (finish func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var err error
	finish = func() error {
		once.Do(func() {
			s.CloseInput()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("Run did not return within 30s of CloseInput")
				cancel()
				<-done
			}
		})
		return err
	}
	t.Cleanup(func() { cancel(); _ = finish() })
	return finish
}

// pki is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type pki struct {
	caFile, certFile, keyFile string // CA; client certificate and key
	server                    tls.Certificate
	pool                      *x509.CertPool
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zpipe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := &pki{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = write("ca.pem", "CERTIFICATE", caDER)
	sDER, sKey := leaf(2, x509.ExtKeyUsageServerAuth)
	p.server = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := leaf(3, x509.ExtKeyUsageClientAuth)
	p.certFile = write("client.pem", "CERTIFICATE", cDER)
	keyDER, err := x509.MarshalECPrivateKey(cKey)
	if err != nil {
		t.Fatal(err)
	}
	p.keyFile = write("client-key.pem", "EC PRIVATE KEY", keyDER)
	return p
}

// serverTLS returns the collector's TLS configuration; mutual requires a
// client certificate from the CA.
func (p *pki) serverTLS(mutual bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	if mutual {
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, p.pool
	}
	return c
}
