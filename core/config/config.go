// Package config reads zpipe's HCL pipeline language.
//
// A configuration is one or more files in HCL native syntax (.hcl) or HCL
// JSON syntax (.hcl.json, .json). Each file may choose a transport, declare
// variables, hold pipelines of source, stage and sink blocks, and at most one
// file may hold a telemetry block. Load parses and validates everything up
// front: every block body is decoded against the schema of its component,
// every socket is checked by its transport (SocketValidator), and no two
// sockets may bind one endpoint, so mistakes surface as HCL diagnostics
// carrying file:line:col ranges before anything starts. Input nesting
// deeper than MaxNesting, and files over MaxFileSize, are refused before
// they are parsed.
package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/zpipe/zpipe/core/schema"
)

// DefaultTransport is the transport used by files that do not name one.
const DefaultTransport = "cgo"

// EnvVarPrefix prefixes environment variables that set HCL variables:
// ZPIPE_VAR_name (or ZPIPE_VAR_NAME, the upper-case form) sets var.name.
const EnvVarPrefix = "ZPIPE_VAR_"

// Node classes.
const (
	ClassSource = "source"
	ClassStage  = "stage"
	ClassSink   = "sink"
)

// Options adjust how a configuration is loaded.
type Options struct {
	// Vars are variable values given on the command line (--var NAME=VALUE).
	// They take precedence over the environment and over defaults.
	Vars map[string]string
	// VarFiles name files holding variable values (--var-file NAME=PATH):
	// the file's content, one trailing line break removed, is the value,
	// as if given with Vars, which a name must not also be in.
	VarFiles map[string]string
	// Env is the process environment as "KEY=VALUE" entries; entries named
	// EnvVarPrefix+name set variables. Later entries win over earlier ones.
	Env []string
	// Transport, when not empty, replaces the transport every file names.
	Transport string
}

// Schemas supplies component schemas. For sources and sinks the transport is
// the file's effective transport; for stages transport is "". A Schemas
// that also implements SocketValidator has every socket checked.
type Schemas interface {
	// Component returns the schema of the component of the given class
	// ("source", "stage" or "sink") and kind, or an error naming what is
	// missing (unknown kind, transport plugin not found, …).
	Component(transport, class, kind string) (*Component, error)
}

// Component is what the configuration layer needs to know about a component.
type Component struct {
	// Schema lists the attributes its block body accepts.
	Schema schema.Schema
	// Subscriptions is transport.SubsEmits, transport.SubsAccepts or "".
	Subscriptions string
	// Capabilities are the capabilities of the transport, checked against
	// schema.Attribute.Capability. Nil for stages, which are not checked.
	Capabilities []string
	// Core says the component runs in zpipe's core process (stages, and
	// sinks zpipe itself provides) rather than as a transport socket.
	Core bool
	// Validate, when set, checks a decoded configuration (a JSON object
	// holding every attribute of Schema) as the component would when made,
	// without making it: ranges and rules across attributes. An error
	// that begins `attribute "NAME": ` is reported at that attribute.
	Validate func(config []byte) error
}

// Config is a loaded configuration.
//
// When Load reports errors the Config is incomplete: it still holds whatever
// could be decoded (useful for drawing graphs of partly broken files), but it
// must not be run.
type Config struct {
	// Files are the parsed files by name, for hcl.NewDiagnosticTextWriter.
	Files map[string]*hcl.File
	// Pipelines in file order, then declaration order.
	Pipelines []*Pipeline
	// Telemetry is nil when no file has a telemetry block.
	Telemetry *Telemetry

	// redactor replaces the text of sensitive values; nil when there are
	// none.
	redactor *strings.Replacer
}

// Redacted is what Redact shows in place of a sensitive value.
const Redacted = "(sensitive)"

