// Package otlpsink is the otlp sink: it bridges Zeek events and Zeek log
// records into an OpenTelemetry collector as OTLP log records, over gRPC
// or HTTP (protobuf), with batching, a bounded queue whose overflow is
// counted, retry with exponential backoff, and a flush on shutdown.
//
//	sink "otlp" "collector" {
//	  endpoint = "otel-collector:4317"
//	  headers  = { authorization = "Bearer …" }
//	}
//
// The requests are built from the official OTLP protobuf types rather than
// through the OpenTelemetry SDK's log pipeline, whose batch processor drops
// records after its retry window without a count: here records stay queued
// across a collector outage for as long as the queue holds them, and every
// record lost is counted.
//
// # Mapping
//
// Every export request carries one resource, whose attributes are the
// sink's resource attribute (default service.name = "zeek"), and one
// instrumentation scope named ScopeName with the attributes
// zpipe.component and zpipe.pipeline.
//
// An event becomes one log record:
//   - EventName is the event's name;
//   - Body is an ArrayValue of the arguments, each mapped by the value
//     rules below;
//   - attributes messaging.system = "zeromq", messaging.destination.name =
//     the topic (frame 0), zeek.node_id = the sender (frame 1), zeek.format
//     = the payload's format (frame 2);
//   - TimeUnixNano is the event's network timestamp (metadata
//     EventMetadata::NETWORK_TIMESTAMP) when it carries one above 0, else
//     the receive time; ObservedTimeUnixNano is the receive time.
//
// A log batch becomes one log record per Zeek log record:
//   - EventName is "zeek.log.<path>";
//   - every set column is an attribute named as the column ("id.orig_h"),
//     mapped by the value rules below; unset columns are left out (a column
//     named as one of the four attributes below is left out too, as
//     attribute keys must be unique);
//   - attributes zeek.log.path = the path, zeek.node_id = the sender,
//     messaging.system = "zeromq", messaging.destination.name = the topic;
//   - TimeUnixNano is the "ts" column when the log has one of type time,
//     set and above 0, else the receive time; ObservedTimeUnixNano is the
//     receive time;
//   - no Body: every value is already a typed, queryable attribute, and a
//     body repeating them would double the size of every export.
//
// Values:
//   - bool: BoolValue; int: IntValue; double: DoubleValue;
//   - count: IntValue, and above MaxInt64 (2⁶³−1) the decimal digits as a
//     StringValue: exact, which an IntValue cannot be and a DoubleValue is
//     not above 2⁵³; the OpenTelemetry Go log bridges map uint64 the same
//     way;
//   - time: a StringValue in RFC 3339, UTC, with nine digits of
//     nanoseconds ("2023-11-14T22:13:20.250000000Z"). Broker's times are
//     exact nanoseconds; times in Zeek's log form (float64 seconds) are
//     rounded to the microsecond, the precision Zeek's log writers print;
//   - interval: DoubleValue seconds;
//   - string, enum (and func, file columns): StringValue;
//   - port: in log columns the IntValue of the number, as Zeek's JSON
//     logs write it (the protocol is a column of its own); in event
//     arguments a StringValue with the protocol, "443/tcp", which nothing
//     else there would keep;
//   - addr, subnet: StringValue as Zeek prints them ("10.0.0.1",
//     "2001:db8::/32", "::1.2.3.4");
//   - set, vector: ArrayValue of the elements; a vector hole (and a none
//     event argument) is an empty AnyValue;
//   - table: ArrayValue of [key, value] ArrayValues;
//   - record: KvlistValue of its set fields, in order.
//
// OTLP strings must be UTF-8, Zeek strings are bytes: a string (value,
// event name, column name, topic, node id) that is not UTF-8 has each byte
// outside a UTF-8 sequence written as the text \xNN (lowercase hex), the
// rule of Zeek's JSON log writer, so the OTLP strings read like Zeek's
// JSON logs. Valid UTF-8 is passed unchanged.
//
// # Queue, retries and counters
//
// Push decodes, maps and enqueues, never touching the network: a record
// that finds the queue full (queue_size records, or queue_bytes: the
// records of a message share its bytes; a larger record is taken alone)
// is dropped and counted as queue_full, or, with when_full = "block", waits in Push until the
// exporter has made room, so that the source slows down instead. Run
// sends batches of up to batch_size records, a partial batch once its
// oldest record waited batch_timeout, one request at a time and in order. A retryable failure (gRPC Unavailable, ResourceExhausted,
// Aborted, DeadlineExceeded, Canceled, OutOfRange, DataLoss; HTTP 429, 502,
// 503, 504 and connection errors) keeps the batch queued and tries again
// after an exponential backoff with jitter, from retry_initial up to
// retry_max (a collector's gRPC RetryInfo or HTTP Retry-After is
// honoured up to retry_max), for as long
// as it takes. Any other failure drops the batch, counted as
// export_failed; a partial success counts its rejected_log_records as
// export_failed. After CloseInput, Run keeps exporting for at most
// flush_timeout, then counts what is left as export_failed and returns.
//
// Stats().Received counts messages pushed; Sent counts log records the
// collector accepted (a log batch message gives many). Dropped counts
// messages for malformed and no_codec, and log records for queue_full and
// export_failed. Depth is the number of records queued (in flight
// included), Capacity the queue_size; Bytes and MaxBytes the same in
// bytes (queue_bytes).
package otlpsink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/zpipe/zpipe/core/codec/registry"
	"github.com/zpipe/zpipe/core/message"
	"github.com/zpipe/zpipe/core/ratelog"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/stage"
)

