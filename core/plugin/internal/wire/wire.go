// Package wire converts between the transport contract's Go types and their
// protobuf messages in the plugin protocol. Conversions of data batches alias
// the buffers instead of copying them.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/zpipe/zpipe/core/message"
	pb "github.com/zpipe/zpipe/core/plugin/proto/transportv1"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/transport"
)

// DescriptionToProto encodes what a transport reports about itself.
func DescriptionToProto(d *transport.Description) (*pb.DescribeResponse, error) {
	if d == nil {
		return nil, fmt.Errorf("describe: transport returned no description")
	}
	out := &pb.DescribeResponse{
		Name:         d.Name,
		Version:      d.Version,
		Protocol:     d.Protocol,
		Capabilities: d.Capabilities,
		Sockets:      make([]*pb.SocketKind, 0, len(d.Sockets)),
	}
	if out.Protocol == 0 {
		out.Protocol = transport.ProtocolVersion
	}
	for _, s := range d.Sockets {
		attrs := make([]*pb.Attribute, 0, len(s.Schema.Attributes))
		for _, a := range s.Schema.Attributes {
			def, err := a.DefaultJSON()
			if err != nil {
				return nil, fmt.Errorf("describe: socket kind %q: %w", s.Kind, err)
			}
			attrs = append(attrs, &pb.Attribute{
				Name:        a.Name,
				Type:        string(a.Type),
				Required:    a.Required,
				DefaultJson: def,
				Description: a.Description,
				OneOf:       a.OneOf,
				Capability:  a.Capability,
			})
		}
		out.Sockets = append(out.Sockets, &pb.SocketKind{
			Kind:          s.Kind,
			Role:          s.Role,
			Description:   s.Description,
			Schema:        &pb.Schema{Attributes: attrs},
			Subscriptions: s.Subscriptions,
		})
	}
	return out, nil
}

// DescriptionFromProto decodes a plugin's self-description and checks it:
// every socket kind needs a name and a known role, and every schema must
// pass schema.Check. Errors name the plugin, the socket kind and the
// attribute at fault.
func DescriptionFromProto(plugin string, r *pb.DescribeResponse) (*transport.Description, error) {
	if r == nil {
		return nil, fmt.Errorf("transport plugin %q: empty description", plugin)
	}
	if r.GetProtocol() != transport.ProtocolVersion {
		return nil, fmt.Errorf("transport plugin %q speaks plugin protocol %d, this zpipe speaks %d",
			plugin, r.GetProtocol(), transport.ProtocolVersion)
	}
	d := &transport.Description{
		Name:         r.GetName(),
		Version:      r.GetVersion(),
		Protocol:     r.GetProtocol(),
		Capabilities: r.GetCapabilities(),
		Sockets:      make([]transport.SocketKind, 0, len(r.GetSockets())),
	}
	seen := make(map[string]bool, len(r.GetSockets()))
	for _, s := range r.GetSockets() {
		kind := s.GetKind()
		if kind == "" {
			return nil, fmt.Errorf("transport plugin %q: socket kind with empty name", plugin)
		}
		if seen[kind] {
			return nil, fmt.Errorf("transport plugin %q: socket kind %q declared twice", plugin, kind)
		}
		seen[kind] = true
		switch s.GetRole() {
		case transport.RoleSource, transport.RoleSink:
		default:
			return nil, fmt.Errorf("transport plugin %q: socket kind %q: unknown role %q (want %q or %q)",
				plugin, kind, s.GetRole(), transport.RoleSource, transport.RoleSink)
		}
		switch s.GetSubscriptions() {
		case "", transport.SubsEmits, transport.SubsAccepts:
		default:
			return nil, fmt.Errorf("transport plugin %q: socket kind %q: unknown subscriptions value %q (want %q, %q or empty)",
				plugin, kind, s.GetSubscriptions(), transport.SubsEmits, transport.SubsAccepts)
		}
		var sch schema.Schema
		for _, a := range s.GetSchema().GetAttributes() {
			attr := schema.Attribute{
				Name:        a.GetName(),
				Type:        schema.Type(a.GetType()),
				Required:    a.GetRequired(),
				Description: a.GetDescription(),
				OneOf:       a.GetOneOf(),
				Capability:  a.GetCapability(),
			}
			if !attr.Type.Valid() {
				return nil, fmt.Errorf("transport plugin %q: socket kind %q: attribute %q: unknown type %q",
					plugin, kind, attr.Name, attr.Type)
			}
			if err := attr.ParseDefaultJSON(a.GetDefaultJson()); err != nil {
				if errors.As(err, new(*json.SyntaxError)) {
					// The decode error already names the attribute.
					return nil, fmt.Errorf("transport plugin %q: socket kind %q: %w", plugin, kind, err)
				}
				return nil, fmt.Errorf("transport plugin %q: socket kind %q: attribute %q: default %s: %w",
					plugin, kind, attr.Name, a.GetDefaultJson(), err)
			}
			sch.Attributes = append(sch.Attributes, attr)
		}
		if err := sch.Check(); err != nil {
			return nil, fmt.Errorf("transport plugin %q: socket kind %q: %w", plugin, kind, err)
		}
		d.Sockets = append(d.Sockets, transport.SocketKind{
			Kind:          kind,
			Role:          s.GetRole(),
			Description:   s.GetDescription(),
			Schema:        sch,
			Subscriptions: s.GetSubscriptions(),
		})
	}
	return d, nil
}

