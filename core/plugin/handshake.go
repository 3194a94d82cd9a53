package plugin

import (
	"context"
	"math"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/zpipe/zpipe/core/plugin/proto/transportv1"
	"github.com/zpipe/zpipe/core/transport"
)

// The go-plugin handshake of transport plugins. The cookie tells a plugin
// binary it was started by zpipe; the protocol version must match
// transport.ProtocolVersion on both sides.
const (
	MagicCookieKey       = "ZPIPE_PLUGIN"
	TransportCookieValue = "zpipe-transport-v1"
)

// transportPluginName is the name the transport is dispensed under.
const transportPluginName = "transport"

// maxMessageSize bounds one gRPC message (one batch) in both directions.
// go-plugin's client already allows this much; the default server limit of
// 4 MiB would refuse large batches.
const maxMessageSize = math.MaxInt32

// TransportHandshake returns the go-plugin handshake shared by zpipe and its
// transport plugins.
func TransportHandshake() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{
		ProtocolVersion:  transport.ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: TransportCookieValue,
	}
}

// grpcTransportPlugin plugs the transport service into go-plugin. On the
// plugin side impl is set; on the host side it is nil.
type grpcTransportPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	impl transport.Server
}

// GRPCServer registers the transport service on the plugin's gRPC server.
func (p *grpcTransportPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterTransportServer(s, &transportService{impl: p.impl})
	return nil
}

// GRPCClient returns the generated client of the transport service.
func (p *grpcTransportPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pb.NewTransportClient(c), nil
}

func transportPluginSet(impl transport.Server) goplugin.PluginSet {
	return goplugin.PluginSet{transportPluginName: &grpcTransportPlugin{impl: impl}}
}