// Protocols and compressions of the otlp sink.
const (
	ProtocolGRPC    = "grpc"
	ProtocolHTTP    = "http"
	CompressionGzip = "gzip"
	CompressionNone = "none"
	// WhenFullDrop drops (and counts) records that find the queue full;
	// WhenFullBlock makes Push wait for room, pushing back on the source.
	WhenFullDrop  = "drop"
	WhenFullBlock = "block"
)

// DefaultQueueBytes is the default queue_bytes: 16 MiB, some 45000
// records of a Zeek conn log; in memory a few times that.
const DefaultQueueBytes = 16 << 20

// DropExportFailed: the collector rejected log records (a non-retryable
// failure or a partial success), or they were still queued when the sink
// had to stop.
const DropExportFailed = "export_failed"

// sinkSchema is the attribute schema of the otlp sink kind.
var sinkSchema = schema.Schema{Attributes: []schema.Attribute{
	{Name: "endpoint", Type: schema.String, Required: true,
		Description: `The collector: host:port for grpc; http(s)://host:port[/path] for http, /v1/logs when no path is given.`},
	{Name: "protocol", Type: schema.String, Default: ProtocolGRPC, OneOf: []string{ProtocolGRPC, ProtocolHTTP},
		Description: "grpc: OTLP/gRPC; http: OTLP/HTTP with protobuf bodies."},
	{Name: "insecure", Type: schema.Bool, Default: false,
		Description: "grpc: plain text instead of TLS. http: ignored, the endpoint's scheme decides."},
	{Name: "ca_file", Type: schema.String, Default: "",
		Description: "PEM file of the CA certificates that verify the collector (default: the system's)."},
	{Name: "cert_file", Type: schema.String, Default: "",
		Description: "PEM client certificate for mutual TLS (with key_file)."},
	{Name: "key_file", Type: schema.String, Default: "",
		Description: "PEM private key of cert_file."},
	{Name: "headers", Type: schema.MapString, Default: map[string]string{},
		Description: "Sent with every export, as gRPC metadata or HTTP headers (e.g. an authorization token)."},
	{Name: "compression", Type: schema.String, Default: CompressionGzip, OneOf: []string{CompressionGzip, CompressionNone},
		Description: "Compression of export requests."},
	{Name: "timeout", Type: schema.Duration, Default: "10s",
		Description: "Time limit of one export request."},
	{Name: "batch_size", Type: schema.Number, Default: 512,
		Description: "Log records per export request at most."},
	{Name: "batch_timeout", Type: schema.Duration, Default: "1s",
		Description: "How long a record waits at most for its batch to fill before a partial batch goes."},
	{Name: "queue_size", Type: schema.Number, Default: 10000,
		Description: "Log records held while waiting or retrying."},
	{Name: "queue_bytes", Type: schema.Number, Default: DefaultQueueBytes,
		Description: "Bytes of log records held while waiting or retrying (default 16 MiB), counted as the bytes of the messages they came from (their protobuf encoding is about as large; in memory they take a few times that); a larger record is held alone."},
	{Name: "when_full", Type: schema.String, Default: WhenFullDrop, OneOf: []string{WhenFullDrop, WhenFullBlock},
		Description: "drop: records that find the queue full are dropped and counted (queue_full), the source never waits; block: the sink waits for room, slowing the source (put an onloop or hwm stage before it to choose what gives way)."},
	{Name: "retry_initial", Type: schema.Duration, Default: "1s",
		Description: "First wait before retrying a failed export; doubles, with jitter, on each failure."},
	{Name: "retry_max", Type: schema.Duration, Default: "30s",
		Description: "Longest wait between retries. Retryable failures are retried as long as the records are queued."},
	{Name: "flush_timeout", Type: schema.Duration, Default: "5s",
		Description: "At shutdown, how long the sink keeps exporting what is queued; the rest is counted as export_failed."},
	{Name: "resource", Type: schema.MapString, Default: map[string]string{"service.name": "zeek"},
		Description: "Attributes of the OTLP resource of every record."},
}}

