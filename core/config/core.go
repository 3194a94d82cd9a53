package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// validateCore checks node n, decoded from block b, with its kind's
// validate function, and reports its error at the attribute it names.
func validateCore(validate func([]byte) error, n *Node, b *hcl.Block, d decodedBody) hcl.Diagnostics {
	err := validate(n.Config)
	if err == nil {
		return nil
	}
	name, msg := attributeError(err.Error())
	summary := "Invalid configuration"
	subject := b.DefRange
	detail := fmt.Sprintf("%s %q %q: %s.", strings.ToUpper(n.Class[:1])+n.Class[1:], n.Kind, n.Name, strings.TrimSuffix(msg, "."))
	if name != "" {
		summary = fmt.Sprintf("Invalid value for %q", name)
		if attr, ok := d.attrs[name]; ok {
			subject = attr.Expr.Range()
		}
		if v, ok := d.sensitive[name]; ok {
			msg = hideValue(msg, v)
		}
		detail = strings.TrimSuffix(msg, ".") + "."
	}
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: subject.Ptr()}}
}

// attributeError splits an error message of the form
// `attribute "NAME": MESSAGE` (or `attribute "A", "B": MESSAGE`, naming
// the first) into NAME and MESSAGE; other messages name no attribute.
func attributeError(s string) (name, msg string) {
	rest, ok := strings.CutPrefix(s, "attribute ")
	if !ok {
		return "", s
	}
	q, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return "", s
	}
	name, _ = strconv.Unquote(q)
	i := strings.Index(rest, ": ")
	if i < 0 {
		return "", s
	}
	return name, rest[i+2:]
}
