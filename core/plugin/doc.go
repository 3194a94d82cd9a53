// Package plugin runs zpipe's plugins: the SDK side a plugin binary calls
// (ServeTransport, ServeCodec) and the host side the core uses (Find, List,
// StartTransport, StartCodec, CodecSources), glued by hashicorp/go-plugin
// over gRPC.
//
// A TransportHost is a transport.Client that survives its plugin: when the
// process exits, the host logs why, starts a new one with backoff, re-creates
// every open socket and link in the original order and resumes every receive
// and send stream. Data moves in batches with credit-based flow control, so
// a slow consumer pushes back to the ZeroMQ socket instead of piling up
// memory.
//
// Delivery across a restart is at most once: messages the old process had
// read but not delivered are gone, and batches a send stream had in flight
// are reported dropped (DropPluginRestart) even if the plugin wrote them
// before it died without acknowledging.
//
// A CodecHost is a batch.Codec that survives its plugin in the same way.
// Decoding and encoding move batches of payloads over one long-lived stream
// per direction, shared by concurrent callers with a bounded number of
// batches in flight; decoded payloads travel as zpipe-msgpack-v1 documents.
// Since decoding has no side effects, the batches a codec plugin had in
// flight when it exited are sent again to the next process (up to
// CodecAttempts times), so no batch is lost to a restart.
//
// The connection is a Unix socket between zpipe and a child process it
// started, so go-plugin's AutoMTLS (about 20 % of stream throughput) is off.
//
// Plugins wrap ErrNotFound, ErrInvalidArgument, ErrAlreadyExists or
// transport.ErrClosed in the errors they return; the host's errors match
// them again with errors.Is and carry the plugin's message.
package plugin