// StatsToProto encodes socket counters.
func StatsToProto(s *transport.Stats) *pb.StatsResponse {
	out := &pb.StatsResponse{}
	if s == nil {
		return out
	}
	out.Sockets = make([]*pb.SocketStats, 0, len(s.Sockets))
	for _, x := range s.Sockets {
		out.Sockets = append(out.Sockets, &pb.SocketStats{
			Id:                    x.ID,
			MessagesReceived:      x.MessagesReceived,
			FramesReceived:        x.FramesReceived,
			BytesReceived:         x.BytesReceived,
			MessagesSent:          x.MessagesSent,
			FramesSent:            x.FramesSent,
			BytesSent:             x.BytesSent,
			Drops:                 x.Drops,
			SubscriptionsReceived: x.SubscriptionsReceived,
			SubscriptionsSent:     x.SubscriptionsSent,
			Peers:                 peersToProto(x.Peers),
			Events:                x.Events,
		})
	}
	return out
}

func peersToProto(peers []transport.PeerStats) []*pb.PeerStats {
	if len(peers) == 0 {
		return nil
	}
	out := make([]*pb.PeerStats, len(peers))
	for i, p := range peers {
		out[i] = &pb.PeerStats{Address: p.Address, NodeId: p.NodeID, Dropped: p.Dropped, DroppedExact: p.DroppedExact,
			Stalled: p.Stalled, Stalls: p.Stalls}
	}
	return out
}

func peersFromProto(peers []*pb.PeerStats) []transport.PeerStats {
	if len(peers) == 0 {
		return nil
	}
	out := make([]transport.PeerStats, len(peers))
	for i, p := range peers {
		out[i] = transport.PeerStats{Address: p.GetAddress(), NodeID: p.GetNodeId(), Dropped: p.GetDropped(),
			DroppedExact: p.GetDroppedExact(), Stalled: p.GetStalled(), Stalls: p.GetStalls()}
	}
	return out
}

// ValidationToProto encodes the outcome of a socket validation.
func ValidationToProto(v *transport.Validation) *pb.ValidateSocketResponse {
	out := &pb.ValidateSocketResponse{}
	if v == nil {
		return out
	}
	out.Binds = v.Binds
	for _, p := range v.Problems {
		out.Problems = append(out.Problems, &pb.Problem{Attribute: p.Attribute, Message: p.Message, Index: int32(p.Index)})
	}
	return out
}

// ValidationFromProto decodes the outcome of a socket validation.
func ValidationFromProto(r *pb.ValidateSocketResponse) *transport.Validation {
	out := &transport.Validation{Binds: r.GetBinds()}
	for _, p := range r.GetProblems() {
		out.Problems = append(out.Problems, transport.Problem{Attribute: p.GetAttribute(), Message: p.GetMessage(), Index: int(p.GetIndex())})
	}
	return out
}

// StatsFromProto decodes socket counters.
func StatsFromProto(r *pb.StatsResponse) *transport.Stats {
	out := &transport.Stats{Sockets: make([]transport.SocketStats, 0, len(r.GetSockets()))}
	for _, x := range r.GetSockets() {
		out.Sockets = append(out.Sockets, transport.SocketStats{
			ID:                    x.GetId(),
			MessagesReceived:      x.GetMessagesReceived(),
			FramesReceived:        x.GetFramesReceived(),
			BytesReceived:         x.GetBytesReceived(),
			MessagesSent:          x.GetMessagesSent(),
			FramesSent:            x.GetFramesSent(),
			BytesSent:             x.GetBytesSent(),
			Drops:                 x.GetDrops(),
			SubscriptionsReceived: x.GetSubscriptionsReceived(),
			SubscriptionsSent:     x.GetSubscriptionsSent(),
			Peers:                 peersFromProto(x.GetPeers()),
			Events:                x.GetEvents(),
		})
	}
	return out
}

// BatchToProto points dst at the buffers of b without copying them.
func BatchToProto(dst *pb.Batch, b *message.Batch) {
	dst.Data, dst.Sizes, dst.Parts = b.Data, b.Sizes, b.Parts
}

// BatchFromProto points dst at the buffers of src without copying them and
// validates the result, since src came from another process.
func BatchFromProto(dst *message.Batch, src *pb.Batch) error {
	dst.Data, dst.Sizes, dst.Parts = src.GetData(), src.GetSizes(), src.GetParts()
	return dst.Validate()
}

// SendResultFromAck decodes the acknowledgement of one sent batch.
func SendResultFromAck(a *pb.SendAck) transport.SendResult {
	return transport.SendResult{Sent: int(a.GetSent()), Dropped: int(a.GetDropped()), DropReason: a.GetDropReason()}
}

// AckFromSendResult encodes the outcome of one sent batch. Negative counts,
// which no transport should report, are clamped to zero.
func AckFromSendResult(r transport.SendResult) *pb.SendAck {
	return &pb.SendAck{Sent: clampU32(r.Sent), Dropped: clampU32(r.Dropped), DropReason: r.DropReason}
}

func clampU32(n int) uint32 {
	switch {
	case n < 0:
		return 0
	case uint64(n) > uint64(^uint32(0)):
		return ^uint32(0)
	}
	return uint32(n)
}
