package telemetry

import (
	"sync"
	"testing"
)

// TestMembershipGaugeFollows: zpipe_cluster_nodes reads 1 for a node up,
// and 0 — not nothing — once it went down, so that a dashboard sees the
// departure.
func TestMembershipGaugeFollows(t *testing.T) {
	tel := newPrometheusTelemetry(t, Config{})
	var (
		mu      sync.Mutex
		members = []MemberObservation{
			{Pipeline: "node", Component: "stage.hello_tracker.members", Name: "worker-1", Role: "worker"},
			{Pipeline: "node", Component: "stage.hello_tracker.members", Name: "manager", Role: "manager"},
		}
	)
	if _, err := tel.RegisterMembership(func() []MemberObservation {
		mu.Lock()
		defer mu.Unlock()
		return append([]MemberObservation(nil), members...)
	}); err != nil {
		t.Fatal(err)
	}
	labels := func(name, role string) map[string]string {
		return map[string]string{"pipeline": "node", "component": "stage.hello_tracker.members", "node_name": name, "node_role": role}
	}
	want := func(name, role string, v float64) {
		t.Helper()
		body, fams := scrape(t, tel, "/metrics")
		got, ok := sample(fams, "zpipe_cluster_nodes", labels(name, role))
		if !ok || got != v {
			t.Fatalf("zpipe_cluster_nodes{%s} = %v (present %v), want %v\n%s", name, got, ok, v, body)
		}
	}
	want("worker-1", "worker", 1)
	want("manager", "manager", 1)
	mu.Lock()
	members = members[1:]
	mu.Unlock()
	want("worker-1", "worker", 0)
	want("manager", "manager", 1)
}
