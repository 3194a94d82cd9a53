package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/zpipe/zpipe/core/transport"
)

// SocketValidator is implemented by Schemas whose transports check a
// socket's configuration before it is opened (transport.Validator): option
// ranges, endpoint syntax, key formats. Load asks it about every enabled
// source and sink that is a transport socket, so that zpipe validate and
// zpipe run find the same problems before anything starts.
type SocketValidator interface {
	// ValidateSocket checks the decoded configuration (Node.Config) of a
	// socket of the given kind on the named transport. An error wrapping
	// errors.ErrUnsupported means the transport does not validate, which
	// is not a problem of the configuration.
	ValidateSocket(transport, kind string, config []byte) (*transport.Validation, error)
}

// bindSite is one endpoint a socket binds, and where it is written.
type bindSite struct {
	endpoint string
	node     *Node
	pipeline string
	rng      hcl.Range
}

// validateSocket asks the transport to check node n, decoded from block b
// into d, and records the endpoints it binds.
func (l *loader) validateSocket(p *Pipeline, n *Node, b *hcl.Block, d decodedBody) hcl.Diagnostics {
	v, ok := l.schemas.(SocketValidator)
	if !ok {
		return nil
	}
	res, err := v.ValidateSocket(p.Transport, n.Kind, n.Config)
	if errors.Is(err, errors.ErrUnsupported) || (err == nil && res == nil) {
		return nil
	}
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Socket not checked",
			Detail: fmt.Sprintf("Transport %q could not check %s %q %q: %s.",
				p.Transport, n.Class, n.Kind, n.Name, strings.TrimSuffix(err.Error(), ".")),
			Subject: b.DefRange.Ptr(),
		}}
	}
	var diags hcl.Diagnostics
	for _, pr := range res.Problems {
		what, rng := problemPlace(pr, n, b, d.attrs)
		summary := "Invalid socket configuration"
		if pr.Attribute != "" {
			summary = fmt.Sprintf("Invalid value for %q", pr.Attribute)
		}
		msg := strings.TrimSuffix(pr.Message, ".")
		if v, ok := d.sensitive[pr.Attribute]; ok {
			msg = hideValue(msg, v)
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   fmt.Sprintf("Transport %q refuses %s: %s.", p.Transport, what, msg),
			Subject:  rng.Ptr(),
		})
	}
	bindRanges := elementRanges(d.attrs["bind"], len(res.Binds), b.DefRange)
	for i, ep := range res.Binds {
		l.binds = append(l.binds, bindSite{endpoint: ep, node: n, pipeline: p.Name, rng: bindRanges[i]})
	}
	return diags
}

// hideValue replaces in msg the text of every string and number in v, the
// value of a sensitive attribute (Config.Redact hides only strings, for
// numbers are everywhere in messages), and every quoted part of msg that
// is a piece of one of its strings: a transport explaining what is wrong
// with an endpoint quotes the part at fault ("invalid IPv4 address
// \"999.1.1.1\""), not always the whole value.
func hideValue(msg string, v cty.Value) string {
	var strs []string
	_ = cty.Walk(v, func(_ cty.Path, v cty.Value) (bool, error) {
		if !v.IsKnown() || v.IsNull() {
			return true, nil
		}
		switch v.Type() {
		case cty.String:
			if s := v.AsString(); s != "" {
				msg = strings.ReplaceAll(msg, s, Redacted)
				strs = append(strs, s)
			}
		case cty.Number:
			msg = strings.ReplaceAll(msg, v.AsBigFloat().Text('f', -1), Redacted)
		}
		return true, nil
	})
	if len(strs) == 0 {
		return msg
	}
	return quotedText.ReplaceAllStringFunc(msg, func(q string) string {
		text, err := strconv.Unquote(q)
		if err != nil || text == "" || text == Redacted {
			return q
		}
		for _, s := range strs {
			if strings.Contains(s, text) {
				return strconv.Quote(Redacted)
			}
		}
		return q
	})
}

