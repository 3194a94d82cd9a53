package plugin

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/zpipe/zpipe/core/codec/batch"
	cpb "github.com/zpipe/zpipe/core/plugin/proto/codecv1"
)

// CodecCookieValue is the handshake cookie of codec plugins; the protocol
// version must match batch.ProtocolVersion on both sides.
const CodecCookieValue = "zpipe-codec-v1"

// codecPluginName is the name the codec is dispensed under.
const codecPluginName = "codec"

// CodecHandshake returns the go-plugin handshake shared by zpipe and its
// codec plugins.
func CodecHandshake() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{
		ProtocolVersion:  batch.ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: CodecCookieValue,
	}
}

// grpcCodecPlugin plugs the codec service into go-plugin. On the plugin
// side impl is set; on the host side it is nil.
type grpcCodecPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	impl batch.Codec
}

// GRPCServer registers the codec service on the plugin's gRPC server.
func (p *grpcCodecPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	cpb.RegisterCodecServer(s, &codecService{impl: p.impl})
	return nil
}

// GRPCClient returns the generated client of the codec service.
func (p *grpcCodecPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return cpb.NewCodecClient(c), nil
}

func codecPluginSet(impl batch.Codec) goplugin.PluginSet {
	return goplugin.PluginSet{codecPluginName: &grpcCodecPlugin{impl: impl}}
}

// codecKind describes codec plugins to the launcher.
func codecKind() pluginKind {
	return pluginKind{name: "codec", handshake: CodecHandshake(), plugins: codecPluginSet(nil), dispense: codecPluginName}
}
