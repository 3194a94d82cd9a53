// Command zpipe-transport-purego serves zpipe's pure-Go transport (package
// puretransport, ZeroMQ sockets in Go over go-zeromq's ZMTP connection
// layer) as a plugin. It needs no libzmq and builds with CGO_ENABLED=0. It
// is started by zpipe, not by hand.
//
// Its log records (peer connects and disconnects at debug level, link
// failures at error level) go to zpipe's log, which applies its own level.
package main

import (
	"log/slog"

	"github.com/zpipe/zpipe/core/plugin"
	"github.com/zpipe/zpipe/plugins/transport-purego/puretransport"
)

func main() {
	log := plugin.NewLogger(slog.LevelDebug)
	plugin.ServeTransport(puretransport.New(puretransport.WithLogger(log)))
}