// Kind is the otlp sink kind.
var Kind = stage.Kind{
	Name: "otlp",
	Description: "Exports Zeek events and log records to an OpenTelemetry collector as OTLP log records " +
		"(gRPC or HTTP/protobuf), batched, queued across collector outages, retried with backoff.",
	Sink:        true,
	NeedsCodecs: true,
	Schema:      sinkSchema,
	New:         New,
	Validate:    func(config []byte) error { _, err := parse(config); return err },
}

// config is a configuration as decoded, defaults filled in from the schema.
type config struct {
	Endpoint     string
	Protocol     string
	Insecure     bool
	CAFile       string
	CertFile     string
	KeyFile      string
	Headers      map[string]string
	Compression  string
	Timeout      string
	BatchSize    float64
	BatchTimeout string
	QueueSize    float64
	QueueBytes   float64
	WhenFull     string
	RetryInitial string
	RetryMax     string
	FlushTimeout string
	Resource     map[string]string
}

// decode reads a configuration through the schema, which holds the
// defaults.
func decode(raw []byte) (config, error) {
	v, err := sinkSchema.Decode(raw)
	if err != nil {
		return config{}, err
	}
	return config{
		Endpoint:     v.String("endpoint"),
		Protocol:     v.String("protocol"),
		Insecure:     v.Bool("insecure"),
		CAFile:       v.String("ca_file"),
		CertFile:     v.String("cert_file"),
		KeyFile:      v.String("key_file"),
		Headers:      v.StringMap("headers"),
		Compression:  v.String("compression"),
		Timeout:      v.String("timeout"),
		BatchSize:    v.Number("batch_size"),
		BatchTimeout: v.String("batch_timeout"),
		QueueSize:    v.Number("queue_size"),
		QueueBytes:   v.Number("queue_bytes"),
		WhenFull:     v.String("when_full"),
		RetryInitial: v.String("retry_initial"),
		RetryMax:     v.String("retry_max"),
		FlushTimeout: v.String("flush_timeout"),
		Resource:     v.StringMap("resource"),
	}, nil
}

