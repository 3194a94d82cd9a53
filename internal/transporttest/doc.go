// Package transporttest is the conformance suite of zpipe's ZeroMQ
// transports: one body of tests that runs, unchanged, against every
// implementation of core/transport.Server that offers the xsub, xpub, pull
// and push socket kinds (transport-cgo's zmqtransport and
// transport-purego's puretransport), with libzmq sockets (through
// pebbe/zmq4) as the peers. A behavioural difference between the
// transports is a failing test in one of them.
//
// A transport's package runs the suite from one of its own tests:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, transporttest.Harness{
//			Name:      "cgo",
//			New:       func(log *slog.Logger) transporttest.Server { return New(WithLogger(log)) },
//			Peers:     func(s transporttest.Server, id string) (int, error) { … },
//			Receiving: func(s transporttest.Server, id string) (bool, error) { … },
//		})
//	}
//
// Run runs every conformance test as a subtest named after the test (for
// example TestConformance/ZeekBrokerLink), one after the other. The
// Harness functions are written in the transport's own test files, where
// they may look at the package's internals; everything else the suite
// observes goes through transport.Server, BoundEndpoints and CloseAll.
//
// The package also exports the helpers the suite is written with (peer
// sockets, polling with a deadline, receiving a number of messages, …) so
// that a transport's own tests, the ones about its internals, use the
// same ones.
//
// Rules the tests keep: real sockets over tcp:// and ipc:// on 127.0.0.1;
// conditions are polled with a deadline (Eventually), never assumed after
// a sleep; nothing is asserted about how long something took; libzmq peer
// sockets are driven (received from, or GetEvents called) while a test
// waits on them; a peer context is terminated only after its sockets are
// closed (PeerContext and PeerSocket arrange that with t.Cleanup).
package transporttest
