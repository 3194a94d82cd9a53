// Package refgen writes docs/reference.md, the reference of zpipe's
// components, from the code that defines them: the built-in source, stage
// and sink kinds (core/stage/builtin), the socket kinds of both ZeroMQ
// transports (their Describe schemas), the codecs' formats
// (core/codec/builtin) and the drop reasons of the telemetry catalog.
// Nothing is started: every description is a Go value.
package refgen

//go:generate go run ./cmd/refgen -o ../../docs/reference.md

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/zpipe/zpipe/core/codec/batch"
	codecs "github.com/zpipe/zpipe/core/codec/builtin"
	"github.com/zpipe/zpipe/core/schema"
	"github.com/zpipe/zpipe/core/stage"
	"github.com/zpipe/zpipe/core/stage/builtin"
	"github.com/zpipe/zpipe/core/telemetry"
	"github.com/zpipe/zpipe/core/transport"
	"github.com/zpipe/zpipe/plugins/transport-cgo/zmqtransport"
	"github.com/zpipe/zpipe/plugins/transport-purego/puretransport"
)

// Command is the command that regenerates the reference.
const Command = "make docs"

// Path is where the reference is kept, relative to the module root.
const Path = "docs/reference.md"

// codecPlugins names each codec plugin's handler set, as its main
// serves it (plugins/codec-*).
var codecPlugins = []struct {
	name     string
	handlers func() []batch.Handler
}{
	{"json", codecs.JSON},
	{"msgpack", codecs.Msgpack},
	{"zeek", codecs.Zeek},
}

// Generate returns the reference in Markdown.
func Generate(ctx context.Context) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Component reference\n\n")
	fmt.Fprintf(&b, "Generated from the code by `%s`; do not edit. Every attribute a block\n", Command)
	b.WriteString("accepts, with its type and default, as `zpipe validate` checks it.\n")
	b.WriteString("Durations are strings in Go syntax (`\"500ms\"`, `\"10s\"`). Metrics are in\n")
	b.WriteString("[metrics.md](metrics.md).\n")

	reg, err := builtin.Registry()
	if err != nil {
		return nil, fmt.Errorf("built-in kinds: %w", err)
	}
	for _, class := range []struct{ name, title, usage string }{
		{"source", "Sources", `source "KIND" "NAME" { … }`},
		{"stage", "Stages", `stage "KIND" "NAME" { … }`},
		{"sink", "Sinks", `sink "KIND" "NAME" { … }`},
	} {
		fmt.Fprintf(&b, "\n## %s\n\nBuilt into zpipe's core, used as `%s` with any transport.\n", class.title, class.usage)
		for _, k := range reg.Kinds(class.name) {
			writeKind(&b, class.name, k)
		}
	}

	if err := writeSockets(ctx, &b); err != nil {
		return nil, err
	}
	if err := writeCodecs(ctx, &b); err != nil {
		return nil, err
	}
	writeDropReasons(&b)
	return b.Bytes(), nil
}

func writeKind(b *bytes.Buffer, class string, k stage.Kind) {
	fmt.Fprintf(b, "\n### %s `%s`\n\n%s\n", class, k.Name, sentence(k.Description))
	if k.NeedsCodecs {
		b.WriteString("\nDecodes payloads through the codec plugins.\n")
	}
	b.WriteString("\n")
	writeAttributes(b, k.Schema.Attributes, nil)
}

// transportDesc is one transport's description of its sockets.
type transportDesc struct {
	name  string
	kinds map[string]transport.SocketKind
}