// settings is a checked configuration.
type settings struct {
	protocol     string
	endpoint     string // host:port (grpc) or the URL (http)
	insecure     bool   // grpc: plain text
	tls          *tls.Config
	headers      map[string]string
	gzip         bool
	timeout      time.Duration
	batchSize    int
	batchTimeout time.Duration
	queueSize    int
	queueBytes   int
	block        bool // when_full = "block"
	retryInitial time.Duration
	retryMax     time.Duration
	flushTimeout time.Duration
	resource     map[string]string
}

// parse checks a configuration, naming the attribute at fault.
func parse(raw []byte) (*settings, error) {
	c, err := decode(raw)
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	s := &settings{protocol: c.Protocol, insecure: c.Insecure, headers: c.Headers, gzip: c.Compression == CompressionGzip, resource: c.Resource}
	durations := []struct {
		name, v  string
		dst      *time.Duration
		positive bool
	}{
		{"timeout", c.Timeout, &s.timeout, true},
		{"batch_timeout", c.BatchTimeout, &s.batchTimeout, true},
		{"retry_initial", c.RetryInitial, &s.retryInitial, true},
		{"retry_max", c.RetryMax, &s.retryMax, true},
		{"flush_timeout", c.FlushTimeout, &s.flushTimeout, false},
	}
	for _, d := range durations {
		*d.dst, err = time.ParseDuration(d.v)
		if err != nil || *d.dst < 0 || (d.positive && *d.dst == 0) {
			want := "0s or more"
			if d.positive {
				want = "more than 0s"
			}
			return nil, fmt.Errorf("attribute %q: %q is not a duration of %s", d.name, d.v, want)
		}
	}
	if s.retryMax < s.retryInitial {
		return nil, fmt.Errorf(`attribute "retry_max": %s is less than retry_initial (%s)`, s.retryMax, s.retryInitial)
	}
	if s.batchSize, err = wholeNumber("batch_size", c.BatchSize); err != nil {
		return nil, err
	}
	if s.queueSize, err = wholeNumber("queue_size", c.QueueSize); err != nil {
		return nil, err
	}
	if s.queueBytes, err = wholeNumber("queue_bytes", c.QueueBytes); err != nil {
		return nil, err
	}
	if s.batchSize > s.queueSize {
		return nil, fmt.Errorf(`attribute "batch_size": %d exceeds queue_size (%d), so no batch could fill`, s.batchSize, s.queueSize)
	}
	switch c.Compression {
	case CompressionGzip, CompressionNone:
	default:
		return nil, fmt.Errorf(`attribute "compression": %q is not one of gzip, none`, c.Compression)
	}
	switch c.WhenFull {
	case "", WhenFullDrop:
	case WhenFullBlock:
		s.block = true
	default:
		return nil, fmt.Errorf(`attribute "when_full": %q is not one of drop, block`, c.WhenFull)
	}
	for k := range c.Headers {
		if !validHeaderName(k) {
			return nil, fmt.Errorf(`attribute "headers": %q is not a valid header name`, k)
		}
	}
	for k, v := range c.Headers {
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf(`attribute "headers": the value of %q holds a line break or NUL`, k)
		}
	}
	useTLS := false
	switch c.Protocol {
	case ProtocolGRPC:
		if c.Endpoint == "" {
			return nil, errors.New(`attribute "endpoint": the collector's host:port is required`)
		}
		if strings.Contains(c.Endpoint, "://") {
			return nil, fmt.Errorf(`attribute "endpoint": %q: protocol grpc wants host:port, without a scheme (use insecure for plain text)`, c.Endpoint)
		}
		if _, port, err := net.SplitHostPort(c.Endpoint); err != nil || port == "" {
			return nil, fmt.Errorf(`attribute "endpoint": %q is not host:port`, c.Endpoint)
		}
		s.endpoint = c.Endpoint
		useTLS = !c.Insecure
		if !useTLS && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "") {
			return nil, errors.New(`attribute "insecure": plain text, and ca_file, cert_file or key_file set for TLS`)
		}
	case ProtocolHTTP:
		if c.Endpoint == "" {
			return nil, errors.New(`attribute "endpoint": the collector's URL is required`)
		}
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf(`attribute "endpoint": %q is not an http:// or https:// URL`, c.Endpoint)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/logs"
		}
		s.endpoint = u.String()
		useTLS = u.Scheme == "https"
		if !useTLS && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "") {
			return nil, fmt.Errorf(`attribute "endpoint": %q is plain http, and ca_file, cert_file or key_file set for TLS`, c.Endpoint)
		}
	default:
		return nil, fmt.Errorf(`attribute "protocol": %q is not one of grpc, http`, c.Protocol)
	}
	if useTLS {
		if s.tls, err = tlsConfig(c); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// wholeNumber checks that a Number attribute is a whole number above 0.
func wholeNumber(name string, f float64) (int, error) {
	if f < 1 || f != float64(int64(f)) || f > 1<<31 {
		return 0, fmt.Errorf("attribute %q: want a whole number from 1 to 2³¹, have %v", name, f)
	}
	return int(f), nil
}

// validHeaderName reports whether k is an HTTP token (RFC 9110), which is
// also what gRPC metadata accepts once lowercased.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// tlsConfig loads the TLS files of c.
func tlsConfig(c config) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf(`attribute "ca_file": %w`, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf(`attribute "ca_file": %s holds no PEM certificate`, c.CAFile)
		}
		t.RootCAs = pool
	}
	switch {
	case c.CertFile != "" && c.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf(`attribute "cert_file", "key_file": %w`, err)
		}
		t.Certificates = []tls.Certificate{cert}
	case c.CertFile != "":
		return nil, errors.New(`attribute "key_file": required with cert_file`)
	case c.KeyFile != "":
		return nil, errors.New(`attribute "cert_file": required with key_file`)
	}
	return t, nil
}

