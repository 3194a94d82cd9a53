// Package zeektest emulates Zeek cluster nodes that use the ZeroMQ cluster
// backend, well enough to stand in for real Zeek when testing a central
// XPUB/XSUB broker.
//
// A Node opens the sockets of a Zeek node (an XSUB connected to the broker's
// XPUB endpoint, an XPUB connected to the broker's XSUB endpoint), subscribes
// to Zeek's startup topics in Zeek's order, filters its own messages, and runs
// the node-side hello protocol that raises node_up and node_down. Everything
// it sees is recorded and can be awaited with a deadline.
//
// The package also holds a minimal broker-bin-v1 event codec (strings,
// counts and a few other scalars; everything else passes through as raw
// bytes), a loader for the captured wire vectors, and a LogSender that sends
// log batches the way a Zeek node's PUSH socket does.
//
// The package links libzmq (github.com/pebbe/zmq4); it is meant for tests and
// benchmarks only.
package zeektest
