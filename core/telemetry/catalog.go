package telemetry

import (
	"fmt"

	"go.opentelemetry.io/otel/metric"
)

// Kind is the instrument kind of a metric.
type Kind string

// Instrument kinds.
const (
	KindCounter       Kind = "counter"
	KindUpDownCounter Kind = "updowncounter"
	KindGauge         Kind = "gauge"
)

// MetricDesc describes one metric zpipe exports. The catalog of them is the
// single source of truth: instruments are created from it and
// docs/metrics.md documents exactly its entries.
type MetricDesc struct {
	// Name is the OpenTelemetry instrument name.
	Name string
	Kind Kind
	// Unit is the UCUM unit given to the instrument. Units are chosen so
	// that the Prometheus rendering gets no unit suffix where Zeek's names
	// have none.
	Unit string
	// Attributes are the OpenTelemetry attribute keys every data point
	// carries (node only when a Zeek node name is configured).
	Attributes []string
	// Description is the help text.
	Description string
	// PrometheusName is the name the Prometheus exporter renders.
	PrometheusName string
}

// Attribute keys used by the catalog.
const (
	AttrNode      = "node"
	AttrPipeline  = "pipeline"
	AttrComponent = "component"
	AttrKind      = "kind"
	AttrErrorType = "error.type"
	AttrPlugin    = "plugin"
	AttrNodeName  = "node.name"
	AttrNodeRole  = "node.role"
	AttrEvent     = "event"
	// AttrPeerAddress is the remote address of a socket's peer (OTel's
	// network.peer.address; host:port, or an ipc path).
	AttrPeerAddress = "network.peer.address"
	// AttrZeekNodeID is the Zeek node id a peer announced.
	AttrZeekNodeID = "zeek.node_id"
)

// Names of the Zeek broker and backend metrics, rendered in Prometheus
// exactly as Zeek renders them (docs/metrics.md#zeek-compatibility).
const (
	MetricZeekProxyFrontendMessagesReceived = "zeek.cluster.zeromq.proxy.frontend.messages.received"
	MetricZeekProxyFrontendBytesReceived    = "zeek.cluster.zeromq.proxy.frontend.bytes.received"
	MetricZeekProxyFrontendMessagesSent     = "zeek.cluster.zeromq.proxy.frontend.messages.sent"
	MetricZeekProxyFrontendBytesSent        = "zeek.cluster.zeromq.proxy.frontend.bytes.sent"
	MetricZeekProxyBackendMessagesReceived  = "zeek.cluster.zeromq.proxy.backend.messages.received"
	MetricZeekProxyBackendBytesReceived     = "zeek.cluster.zeromq.proxy.backend.bytes.received"
	MetricZeekProxyBackendMessagesSent      = "zeek.cluster.zeromq.proxy.backend.messages.sent"
	MetricZeekProxyBackendBytesSent         = "zeek.cluster.zeromq.proxy.backend.bytes.sent"
	MetricZeekXPUBDrops                     = "zeek.cluster.zeromq.xpub.drops"
	MetricZeekMsgErrors                     = "zeek.cluster.zeromq.msg_errors"
	MetricZeekOnloopDrops                   = "zeek.cluster.zeromq.onloop.drops"
)

// Names of zpipe's own metrics.
const (
	MetricMessagesReceived      = "zpipe.messages.received"
	MetricMessagesSent          = "zpipe.messages.sent"
	MetricBytesReceived         = "zpipe.bytes.received"
	MetricBytesSent             = "zpipe.bytes.sent"
	MetricSubscriptionsReceived = "zpipe.subscriptions.received"
	MetricSubscriptionsSent     = "zpipe.subscriptions.sent"
	MetricMessagesDropped       = "zpipe.messages.dropped"
	MetricMessagesUndecoded     = "zpipe.messages.undecoded"
	MetricQueueDepth            = "zpipe.queue.depth"
	MetricQueueCapacity         = "zpipe.queue.capacity"
	MetricQueueBytes            = "zpipe.queue.bytes"
	MetricQueueBytesCapacity    = "zpipe.queue.bytes.capacity"
	MetricClusterNodes          = "zpipe.cluster.nodes"
	MetricPluginRestarts        = "zpipe.plugin.restarts"
	MetricPluginUp              = "zpipe.plugin.up"
	MetricPipelineUp            = "zpipe.pipeline.up"
	MetricSocketEvents          = "zpipe.socket.events"
	MetricPeerMessagesDropped   = "zpipe.peer.messages.dropped"
	MetricPeerStalled           = "zpipe.peer.stalled"
)

