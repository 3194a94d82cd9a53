package wire

import (
	"reflect"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/message"
	pb "github.com/zpipe/zpipe/core/plugin/proto/transportv1"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/transport"
)

func sampleDescription() *transport.Description {
	return &transport.Description{
		Name:         "cgo",
		Version:      "1.2.3",
		Protocol:     transport.ProtocolVersion,
		Capabilities: []string{transport.CapTCP, transport.CapLink},
		Sockets: []transport.SocketKind{{
			Kind: "xpub", Role: transport.RoleSink, Description: "XPUB socket", Subscriptions: transport.SubsEmits,
			Schema: schema.Schema{Attributes: []schema.Attribute{
				{Name: "bind", Type: schema.ListString, Required: true, Description: "endpoints"},
				{Name: "hwm", Type: schema.Number, Default: float64(1000)},
				{Name: "nodrop", Type: schema.Bool, Default: false},
				{Name: "linger", Type: schema.Duration, Default: "0s"},
				{Name: "mode", Type: schema.String, Default: "a", OneOf: []string{"a", "b"}, Capability: transport.CapCurve},
				{Name: "opts", Type: schema.MapString, Default: map[string]any{"k": "v"}},
				{Name: "tags", Type: schema.ListString, Default: []any{"x"}},
			}},
		}},
	}
}

func TestDescriptionRoundTrip(t *testing.T) {
	d := sampleDescription()
	r, err := DescriptionToProto(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DescriptionFromProto("transport-cgo", r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", got, d)
	}
}

func TestDescriptionProtocolDefaults(t *testing.T) {
	d := sampleDescription()
	d.Protocol = 0
	r, err := DescriptionToProto(d)
	if err != nil {
		t.Fatal(err)
	}
	if r.Protocol != transport.ProtocolVersion {
		t.Fatalf("protocol %d, want %d", r.Protocol, transport.ProtocolVersion)
	}
	if _, err := DescriptionToProto(nil); err == nil {
		t.Fatal("nil description accepted")
	}
	d.Sockets[0].Schema.Attributes[1].Default = func() {}
	if _, err := DescriptionToProto(d); err == nil || !strings.Contains(err.Error(), `"hwm"`) {
		t.Fatalf("unencodable default: %v", err)
	}
}

func TestDescriptionFromProtoRejects(t *testing.T) {
	cases := []struct {
		name   string
		change func(*pb.DescribeResponse)
		want   string
	}{
		{"protocol", func(r *pb.DescribeResponse) { r.Protocol = 7 }, "speaks plugin protocol 7"},
		{"empty kind", func(r *pb.DescribeResponse) { r.Sockets[0].Kind = "" }, "socket kind with empty name"},
		{"duplicate kind", func(r *pb.DescribeResponse) { r.Sockets = append(r.Sockets, r.Sockets[0]) }, `socket kind "xpub" declared twice`},
		{"role", func(r *pb.DescribeResponse) { r.Sockets[0].Role = "both" }, `unknown role "both"`},
		{"subscriptions", func(r *pb.DescribeResponse) { r.Sockets[0].Subscriptions = "maybe" }, `unknown subscriptions value "maybe"`},
		{"type", func(r *pb.DescribeResponse) { r.Sockets[0].Schema.Attributes[1].Type = "int" }, `attribute "hwm": unknown type "int"`},
		{"default JSON", func(r *pb.DescribeResponse) { r.Sockets[0].Schema.Attributes[1].DefaultJson = "{" }, `attribute "hwm": decode default`},
		{"default type", func(r *pb.DescribeResponse) { r.Sockets[0].Schema.Attributes[1].DefaultJson = `"many"` }, `attribute "hwm": default "many": want a number`},
		{"bad duration", func(r *pb.DescribeResponse) { r.Sockets[0].Schema.Attributes[3].DefaultJson = `"soon"` }, `attribute "linger"`},
		{"required with default", func(r *pb.DescribeResponse) { r.Sockets[0].Schema.Attributes[0].DefaultJson = `["tcp://*:1"]` }, `attribute "bind" is required and has a default`},
		{"duplicate attribute", func(r *pb.DescribeResponse) {
			a := r.Sockets[0].Schema.Attributes
			r.Sockets[0].Schema.Attributes = append(a, a[1])
		}, `attribute "hwm" declared twice`},
	}
	for _, c := range cases {
		r, err := DescriptionToProto(sampleDescription())
		if err != nil {
			t.Fatal(err)
		}
		c.change(r)
		_, err = DescriptionFromProto("transport-cgo", r)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `transport plugin "transport-cgo"`) {
			t.Errorf("%s: error %v; want it to name the plugin and say %q", c.name, err, c.want)
		}
	}
	if _, err := DescriptionFromProto("p", nil); err == nil {
		t.Error("nil response accepted")
	}
}