// Sink is a running otlp sink.
type Sink struct {
	env      stage.Env
	set      *settings
	counters *stage.Counters
	inputLog *ratelog.Limiter // bad input
	sendLog  *ratelog.Limiter // failed exports, retries
	rejLog   *ratelog.Limiter // partial successes
	resource *resourcepb.Resource
	scope    *commonpb.InstrumentationScope

	mu     sync.Mutex
	queue  ring
	notify chan struct{} // Push tells Run that records came (capacity 1)
	room   chan struct{} // Run tells a waiting Push that records left (capacity 1)

	closeOnce sync.Once
	closed    chan struct{}
	runOnce   sync.Once
}

// New makes an otlp sink. It checks the configuration and loads the TLS
// files; the connection is made by Run.
func New(env stage.Env, raw []byte) (stage.Stage, error) {
	set, err := parse(raw)
	if err != nil {
		return nil, err
	}
	if env.Codecs == nil {
		return nil, errors.New("otlp: the sink decodes payloads, and no codecs are available (no zpipe-codec-* plugin found)")
	}
	s := &Sink{
		env: env, set: set,
		counters: stage.NewCounters(stage.DropQueueFull, stage.DropMalformed, stage.DropNoCodec, DropExportFailed),
		inputLog: ratelog.New(env.Logger, ratelog.DefaultInterval),
		sendLog:  ratelog.New(env.Logger, ratelog.DefaultInterval),
		rejLog:   ratelog.New(env.Logger, ratelog.DefaultInterval),
		queue:    ring{buf: make([]*logspb.LogRecord, set.queueSize), sizes: make([]int, set.queueSize), maxBytes: set.queueBytes},
		notify:   make(chan struct{}, 1),
		room:     make(chan struct{}, 1),
		closed:   make(chan struct{}),
	}
	keys := make([]string, 0, len(set.resource))
	for k := range set.resource {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.resource = &resourcepb.Resource{}
	for _, k := range keys {
		s.resource.Attributes = append(s.resource.Attributes, stringKV(k, set.resource[k]))
	}
	s.scope = &commonpb.InstrumentationScope{Name: ScopeName, Attributes: []*commonpb.KeyValue{
		stringKV(AttrComponent, env.Component), stringKV(AttrPipeline, env.Pipeline),
	}}
	return s, nil
}

func stringKV(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: utf8Safe(k), Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: utf8Safe(v)}}}
}