var (
	zeekAttrs   = []string{AttrNode}
	socketAttrs = []string{AttrPipeline, AttrComponent, AttrKind}
	dropAttrs   = []string{AttrPipeline, AttrComponent, AttrKind, AttrErrorType}
	pluginAttrs = []string{AttrPlugin}
	eventAttrs  = []string{AttrPipeline, AttrComponent, AttrKind, AttrEvent}
	peerAttrs   = []string{AttrPipeline, AttrComponent, AttrKind, AttrPeerAddress, AttrZeekNodeID}
)

// catalog is never modified; Catalog hands out copies.
var catalog = []MetricDesc{
	{MetricZeekProxyFrontendMessagesReceived, KindCounter, "{message}", zeekAttrs,
		"Number of messages received by the frontend socket",
		"zeek_cluster_zeromq_proxy_frontend_messages_received_total"},
	{MetricZeekProxyFrontendBytesReceived, KindCounter, "By", zeekAttrs,
		"Number of bytes received by the frontend socket",
		"zeek_cluster_zeromq_proxy_frontend_bytes_received_total"},
	{MetricZeekProxyFrontendMessagesSent, KindCounter, "{message}", zeekAttrs,
		"Number of messages sent by the frontend socket",
		"zeek_cluster_zeromq_proxy_frontend_messages_sent_total"},
	{MetricZeekProxyFrontendBytesSent, KindCounter, "By", zeekAttrs,
		"Number of bytes sent by the frontend socket",
		"zeek_cluster_zeromq_proxy_frontend_bytes_sent_total"},
	{MetricZeekProxyBackendMessagesReceived, KindCounter, "{message}", zeekAttrs,
		"Number of messages received by the backend socket",
		"zeek_cluster_zeromq_proxy_backend_messages_received_total"},
	{MetricZeekProxyBackendBytesReceived, KindCounter, "By", zeekAttrs,
		"Number of bytes received by the backend socket",
		"zeek_cluster_zeromq_proxy_backend_bytes_received_total"},
	{MetricZeekProxyBackendMessagesSent, KindCounter, "{message}", zeekAttrs,
		"Number of messages sent by the backend socket",
		"zeek_cluster_zeromq_proxy_backend_messages_sent_total"},
	{MetricZeekProxyBackendBytesSent, KindCounter, "By", zeekAttrs,
		"Number of bytes sent by the backend socket",
		"zeek_cluster_zeromq_proxy_backend_bytes_sent_total"},
	{MetricZeekXPUBDrops, KindCounter, "{message}", zeekAttrs,
		"Number of published events dropped due to XPUB socket HWM.",
		"zeek_cluster_zeromq_xpub_drops_total"},
	{MetricZeekMsgErrors, KindCounter, "{message}", zeekAttrs,
		"Number of events with the wrong number of message parts.",
		"zeek_cluster_zeromq_msg_errors_total"},
	{MetricZeekOnloopDrops, KindCounter, "{message}", zeekAttrs,
		"Number of received events dropped due to OnLoop queue full.",
		"zeek_cluster_zeromq_onloop_drops_total"},

	{MetricMessagesReceived, KindCounter, "{message}", socketAttrs,
		"Multipart messages received by a pipeline component.",
		"zpipe_messages_received_total"},
	{MetricMessagesSent, KindCounter, "{message}", socketAttrs,
		"Multipart messages sent by a pipeline component.",
		"zpipe_messages_sent_total"},
	{MetricBytesReceived, KindCounter, "By", socketAttrs,
		"Frame bytes received by a pipeline component, without ZMTP framing.",
		"zpipe_bytes_received_total"},
	{MetricBytesSent, KindCounter, "By", socketAttrs,
		"Frame bytes sent by a pipeline component, without ZMTP framing.",
		"zpipe_bytes_sent_total"},
	{MetricSubscriptionsReceived, KindCounter, "{subscription}", socketAttrs,
		"Subscription and unsubscription messages received by a pipeline component.",
		"zpipe_subscriptions_received_total"},
	{MetricSubscriptionsSent, KindCounter, "{subscription}", socketAttrs,
		"Subscription and unsubscription messages sent by a pipeline component.",
		"zpipe_subscriptions_sent_total"},
	{MetricMessagesDropped, KindCounter, "{message}", dropAttrs,
		"Messages a pipeline component lost, by reason (error.type).",
		"zpipe_messages_dropped_total"},
	{MetricMessagesUndecoded, KindCounter, "{message}", socketAttrs,
		"Messages a stage passed on without decoding them, because no codec handles their format.",
		"zpipe_messages_undecoded_total"},
	{MetricQueueDepth, KindGauge, "{message}", socketAttrs,
		"Messages a queue stage holds now.",
		"zpipe_queue_depth"},
	{MetricQueueCapacity, KindGauge, "{message}", socketAttrs,
		"Messages a queue stage holds at most (0: unbounded).",
		"zpipe_queue_capacity"},
	{MetricQueueBytes, KindGauge, "By", socketAttrs,
		"Payload bytes a queue stage holds now.",
		"zpipe_queue_bytes"},
	{MetricQueueBytesCapacity, KindGauge, "By", socketAttrs,
		"Payload bytes a queue stage holds at most (0: unbounded).",
		"zpipe_queue_bytes_capacity"},
	{MetricClusterNodes, KindGauge, "{node}", []string{AttrPipeline, AttrComponent, AttrNodeName, AttrNodeRole},
		"Zeek cluster nodes a hello_tracker stage sees up, by name and role.",
		"zpipe_cluster_nodes"},
	{MetricPluginRestarts, KindCounter, "{restart}", pluginAttrs,
		"Times a plugin process was restarted after it failed.",
		"zpipe_plugin_restarts_total"},
	{MetricPluginUp, KindGauge, "", pluginAttrs,
		"Whether a plugin process is running and answering (1) or not (0).",
		"zpipe_plugin_up"},
	{MetricPipelineUp, KindGauge, "", []string{AttrPipeline},
		"Whether a pipeline is running (1) or not (0).",
		"zpipe_pipeline_up"},
	{MetricSocketEvents, KindCounter, "{event}", eventAttrs,
		"Connection events of a socket, by kind (event).",
		"zpipe_socket_events_total"},
	{MetricPeerMessagesDropped, KindCounter, "{message}", peerAttrs,
		"Messages a socket's peer did not get because its queue was full.",
		"zpipe_peer_messages_dropped_total"},
	{MetricPeerStalled, KindGauge, "", peerAttrs,
		"Whether a socket's peer is stalled now (1) or not (0).",
		"zpipe_peer_stalled"},
}