func TestStatsRoundTrip(t *testing.T) {
	s := &transport.Stats{Sockets: []transport.SocketStats{
		{ID: "a", MessagesReceived: 1, FramesReceived: 2, BytesReceived: 3, MessagesSent: 4, FramesSent: 5, BytesSent: 6,
			SubscriptionsReceived: 7, SubscriptionsSent: 8, Drops: map[string]uint64{"hwm": 9},
			Peers: []transport.PeerStats{{Address: "127.0.0.1:4000", NodeID: "n1", Dropped: 10, DroppedExact: true, Stalled: true, Stalls: 2},
				{Address: "/tmp/x.sock"}},
			Events: map[string]uint64{transport.EventAuthFailed: 3}},
		{ID: "b"},
	}}
	got := StatsFromProto(StatsToProto(s))
	if len(got.Sockets) != 2 || !reflect.DeepEqual(got.Sockets[0], s.Sockets[0]) || got.Sockets[1].ID != "b" {
		t.Fatalf("round trip: %+v", got)
	}
	if len(StatsToProto(nil).Sockets) != 0 {
		t.Fatal("nil stats")
	}
}

func TestValidationRoundTrip(t *testing.T) {
	v := &transport.Validation{
		Problems: []transport.Problem{{Attribute: "bind", Index: 1, Message: "invalid port"}, {Index: -1, Message: "block"}},
		Binds:    []string{"tcp://127.0.0.1:5555"},
	}
	if got := ValidationFromProto(ValidationToProto(v)); !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip: %+v, want %+v", got, v)
	}
	if got := ValidationFromProto(ValidationToProto(nil)); len(got.Problems) != 0 || len(got.Binds) != 0 {
		t.Fatalf("nil validation: %+v", got)
	}
}

func TestBatchConversionAliasesAndValidates(t *testing.T) {
	var b message.Batch
	b.Append([]byte("topic"), []byte{}, []byte("payload"))
	b.Append([]byte("x"))
	var p pb.Batch
	BatchToProto(&p, &b)
	var back message.Batch
	if err := BatchFromProto(&back, &p); err != nil {
		t.Fatal(err)
	}
	if &back.Data[0] != &b.Data[0] || back.Len() != 2 || back.Frames() != 4 {
		t.Fatalf("conversion copied or lost data: %+v", back)
	}
	p.Parts = []uint32{2}
	if err := BatchFromProto(&back, &p); err == nil || !strings.Contains(err.Error(), "parts add up to 2 frames") {
		t.Fatalf("invalid batch: %v", err)
	}
}

func TestAckConversion(t *testing.T) {
	r := transport.SendResult{Sent: 3, Dropped: 2, DropReason: "hwm"}
	if got := SendResultFromAck(AckFromSendResult(r)); got != r {
		t.Fatalf("round trip %+v", got)
	}
	a := AckFromSendResult(transport.SendResult{Sent: -1, Dropped: 1 << 40})
	if a.Sent != 0 || a.Dropped != ^uint32(0) {
		t.Fatalf("clamping: %+v", a)
	}
}