// Stats returns the sink's counters; Depth is the number of records
// queued.
func (s *Sink) Stats() stage.Stats {
	st := s.counters.Stats()
	s.mu.Lock()
	st.Depth, st.Bytes = int64(s.queue.n), int64(s.queue.bytes)
	s.mu.Unlock()
	st.HasDepth, st.Capacity, st.MaxBytes = true, int64(s.set.queueSize), int64(s.set.queueBytes)
	return st
}

// Queued returns the number of log records waiting to be exported,
// including those of the request in flight.
func (s *Sink) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queue.n
}

// Push decodes the messages of b, maps them to log records and queues
// them; records that find the queue full are dropped and counted. It never
// waits for the collector.
func (s *Sink) Push(ctx context.Context, b *message.Batch) error {
	s.counters.Received(b.Len())
	recs, err := s.mapBatch(ctx, b, nil)
	if err != nil {
		return err
	}
	return s.enqueue(ctx, recs, b.Bytes())
}

// mapBatch decodes the messages of b and appends their log records to dst.
func (s *Sink) mapBatch(ctx context.Context, b *message.Batch, dst []*logspb.LogRecord) ([]*logspb.LogRecord, error) {
	msgs, err := s.env.Codecs.DecodeMessages(ctx, b, registry.PassUndecoded)
	if err != nil {
		return dst, fmt.Errorf("otlp: decode: %w", err)
	}
	recv := time.Now().UnixNano()
	for _, m := range msgs {
		env := envelope{topic: m.Topic, sender: m.Sender, format: m.Format, recv: recv}
		switch {
		case m.Undecoded && m.Format == "":
			s.drop(stage.DropMalformed, "message without Zeek's four frames")
		case m.Undecoded:
			s.drop(stage.DropNoCodec, "no codec decodes the format", "format", utf8Safe(m.Format))
		case m.Err != nil:
			s.drop(stage.DropMalformed, "payload does not decode", "format", m.Format, "err", m.Err.Error())
		case m.Event != nil:
			dst = append(dst, eventRecord(m.Event, env))
		case m.Log != nil:
			dst = logRecords(dst, m.Log, env)
		default:
			s.drop(stage.DropMalformed, "payload decodes to neither an event nor a log batch", "format", m.Format)
		}
	}
	return dst, nil
}

func (s *Sink) drop(reason, what string, args ...any) {
	s.counters.Drop(reason, 1)
	s.inputLog.Warn(what+"; dropped", args...)
}