// DropReason is one value of the error.type attribute of
// zpipe.messages.dropped: why a component lost messages.
type DropReason struct {
	// Name is the attribute value.
	Name string
	// Meaning says which components count it, and when.
	Meaning string
}

// dropReasons is never modified; DropReasons hands out a copy. Every drop
// reason a stage or a transport declares (the Drop… constants of
// core/stage, its subpackages and core/transport) is here, and nothing
// else: a test checks it, and docs/metrics.md documents exactly these.
var dropReasons = []DropReason{
	{"hwm", "A send high-water mark was reached, or an `hwm` stage's policy dropped at its `capacity` or `max_bytes`."},
	{"queue_full", "An event found an `onloop` stage at its `hwm` or `max_bytes`, or an `otlp` sink's queue was full (log records for the latter)."},
	{"max_bytes", "A log batch or subscription found an `onloop` stage at its `max_bytes`, with `when_full = \"drop\"`."},
	{"shutdown", "The shutdown window of `zpipe run` ended before the message was passed on: what a queue stage still held, or what still reached a component after it was given up; counted by the component that lost it."},
	{"malformed", "Wrong number of parts, unusable frames, or a payload that does not decode."},
	{"no_peer", "Nobody to send to."},
	{"plugin_restart", "A message on its way to a transport plugin that exited before it acknowledged the batch; counted by the core at the sink socket (the plugin is restarted)."},
	{"stream_error", "A message on its way to a transport plugin whose send stream ended with an error or was cancelled; counted by the core at the sink socket."},
	{"no_codec", "No codec handles the format and the stage drops such messages."},
	{"encode_failed", "A decoded payload cannot be written in the target format."},
	{"filtered", "A `filter` stage did not keep it."},
	{"not_log", "A `file` sink writing logs got an event."},
	{"invalid_path", "A log batch whose path a `file` sink refuses: not a plain log path, or one ending like a rotated file's name."},
	{"too_many_paths", "A log batch for a new path when a `file` sink has `max_paths` paths with active files."},
	{"oversize", "A message above the socket's `max_message_bytes` or `max_message_frames`; its peer was disconnected."},
	{"stalled_peer", "An event at least one stalled subscriber missed while the others got it; counted once per event, per peer in `zpipe_peer_messages_dropped_total`."},
	{"subscription_lost", "A subscription an XSUB could not pass on to a publisher."},
	{"write_failed", "A `file` sink could not write."},
	{"truncated", "A `file` source's recording ends inside a message."},
	{"export_failed", "Log records an OTLP collector refused, or still queued when an `otlp` sink's flush timed out."},
}