// Redact returns s with the text of every sensitive variable's value (each
// string in it, as written or escaped as in a quoted string) replaced by
// Redacted. Load redacts its diagnostics; whatever else zpipe prints about a
// configuration (errors, logs) goes through Redact.
func (c *Config) Redact(s string) string {
	if c == nil || c.redactor == nil {
		return s
	}
	return c.redactor.Replace(s)
}

// setSecrets makes Redact hide secrets.
func (c *Config) setSecrets(secrets []string) {
	forms := map[string]bool{}
	for _, s := range secrets {
		forms[s] = true
		if q := strconv.Quote(s); q[1:len(q)-1] != s {
			forms[q[1:len(q)-1]] = true
		}
	}
	if len(forms) == 0 {
		c.redactor = nil
		return
	}
	sorted := make([]string, 0, len(forms))
	for f := range forms {
		sorted = append(sorted, f)
	}
	// Longest first, so that a secret holding another is replaced whole.
	slices.SortFunc(sorted, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), cmp.Compare(a, b)) })
	pairs := make([]string, 0, 2*len(sorted))
	for _, f := range sorted {
		pairs = append(pairs, f, Redacted)
	}
	c.redactor = strings.NewReplacer(pairs...)
}

// Pipeline is one pipeline block.
type Pipeline struct {
	Name string
	// File is the path of the file declaring the pipeline.
	File string
	// Transport is the effective transport of the file.
	Transport string
	// Passthrough lets the transport run source→sink segments itself.
	Passthrough bool
	// ForwardSubscriptions sends the subscriptions an XPUB sink receives
	// to the XSUB sources upstream of it, as a broker does (default). A
	// pipeline taking part in a cluster sets it false: its XPUB sees the
	// other nodes' subscriptions, which are not its own.
	ForwardSubscriptions bool
	// Nodes are the sources, then the stages, then the sinks, each in
	// declaration order.
	Nodes     []*Node
	DeclRange hcl.Range
}

// Node is one source, stage or sink block.
type Node struct {
	// Class is ClassSource, ClassStage or ClassSink.
	Class string
	Kind  string
	Name  string
	// ID is "<pipeline>/<class>.<kind>.<name>", unique across the Config.
	ID string
	// Inputs are the nodes feeding this one; empty for sources.
	Inputs []*Node
	// Config is the decoded block body as a JSON object holding every
	// attribute of the component's schema, defaults filled in. It is nil
	// when the body could not be decoded.
	Config []byte
	// Subscriptions and Core are copied from the Component.
	Subscriptions string
	Core          bool
	// Sensitive names the attributes whose values come from sensitive
	// variables; they must not be shown.
	Sensitive []string
	// DeclRange covers the block header; TypeRange the kind label.
	DeclRange hcl.Range
	TypeRange hcl.Range
}

// Ref returns the node's reference as written in a from list:
// "<class>.<kind>.<name>".
func (n *Node) Ref() string {
	return n.Class + "." + n.Kind + "." + n.Name
}

// Telemetry is the telemetry block.
type Telemetry struct {
	// ServiceName is the OTel service.name; "zpipe" by default.
	ServiceName string
	// ResourceAttributes are added to the OTel resource.
	ResourceAttributes map[string]string
	// ZeekNode, when set, adds the label node="<ZeekNode>" to metrics named
	// like Zeek's.
	ZeekNode string
	// Prometheus is nil when no prometheus block is present.
	Prometheus *Prometheus
	// OTLP is nil when no otlp block is present.
	OTLP      *OTLP
	DeclRange hcl.Range
}

// Prometheus configures the Prometheus scrape endpoint.
type Prometheus struct {
	// Listen is the host:port to listen on.
	Listen string
	// Path is the HTTP path of the metrics; "/metrics" by default.
	Path string
}

// OTLP configures the OTLP metric exporter.
type OTLP struct {
	Endpoint string
	// Protocol is "grpc" (default) or "http".
	Protocol string
	Insecure bool
	Headers  map[string]string
	// Interval is the export interval; 10s by default.
	Interval time.Duration
	// Timeout bounds one export; 10s by default.
	Timeout time.Duration
}