func writeSockets(ctx context.Context, b *bytes.Buffer) error {
	servers := []struct {
		name string
		srv  transport.Server
	}{
		{zmqtransport.Name, zmqtransport.New()},
		{puretransport.Name, puretransport.New()},
	}
	var (
		descs []transportDesc
		kinds []string
		seen  = map[string]bool{}
	)
	for _, s := range servers {
		d, err := s.srv.Describe(ctx)
		if err != nil {
			return fmt.Errorf("describe transport %s: %w", s.name, err)
		}
		td := transportDesc{name: s.name, kinds: map[string]transport.SocketKind{}}
		for _, k := range d.Sockets {
			td.kinds[k.Kind] = k
			if !seen[k.Kind] {
				seen[k.Kind] = true
				kinds = append(kinds, k.Kind)
			}
		}
		descs = append(descs, td)
	}
	sort.Strings(kinds)
	names := make([]string, len(descs))
	for i, d := range descs {
		names[i] = "`" + d.name + "`"
	}
	fmt.Fprintf(b, "\n## Transport sockets\n\nSources and sinks whose kind is a socket kind run in the transport plugin\n"+
		"(`transport = \"NAME\"`): %s. Where the transports differ, the\n"+
		"description names each; an attribute that needs a capability is refused by a\n"+
		"transport without it (`zpipe plugins` lists each transport's capabilities).\n", strings.Join(names, ", "))
	for _, kind := range kinds {
		var (
			first  transport.SocketKind
			has    []string
			per    = map[string]map[string]schema.Attribute{}
			attrs  []schema.Attribute
			anames = map[string]bool{}
		)
		for _, d := range descs {
			k, ok := d.kinds[kind]
			if !ok {
				continue
			}
			if has == nil {
				first = k
			}
			has = append(has, "`"+d.name+"`")
			per[d.name] = map[string]schema.Attribute{}
			for _, a := range k.Schema.Attributes {
				per[d.name][a.Name] = a
				if !anames[a.Name] {
					anames[a.Name] = true
					attrs = append(attrs, a)
				}
			}
		}
		fmt.Fprintf(b, "\n### %s `%s`\n\n%s\n\n", first.Role, kind, sentence(first.Description))
		switch first.Subscriptions {
		case transport.SubsAccepts:
			b.WriteString("Accepts subscriptions: what the XPUB sinks downstream hear goes to its peers.\n")
		case transport.SubsEmits:
			b.WriteString("Emits subscriptions: what its peers subscribe to goes to the XSUB sources upstream.\n")
		}
		fmt.Fprintf(b, "Transports: %s.\n\n", strings.Join(has, ", "))
		writeAttributes(b, attrs, func(a schema.Attribute) string {
			type variant struct{ desc, who string }
			var vs []variant
			for _, d := range descs {
				pa, ok := per[d.name][a.Name]
				if !ok {
					vs = append(vs, variant{"not supported", d.name})
					continue
				}
				if n := len(vs); n > 0 && vs[n-1].desc == pa.Description {
					vs[n-1].who += ", " + d.name
					continue
				}
				vs = append(vs, variant{pa.Description, d.name})
			}
			if len(vs) == 1 {
				return vs[0].desc
			}
			parts := make([]string, len(vs))
			for i, v := range vs {
				parts[i] = fmt.Sprintf("**%s:** %s", v.who, v.desc)
			}
			return strings.Join(parts, "<br>")
		})
	}
	return nil
}

func writeCodecs(ctx context.Context, b *bytes.Buffer) error {
	b.WriteString("\n## Codecs\n\nCodec plugins decode and encode the payload (frame 3) of the formats\n" +
		"named in frame 2, for the stages and sinks that look inside payloads. They\n" +
		"take no attributes.\n")
	for _, p := range codecPlugins {
		c, err := batch.NewLocal(p.name, "", p.handlers()...)
		if err != nil {
			return fmt.Errorf("codec %s: %w", p.name, err)
		}
		d, err := c.Describe(ctx)
		if err != nil {
			return fmt.Errorf("describe codec %s: %w", p.name, err)
		}
		formats := append([]batch.Format(nil), d.Formats...)
		sort.Slice(formats, func(i, j int) bool {
			if formats[i].Name != formats[j].Name {
				return formats[i].Name < formats[j].Name
			}
			return formats[i].Kind < formats[j].Kind
		})
		fmt.Fprintf(b, "\n### codec `%s` (`zpipe-codec-%s`)\n\n", p.name, p.name)
		b.WriteString("| Format | Payload | Decodes | Encodes | Renders to | Description |\n|---|---|---|---|---|---|\n")
		for _, f := range formats {
			renders := "—"
			if len(f.Renders) > 0 {
				r := append([]string(nil), f.Renders...)
				sort.Strings(r)
				renders = "`" + strings.Join(r, "`, `") + "`"
			}
			fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s | %s |\n", f.Name, f.Kind, yesNo(f.Decode), yesNo(f.Encode), renders, cell(sentence(f.Description)))
		}
	}
	return nil
}

func writeDropReasons(b *bytes.Buffer) {
	b.WriteString("\n## Drop reasons\n\nThe values of `error.type` on `zpipe_messages_dropped_total`\n" +
		"([metrics.md](metrics.md#drop-reasons)).\n\n| `error.type` | Meaning |\n|---|---|\n")
	for _, r := range telemetry.DropReasons() {
		fmt.Fprintf(b, "| `%s` | %s |\n", r.Name, cell(r.Meaning))
	}
}

// writeAttributes writes a table of attrs sorted by name; describe, if
// set, gives each attribute's description.
func writeAttributes(b *bytes.Buffer, attrs []schema.Attribute, describe func(schema.Attribute) string) {
	if len(attrs) == 0 {
		b.WriteString("No attributes.\n")
		return
	}
	sorted := append([]schema.Attribute(nil), attrs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	b.WriteString("| Attribute | Type | Default | Description |\n|---|---|---|---|\n")
	for _, a := range sorted {
		def := "—"
		if a.Required {
			def = "required"
		} else if js, err := a.DefaultJSON(); err == nil && js != "" {
			def = "`" + js + "`"
		}
		desc := a.Description
		if describe != nil {
			desc = describe(a)
		}
		desc = sentence(desc)
		if len(a.OneOf) > 0 {
			desc += " One of `" + strings.Join(a.OneOf, "`, `") + "`."
		}
		if a.Capability != "" {
			desc += " Needs the `" + a.Capability + "` capability for a value other than the default."
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", a.Name, a.Type, cell(def), cell(strings.TrimSpace(desc)))
	}
}

// sentence ends s with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") || strings.HasSuffix(s, ")") && strings.HasSuffix(strings.TrimSuffix(s, ")"), ".") {
		return s
	}
	return s + "."
}

// cell escapes s for a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}