// DropReasons returns every drop reason zpipe counts, in documentation
// order.
func DropReasons() []DropReason {
	return append([]DropReason(nil), dropReasons...)
}

// Catalog returns every metric zpipe exports, in documentation order.
func Catalog() []MetricDesc {
	out := make([]MetricDesc, len(catalog))
	for i, d := range catalog {
		d.Attributes = append([]string(nil), d.Attributes...)
		out[i] = d
	}
	return out
}

// Lookup returns the catalog entry of the metric called name.
func Lookup(name string) (MetricDesc, bool) {
	for _, d := range catalog {
		if d.Name == name {
			d.Attributes = append([]string(nil), d.Attributes...)
			return d, true
		}
	}
	return MetricDesc{}, false
}

// newObservable creates the asynchronous int64 instrument that the catalog
// describes under name.
func newObservable(m metric.Meter, name string) (metric.Int64Observable, error) {
	d, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("metric %q is not in the catalog", name)
	}
	var (
		inst metric.Int64Observable
		err  error
	)
	switch d.Kind {
	case KindCounter:
		inst, err = m.Int64ObservableCounter(d.Name, metric.WithUnit(d.Unit), metric.WithDescription(d.Description))
	case KindUpDownCounter:
		inst, err = m.Int64ObservableUpDownCounter(d.Name, metric.WithUnit(d.Unit), metric.WithDescription(d.Description))
	case KindGauge:
		inst, err = m.Int64ObservableGauge(d.Name, metric.WithUnit(d.Unit), metric.WithDescription(d.Description))
	default:
		return nil, fmt.Errorf("metric %q: unknown kind %q", name, d.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("create instrument %s: %w", name, err)
	}
	return inst, nil
}

// newObservables creates one instrument per name, in order.
func newObservables(m metric.Meter, names ...string) ([]metric.Int64Observable, error) {
	out := make([]metric.Int64Observable, len(names))
	for i, n := range names {
		inst, err := newObservable(m, n)
		if err != nil {
			return nil, err
		}
		out[i] = inst
	}
	return out, nil
}
