// Command zpipe-transport-cgo serves zpipe's libzmq transport (package
// zmqtransport, over github.com/pebbe/zmq4) as a plugin. It is started by
// zpipe, not by hand.
//
// Its log records (peer connects and disconnects at debug level; stalled
// and oversize peers, failed connects, handshakes and authentications at
// warning level, rate-limited; link failures at error level) go to zpipe's
// log, which applies its own level.
package main

import (
	"log/slog"

	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/plugins/transport-cgo/zmqtransport"
)

func main() {
	log := plugin.NewLogger(slog.LevelDebug)
	plugin.ServeTransport(zmqtransport.New(zmqtransport.WithLogger(log)))
}
