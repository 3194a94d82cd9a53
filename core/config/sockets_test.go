package config

import (
	"path/filepath"
	"testing"
)

// TestSocketProblems: what the transport finds wrong with a socket is a
// diagnostic at the list element, the attribute, or the block when the
// attribute is not written or the problem is the block's.
func TestSocketProblems(t *testing.T) {
	_, paths := writeFiles(t, map[string]string{"p.hcl": `variable "ep" {
  default = "udp://127.0.0.1:7"
}

pipeline "p" {
  source "xsub" "in" {
    bind      = ["tcp://127.0.0.1:7001", "foo://x", var.ep]
    linger_ms = -5
    framing   = "raw"
  }
  sink "push" "out" {
    connect      = var.ep == "" ? [] : [var.ep]
    curve_server = true
  }
}
`})
	_, diags := Load(paths, Options{}, testSchemas{})
	checkErrors(t, paths[0], diags, []wantDiag{
		{"Invalid socket configuration", `Transport "cgo" refuses source "xsub" "in": an xsub needs zeek framing.`, "6:3"},
		{`Invalid value for "bind"`, `Transport "cgo" refuses bind[1]: endpoint "foo://x": unsupported transport; want tcp or ipc.`, "7:42"},
		{`Invalid value for "bind"`, `Transport "cgo" refuses bind[2]: endpoint "udp://127.0.0.1:7": unsupported transport`, "7:53"},
		{`Invalid value for "linger_ms"`, `Transport "cgo" refuses "linger_ms": -5 is below -1.`, "8:17"},
		{`Invalid value for "curve_secretkey"`, `a CURVE server needs a secret key`, "11:3"},
		// Not a list written out: the attribute's expression.
		{`Invalid value for "connect"`, `refuses connect[0]: endpoint "udp://127.0.0.1:7"`, "12:20"},
	})
}

// TestSocketProblemsJSON: the same places in JSON syntax.
func TestSocketProblemsJSON(t *testing.T) {
	_, paths := writeFiles(t, map[string]string{"p.hcl.json": `{
  "pipeline": {"p": {
    "source": {"pull": {"in": {"bind": ["tcp://127.0.0.1:7001", "foo://x"]}}},
    "sink": {"push": {"out": {"linger_ms": -5}}}
  }}
}
`})
	_, diags := Load(paths, Options{}, testSchemas{})
	checkErrors(t, paths[0], diags, []wantDiag{
		{`Invalid value for "bind"`, `refuses bind[1]: endpoint "foo://x"`, "3:65"},
		{`Invalid value for "linger_ms"`, `refuses "linger_ms": -5 is below -1.`, "4:44"},
	})
}

// TestSocketCheckFailed: a transport that cannot answer is an error on the
// block; one that does not validate is none.
func TestSocketCheckFailed(t *testing.T) {
	src := `pipeline "p" {
  source "pull" "in" {
    bind      = ["foo://x"]
    linger_ms = 4242
  }
  sink "push" "out" {}
}
`
	_, paths := writeFiles(t, map[string]string{"p.hcl": src})
	_, diags := Load(paths, Options{}, testSchemas{})
	checkErrors(t, paths[0], diags, []wantDiag{
		{"Socket not checked", `Transport "cgo" could not check source "pull" "in": the plugin went away.`, "2:3"},
	})
	_, diags = Load(paths, Options{Transport: "purego"}, testSchemas{})
	checkErrors(t, paths[0], diags, nil)
}

// TestDisabledSocketNotChecked: a block left out with enabled = false is
// checked against its schema only, and binds nothing.
func TestDisabledSocketNotChecked(t *testing.T) {
	_, paths := writeFiles(t, map[string]string{"p.hcl": `pipeline "p" {
  source "pull" "in" {
    bind = ["tcp://127.0.0.1:7001"]
  }
  source "pull" "spare" {
    enabled = false
    bind    = ["tcp://127.0.0.1:7001", "foo://x"]
  }
  sink "push" "out" {
    from = [source.pull.in]
  }
}
`})
	_, diags := Load(paths, Options{}, testSchemas{})
	checkErrors(t, paths[0], diags, nil)
}

// TestEndpointBoundTwice: two sockets binding one endpoint, across
// pipelines and files, or one socket binding it twice, are errors naming
// both places; a wildcard address takes its port on every host.
func TestEndpointBoundTwice(t *testing.T) {
	dir, _ := writeFiles(t, map[string]string{
		"a.hcl": `pipeline "a" {
  source "pull" "in" {
    bind = ["tcp://127.0.0.1:7001", "ipc:///tmp/zpipe-a", "tcp://127.0.0.1:*", "tcp://[::1]:7003"]
  }
  sink "push" "out" {
    bind = ["tcp://*:7002", "tcp://127.0.0.1:0"]
  }
}
`,
		"b.hcl": `pipeline "b" {
  source "pull" "in" {
    bind = ["tcp://127.0.0.1:7001", "tcp://127.0.0.2:7002", "tcp://127.0.0.1:*", "tcp://127.0.0.1:0"]
  }
  sink "push" "out" {
    bind = ["ipc:///tmp/zpipe-a", "tcp://127.0.0.2:7003", "tcp://127.0.0.1:7004", "tcp://127.0.0.1:7004"]
  }
  sink "push" "more" {
    from = [source.pull.in]
    bind = ["tcp://0.0.0.0:7003", "ipc:///tmp/zpipe-b"]
  }
}
`,
	})
	a, b := filepath.Join(dir, "a.hcl"), filepath.Join(dir, "b.hcl")
	_, diags := Load([]string{dir}, Options{}, testSchemas{})
	checkErrors(t, b, diags, []wantDiag{
		{"Endpoint bound twice", `tcp://127.0.0.1:7001 is already bound by source "pull" "in" of pipeline "a", at ` + a + ":3,13-35;", "3:13"},
		{"Endpoint bound twice", `tcp://127.0.0.2:7002 overlaps tcp://*:7002, already bound by sink "push" "out" of pipeline "a", at ` + a + ":6,13-27:", "3:37"},
		{"Endpoint bound twice", `ipc:///tmp/zpipe-a is already bound by source "pull" "in" of pipeline "a", at ` + a + ":3,37-57;", "6:13"},
		{"Endpoint bound twice", `tcp://127.0.0.1:7004 is already bound by this same sink, at ` + b + ":6,59-81;", "6:83"},
		{"Endpoint bound twice", `tcp://0.0.0.0:7003 overlaps tcp://[::1]:7003, already bound by source "pull" "in" of pipeline "a"`, "10:13"},
	})
}
