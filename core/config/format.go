package config

import (
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src, the text of the native syntax file filename, in
// canonical layout; only whitespace changes. A file that does not parse is
// refused rather than rewritten, and so are JSON syntax files, which have no
// canonical layout.
func Format(filename string, src []byte) ([]byte, error) {
	if IsJSONSyntax(filename) {
		return nil, fmt.Errorf("format %s: JSON syntax files are not formatted", filename)
	}
	if diags := checkNativeNesting(src, filename); diags.HasErrors() {
		return nil, fmt.Errorf("format %s: %w", filename, diags)
	}
	if _, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos); diags.HasErrors() {
		return nil, fmt.Errorf("format %s: %w", filename, diags)
	}
	return hclwrite.Format(src), nil
}

// WriteDiagnostics prints diags: for each, a compiler-style line
// "file:line:col: error: summary", then HCL's rendering with a snippet of
// the source when the diagnostic is placed in one of files. width wraps the text
// (0 for no wrapping); color adds terminal colours.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, width uint, color bool) error {
	snippets := hcl.NewDiagnosticTextWriter(w, files, width, color)
	for _, d := range diags {
		// A compiler-style first line (file:line:col: severity: summary)
		// that editors and grep understand, then HCL's snippet.
		if d.Subject != nil {
			sev := "error"
			if d.Severity == hcl.DiagWarning {
				sev = "warning"
			}
			if _, err := fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, sev, d.Summary); err != nil {
				return err
			}
		}
		if err := snippets.WriteDiagnostic(d); err != nil {
			return err
		}
	}
	return nil
}
