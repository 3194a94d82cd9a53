package engine

import (
	"slices"
	"testing"

	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/telemetry"
)

// TestObserversMembers: what stages register through their Env.Telemetry
// is read at every call, under each stage's pipeline and component.
func TestObserversMembers(t *testing.T) {
	var obs observers
	up := []stage.Member{{Name: "worker-1", Role: "worker"}}
	obs.forStage("p1", "stage.hello_tracker.a").ObserveMembers(func() []stage.Member { return up })
	obs.forStage("p2", "stage.hello_tracker.b").ObserveMembers(func() []stage.Member {
		return []stage.Member{{Name: "manager", Role: "manager"}}
	})
	want := []telemetry.MemberObservation{
		{Pipeline: "p1", Component: "stage.hello_tracker.a", Name: "worker-1", Role: "worker"},
		{Pipeline: "p2", Component: "stage.hello_tracker.b", Name: "manager", Role: "manager"},
	}
	if got := obs.memberObservations(); !slices.Equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	up = nil
	if got := obs.memberObservations(); !slices.Equal(got, want[1:]) {
		t.Fatalf("after the node went down: got %+v, want %+v", got, want[1:])
	}
}