// enqueue queues recs. What does not fit is dropped and counted, or with
// when_full = "block" waits for room until ctx ends (and is then counted
// as queue_full too).
//
// The records share the bytes of the messages they came from: a cheap
// measure of their size (their protobuf encoding is about as large).
func (s *Sink) enqueue(ctx context.Context, recs []*logspb.LogRecord, bytes int) error {
	sizes := make([]int, len(recs))
	for i := range sizes {
		sizes[i] = bytes / len(recs)
	}
	if len(sizes) > 0 {
		sizes[0] += bytes % len(recs)
	}
	for len(recs) > 0 {
		s.mu.Lock()
		before := s.queue.n
		kept := s.queue.push(recs, sizes)
		after := s.queue.n
		s.mu.Unlock()
		if kept > 0 && (before == 0 || after >= s.set.batchSize) {
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
		recs, sizes = recs[kept:], sizes[kept:]
		if len(recs) == 0 {
			return nil
		}
		if !s.set.block {
			s.counters.Drop(stage.DropQueueFull, len(recs))
			s.inputLog.Warn("queue full; log records dropped", "records", len(recs), "queue_size", s.set.queueSize, "queue_bytes", s.set.queueBytes)
			return nil
		}
		select {
		case <-s.room:
		case <-ctx.Done():
			s.counters.Drop(stage.DropQueueFull, len(recs))
			return ctx.Err()
		}
	}
	return nil
}

// madeRoom wakes a Push waiting for room in the queue.
func (s *Sink) madeRoom() {
	select {
	case s.room <- struct{}{}:
	default:
	}
}

// CloseInput says no Push will come any more: Run exports what is queued,
// for at most flush_timeout, and returns.
func (s *Sink) CloseInput() { s.closeOnce.Do(func() { close(s.closed) }) }

func (s *Sink) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Run exports queued records until CloseInput was called and the queue is
// empty, flush_timeout after CloseInput, or ctx ends; records still queued
// then are counted as export_failed. It returns only after its goroutines
// ended and the connection is closed.
func (s *Sink) Run(ctx context.Context) error {
	first := false
	s.runOnce.Do(func() { first = true })
	if !first {
		return errors.New("otlp: Run called twice")
	}
	var exp exporter
	if s.set.protocol == ProtocolHTTP {
		exp = newHTTPExporter(s.set)
	} else {
		g, err := newGRPCExporter(s.set)
		if err != nil {
			s.discard("no connection")
			return fmt.Errorf("otlp: %w", err)
		}
		exp = g
	}

	// runCtx ends with ctx, or flush_timeout after CloseInput.
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-s.closed:
		case <-runCtx.Done():
			return
		}
		t := time.NewTimer(s.set.flushTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-runCtx.Done():
		}
	}()

	batch := make([]*logspb.LogRecord, 0, s.set.batchSize)
	for s.waitBatch(runCtx) {
		batch = s.exportBatch(runCtx, exp, batch)
	}
	cancel()
	wg.Wait()
	if ctx.Err() != nil {
		s.discard("the pipeline stopped")
	} else {
		s.discard("flush_timeout passed")
	}
	cerr := exp.close()
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("otlp: close: %w", cerr)
	}
	return nil
}

// discard empties the queue, counting its records as export_failed.
func (s *Sink) discard(why string) {
	s.mu.Lock()
	n := s.queue.n
	s.queue.remove(n)
	s.mu.Unlock()
	s.madeRoom()
	if n > 0 {
		s.counters.Drop(DropExportFailed, n)
		s.env.Logger.Warn("log records not exported; dropped", "records", n, "why", why)
	}
}

// waitBatch waits until a batch should go: batch_size records are queued,
// the oldest record waited batch_timeout, or the input is closed with
// records queued. It returns false once the input is closed and the queue
// empty, or ctx ended.
func (s *Sink) waitBatch(ctx context.Context) bool {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if ctx.Err() != nil {
			return false
		}
		closed := s.isClosed()
		s.mu.Lock()
		n := s.queue.n
		var oldest int64
		if n > 0 {
			oldest = int64(s.queue.front().ObservedTimeUnixNano)
		}
		s.mu.Unlock()
		switch {
		case n >= s.set.batchSize || (n > 0 && closed):
			return true
		case n == 0 && closed:
			return false
		}
		var fire <-chan time.Time
		if n > 0 {
			wait := min(time.Until(time.Unix(0, oldest).Add(s.set.batchTimeout)), s.set.batchTimeout)
			if wait <= 0 {
				return true
			}
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			fire = timer.C
		}
		select {
		case <-s.notify:
		case <-fire:
			return true
		case <-s.closed:
		case <-ctx.Done():
			return false
		}
	}
}

