package cluster

import (
	"regexp"
	"testing"
)

func TestParseNodeID(t *testing.T) {
	for _, c := range []struct{ id, name, host, role string }{
		{"zeromq_worker-1_vm_29081_Nu7FFg2UtzjHvbUEZ8", "worker-1", "vm", "worker"},
		{"zeromq_manager_vm_29060_NA8kpi37iRMWXneDsi", "manager", "vm", "manager"},
		{"zeromq_logger-2_host_with_underscores_1_Nx", "logger-2", "host_with_underscores", "logger"},
		{"zeromq_proxy_h_1_N", "proxy", "h", "proxy"},
		{"zeromq_sensor_h_1_N", "sensor", "h", "unknown"},
		{"not-a-zeek-id", "", "", "unknown"},
	} {
		n := ParseNodeID(c.id)
		if n.ID != c.id || n.Name != c.name || n.Host != c.host || n.Role != c.role {
			t.Errorf("ParseNodeID(%q) = %+v", c.id, n)
		}
	}
}

func TestNewNodeIDHasZeeksShape(t *testing.T) {
	id, err := NewNodeID("zpipe")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^zeromq_zpipe_.+_[0-9]+_N[0-9A-Za-z]{16}$`).MatchString(id) {
		t.Fatalf("id %q", id)
	}
	if other, _ := NewNodeID("zpipe"); other == id {
		t.Fatal("two ids are the same")
	}
	if n := ParseNodeID(id); n.Name != "zpipe" {
		t.Fatalf("parsed back as %+v", n)
	}
}