// quotedText matches a Go-quoted string in a message.
var quotedText = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// problemPlace names what a problem is about and where it is written: the
// list element for an index, else the attribute, else (an attribute left
// at its default, or the block as a whole) the block header.
func problemPlace(pr transport.Problem, n *Node, b *hcl.Block, attrs hcl.Attributes) (string, hcl.Range) {
	if pr.Attribute == "" {
		return fmt.Sprintf("%s %q %q", n.Class, n.Kind, n.Name), b.DefRange
	}
	what := fmt.Sprintf("%q", pr.Attribute)
	if pr.Index >= 0 {
		what = fmt.Sprintf("%s[%d]", pr.Attribute, pr.Index)
	}
	attr, ok := attrs[pr.Attribute]
	if !ok {
		return what, b.DefRange
	}
	if pr.Index >= 0 {
		if elems, diags := hcl.ExprList(attr.Expr); !diags.HasErrors() && pr.Index < len(elems) {
			return what, elems[pr.Index].Range()
		}
	}
	return what, attr.Expr.Range()
}

// elementRanges returns n ranges for the elements of a list attribute:
// each element's own when the list is written out with n elements, else
// the attribute's (or fallback's, without the attribute) n times.
func elementRanges(attr *hcl.Attribute, n int, fallback hcl.Range) []hcl.Range {
	out := make([]hcl.Range, n)
	if attr != nil {
		fallback = attr.Expr.Range()
		if elems, diags := hcl.ExprList(attr.Expr); !diags.HasErrors() && len(elems) == n {
			for i, e := range elems {
				out[i] = e.Range()
			}
			return out
		}
	}
	for i := range out {
		out[i] = fallback
	}
	return out
}

// checkBinds reports every endpoint bound twice, across pipelines and
// files: a socket cannot bind what another socket of this configuration
// (or the same one) already binds.
func (l *loader) checkBinds() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i, b := range l.binds {
		for _, prev := range l.binds[:i] {
			if !sameEndpoint(prev.endpoint, b.endpoint) {
				continue
			}
			by := fmt.Sprintf("%s %q %q of pipeline %q", prev.node.Class, prev.node.Kind, prev.node.Name, prev.pipeline)
			if prev.node == b.node {
				by = "this same " + b.node.Class
			}
			detail := fmt.Sprintf("%s is already bound by %s, at %s; two sockets cannot bind one endpoint.", b.endpoint, by, prev.rng)
			if prev.endpoint != b.endpoint {
				detail = fmt.Sprintf("%s overlaps %s, already bound by %s, at %s: an address of * or 0.0.0.0 takes its port on every interface.",
					b.endpoint, prev.endpoint, by, prev.rng)
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Endpoint bound twice",
				Detail:   detail,
				Subject:  b.rng.Ptr(),
			})
			break
		}
	}
	return diags
}

// sameEndpoint reports whether binding both endpoints would collide. TCP
// endpoints collide on the same port when the hosts are equal or either
// is a wildcard (*, 0.0.0.0, [::]); a port chosen by the system (* or 0)
// never collides. Other endpoints (ipc://path) collide when equal.
func sameEndpoint(a, b string) bool {
	hostA, portA, tcpA := splitTCP(a)
	hostB, portB, tcpB := splitTCP(b)
	if !tcpA || !tcpB {
		return !tcpA && !tcpB && a == b
	}
	if portA != portB || portA == "*" || portA == "0" {
		return false
	}
	return hostA == hostB || wildcardHost(hostA) || wildcardHost(hostB)
}

// splitTCP splits tcp://HOST:PORT; ok is false for other endpoints.
func splitTCP(ep string) (host, port string, ok bool) {
	rest, ok := strings.CutPrefix(ep, "tcp://")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

func wildcardHost(host string) bool {
	switch host {
	case "*", "0.0.0.0", "[::]", "::", "[*]":
		return true
	}
	return false
}
