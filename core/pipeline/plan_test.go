package pipeline

import (
	"strings"
	"testing"

	"github.com/zpipe/zpipe/core/config"
	"github.com/zpipe/zpipe/core/transport"
)

func node(class, kind, name, subs string, inputs ...*config.Node) *config.Node {
	return &config.Node{Class: class, Kind: kind, Name: name, ID: "p/" + class + "." + kind + "." + name, Subscriptions: subs, Inputs: inputs}
}

var linkingTransport = &transport.Description{Name: "t", Capabilities: []string{transport.CapLink}}

func TestPlanBrokerRunsAsLink(t *testing.T) {
	xsub := node(config.ClassSource, "xsub", "pub", transport.SubsAccepts)
	xpub := node(config.ClassSink, "xpub", "sub", transport.SubsEmits, xsub)
	p := &config.Pipeline{Name: "p", Passthrough: true, Nodes: []*config.Node{xsub, xpub}}
	plan, err := MakePlan(p, linkingTransport)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Links) != 1 || plan.Links[0].Source != xsub || len(plan.Links[0].Sinks) != 1 || plan.Links[0].Sinks[0] != xpub {
		t.Fatalf("want one link xsub→xpub, have %+v", plan.Links)
	}
	if len(plan.Paths) != 0 || len(plan.SubscriptionRoutes) != 0 {
		t.Fatalf("a linked broker needs no core paths or routes, have %+v %+v", plan.Paths, plan.SubscriptionRoutes)
	}
}

func TestPlanWithoutPassthroughRoutesThroughCore(t *testing.T) {
	xsub := node(config.ClassSource, "xsub", "pub", transport.SubsAccepts)
	xpub := node(config.ClassSink, "xpub", "sub", transport.SubsEmits, xsub)
	for name, tc := range map[string]struct {
		passthrough bool
		desc        *transport.Description
	}{
		"passthrough off":       {false, linkingTransport},
		"transport cannot link": {true, &transport.Description{Name: "t"}},
	} {
		t.Run(name, func(t *testing.T) {
			p := &config.Pipeline{Name: "p", Passthrough: tc.passthrough, Nodes: []*config.Node{xsub, xpub}}
			plan, err := MakePlan(p, tc.desc)
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Links) != 0 || len(plan.Paths) != 1 || plan.Paths[0].Source != xsub {
				t.Fatalf("want one core path, have links %+v paths %+v", plan.Links, plan.Paths)
			}
			if len(plan.SubscriptionRoutes) != 1 || plan.SubscriptionRoutes[0].Sink != xpub ||
				len(plan.SubscriptionRoutes[0].Sources) != 1 || plan.SubscriptionRoutes[0].Sources[0] != xsub {
				t.Fatalf("want subscriptions routed xpub→xsub, have %+v", plan.SubscriptionRoutes)
			}
		})
	}
}

func TestPlanFanInGoesThroughCore(t *testing.T) {
	// Two sources into one sink: a socket can belong to one link only, so
	// both sources are read by the core.
	a := node(config.ClassSource, "pull", "a", "")
	b := node(config.ClassSource, "pull", "b", "")
	push := node(config.ClassSink, "push", "out", "", a, b)
	p := &config.Pipeline{Name: "p", Passthrough: true, Nodes: []*config.Node{a, b, push}}
	plan, err := MakePlan(p, linkingTransport)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Links) != 0 || len(plan.Paths) != 2 {
		t.Fatalf("want two core paths, have links %+v paths %+v", plan.Links, plan.Paths)
	}
}

func TestPlanFanOutLinks(t *testing.T) {
	src := node(config.ClassSource, "pull", "in", "")
	s1 := node(config.ClassSink, "push", "one", "", src)
	s2 := node(config.ClassSink, "push", "two", "", src)
	p := &config.Pipeline{Name: "p", Passthrough: true, Nodes: []*config.Node{src, s1, s2}}
	plan, err := MakePlan(p, linkingTransport)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Links) != 1 || len(plan.Links[0].Sinks) != 2 {
		t.Fatalf("want one link to two sinks, have %+v", plan.Links)
	}
}

func TestPlanRejectsUnusedSource(t *testing.T) {
	src := node(config.ClassSource, "pull", "in", "")
	p := &config.Pipeline{Name: "p", Passthrough: true, Nodes: []*config.Node{src}}
	if _, err := MakePlan(p, linkingTransport); err == nil || !strings.Contains(err.Error(), "feeds nothing") {
		t.Fatalf("want 'feeds nothing' error, have %v", err)
	}
}
