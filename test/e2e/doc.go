// Package e2e tests central XPUB/XSUB brokers end to end: zpipe's
// zeek-broker pipeline on each transport (cgo and purego) and, as the
// reference, libzmq's proxy set up like Zeek's, each run as a subprocess
// and exercised by Zeek-like nodes (libzmq sockets).
//
// ZPIPE_E2E_BROKER selects the brokers (zpipe, zpipe-purego, zmqproxy,
// comma-separated, or all; default all, which needs bin/zpipe and its
// plugins from `make build`); ZPIPE_BIN and ZPIPE_PLUGIN_DIR point at the
// zpipe binary and its plugins.
package e2e