// exportBatch exports the records at the head of the queue, retrying
// retryable failures until they succeed or ctx ends; it returns the
// scratch slice for reuse.
func (s *Sink) exportBatch(ctx context.Context, exp exporter, scratch []*logspb.LogRecord) []*logspb.LogRecord {
	backoff := s.set.retryInitial
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for attempt := 1; ; attempt++ {
		s.mu.Lock()
		recs := s.queue.peek(scratch[:0], s.set.batchSize)
		s.mu.Unlock()
		scratch = recs
		if len(recs) == 0 {
			return scratch
		}
		req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
			Resource:  s.resource,
			ScopeLogs: []*logspb.ScopeLogs{{Scope: s.scope, LogRecords: recs}},
		}}}
		ectx, ecancel := context.WithTimeout(ctx, s.set.timeout)
		resp, err := exp.export(ectx, req)
		ecancel()
		if err == nil {
			s.accepted(len(recs), resp)
			clear(recs)
			return scratch
		}
		if ctx.Err() != nil {
			// Stopping: the records stay queued, and Run counts them.
			clear(recs)
			return scratch
		}
		retry, after := retryable(err)
		if !retry {
			s.mu.Lock()
			s.queue.remove(len(recs))
			s.mu.Unlock()
			s.madeRoom()
			s.counters.Drop(DropExportFailed, len(recs))
			s.sendLog.Warn("export rejected; log records dropped", "records", len(recs), "err", err.Error())
			clear(recs)
			return scratch
		}
		clear(recs)
		wait := jitter(backoff)
		if after > wait {
			wait = min(after, s.set.retryMax)
		}
		s.sendLog.Warn("export failed; retrying", "records", len(recs), "attempt", attempt,
			"retry_in", wait.String(), "err", err.Error())
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			return scratch
		}
		backoff = min(2*backoff, s.set.retryMax)
	}
}

// accepted removes n exported records from the queue and counts them,
// minus those the collector says it rejected.
func (s *Sink) accepted(n int, resp *collogspb.ExportLogsServiceResponse) {
	s.mu.Lock()
	s.queue.remove(n)
	s.mu.Unlock()
	s.madeRoom()
	ps := resp.GetPartialSuccess()
	rejected := int(min(max(ps.GetRejectedLogRecords(), 0), int64(n)))
	s.counters.Sent(n - rejected)
	if rejected > 0 {
		s.counters.Drop(DropExportFailed, rejected)
	}
	if rejected > 0 || ps.GetErrorMessage() != "" {
		s.rejLog.Warn("collector rejected part of an export", "records", n,
			"rejected", rejected, "message", utf8Safe(ps.GetErrorMessage()))
	}
}

// jitter returns a wait between d/2 and d.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// ring is a bounded FIFO of log records.
type ring struct {
	buf     []*logspb.LogRecord
	sizes   []int // size of each record of buf
	head, n int
	// bytes is the sum of the sizes held, maxBytes its limit (an empty
	// ring takes a larger record).
	bytes, maxBytes int
}

// push appends as many of recs (whose sizes are sizes) as fit and returns
// how many.
func (r *ring) push(recs []*logspb.LogRecord, sizes []int) int {
	k := 0
	for ; k < len(recs) && r.n < len(r.buf); k++ {
		if r.n > 0 && r.bytes+sizes[k] > r.maxBytes {
			break
		}
		i := (r.head + r.n) % len(r.buf)
		r.buf[i], r.sizes[i] = recs[k], sizes[k]
		r.n++
		r.bytes += sizes[k]
	}
	return k
}

// front returns the oldest record; the ring must not be empty.
func (r *ring) front() *logspb.LogRecord { return r.buf[r.head] }

// peek appends the oldest max records (or all) to dst.
func (r *ring) peek(dst []*logspb.LogRecord, max int) []*logspb.LogRecord {
	for i := range min(max, r.n) {
		dst = append(dst, r.buf[(r.head+i)%len(r.buf)])
	}
	return dst
}

// remove drops the oldest k records.
func (r *ring) remove(k int) {
	k = min(k, r.n)
	for i := range k {
		j := (r.head + i) % len(r.buf)
		r.buf[j] = nil
		r.bytes -= r.sizes[j]
	}
	r.head = (r.head + k) % len(r.buf)
	r.n -= k
}
