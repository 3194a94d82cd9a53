package config

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// secret is a value no message may show.
const secret = "s3cr3t-Zk8#v"

// sensitiveFile uses the sensitive variables key (string) and linger
// (number) in several attributes, each of which its value makes invalid
// unless it is a good one.
const sensitiveFile = `variable "key" {
  sensitive = true
}

variable "linger" {
  type      = number
  sensitive = true
  default   = 0
}

pipeline "p" {
  source "xsub" "in" {
    bind            = ["tcp://127.0.0.1:7001", "${var.key}"]
    curve_server    = var.key != ""
    curve_secretkey = var.key
    linger_ms       = var.linger
  }
  sink "xpub" "out" {
    bind = var.key
  }
}

pipeline "q" {
  source "pull" "in" {
    bind    = ["tcp://127.0.0.1:7002"]
    framing = var.key
  }
  sink "push" "out" {
    connect = ["tcp://127.0.0.1:7003"]
  }
}
`

// loadText loads diags and renders them as zpipe prints them.
func loadText(t *testing.T, paths []string, opts Options) (*Config, hcl.Diagnostics, string) {
	t.Helper()
	cfg, diags := Load(paths, opts, testSchemas{})
	var buf bytes.Buffer
	if err := WriteDiagnostics(&buf, cfg.Files, diags, 0, false); err != nil {
		t.Fatal(err)
	}
	return cfg, diags, buf.String()
}

// TestSensitiveValuesAreHidden: a sensitive variable's value shows in no
// diagnostic, whether the message comes from zpipe (one_of), the
// transport (quoting an endpoint or a key, or naming a number) or HCL
// (which otherwise prints the variables of an expression it rejects).
func TestSensitiveValuesAreHidden(t *testing.T) {
	_, paths := writeFiles(t, map[string]string{"p.hcl": sensitiveFile})
	_, diags, text := loadText(t, paths, Options{Env: []string{"ZPIPE_VAR_key=" + secret, "ZPIPE_VAR_linger=-5"}})
	checkErrors(t, paths[0], diags, []wantDiag{
		{`Invalid value for "bind"`, `refuses bind[1]: endpoint "(sensitive)": unsupported transport`, "13:48"},
		{`Invalid value for "curve_secretkey"`, `refuses "curve_secretkey": "(sensitive)" is not a 40-character Z85 key.`, "15:23"},
		{`Invalid value for "linger_ms"`, `refuses "linger_ms": (sensitive) is below -1.`, "16:23"},
		{"Incorrect attribute value type", `Inappropriate value for attribute "bind": list of string required`, "19:12"},
		{"Unsupported value", `"framing" must be one of "zeek", "raw"; "(sensitive)" is not.`, "26:15"},
	})
	if strings.Contains(text, secret) || strings.Contains(text, "-5") {
		t.Errorf("diagnostics show the sensitive values:\n%s", text)
	}
}

// TestSensitiveNodeConfig: the transport still gets the value; the node
// names the attributes that must not be shown.
func TestSensitiveNodeConfig(t *testing.T) {
	_, paths := writeFiles(t, map[string]string{"p.hcl": `variable "key" {
  sensitive = true
  default   = "0123456789012345678901234567890123456789"
}

pipeline "p" {
  source "xsub" "in" {
    bind            = ["tcp://127.0.0.1:7001"]
    curve_server    = var.key != ""
    curve_secretkey = var.key
  }
  sink "xpub" "out" {
    bind = ["tcp://127.0.0.1:7002"]
  }
}
`})
	cfg := mustLoad(t, paths, Options{})
	in := cfg.Pipelines[0].Nodes[0]
	if want := []string{"curve_secretkey", "curve_server"}; !slices.Equal(in.Sensitive, want) {
		t.Errorf("Sensitive = %v, want %v", in.Sensitive, want)
	}
	if got := decodeJSON(t, in.Config)["curve_secretkey"]; got != "0123456789012345678901234567890123456789" {
		t.Errorf("config holds curve_secretkey %v", got)
	}
	if out := cfg.Pipelines[0].Nodes[1].Sensitive; out != nil {
		t.Errorf("sink Sensitive = %v, want none", out)
	}
	if got := cfg.Redact(`open: key "0123456789012345678901234567890123456789" refused`); got != `open: key "(sensitive)" refused` {
		t.Errorf("Redact = %q", got)
	}
}

// TestSensitiveVariableValues: a sensitive value that does not fit its
// type is not shown either; given with --var it draws a warning, and a
// missing one points at --var-file.
func TestSensitiveVariableValues(t *testing.T) {
	_, paths := writeFiles(t, map[string]string{"v.hcl": `variable "n" {
  type      = number
  sensitive = true
  default   = 1
}

variable "key" {
  sensitive = true
}

variable "flag" {
  type      = bool
  sensitive = "yes"
  default   = false
}
`})
	_, diags, text := loadText(t, paths, Options{Vars: map[string]string{"n": secret, "key": secret}})
	checkErrors(t, paths[0], diags, []wantDiag{
		{"Invalid value for variable", `is a number; --var n gives it a value (not shown: the variable is sensitive), which is not a number: write a number`, "1:1"},
		{"Invalid sensitive setting", `The sensitive setting of variable "flag" must be true or false.`, "13:15"},
	})
	if strings.Contains(text, secret) {
		t.Errorf("diagnostics show the sensitive value:\n%s", text)
	}
	var warnings []string
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			warnings = append(warnings, d.Summary+": "+d.Detail)
		}
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], `Sensitive value on the command line: Variable "n" is sensitive, but --var puts its value on the command line`) ||
		!strings.Contains(warnings[1], `Give it with --var-file key=PATH or the environment variable ZPIPE_VAR_key instead.`) {
		t.Errorf("warnings %q, want one per sensitive --var", warnings)
	}

	_, diags = Load(paths, Options{}, testSchemas{})
	checkErrors(t, paths[0], diags, []wantDiag{
		{"No value for required variable", `"key" has no default, so it must be set with --var-file key=PATH or the environment variable ZPIPE_VAR_key.`, "7:1"},
		{"Invalid sensitive setting", "", "13:15"},
	})
}

// TestVarFile: --var-file reads a variable's value from a file, less one
// trailing line break.
func TestVarFile(t *testing.T) {
	dir, paths := writeFiles(t, map[string]string{"p.hcl": `variable "framing" {}

variable "endpoints" {
  type = list(string)
}

pipeline "p" {
  source "pull" "in" {
    bind    = var.endpoints
    framing = var.framing
  }
  sink "push" "out" {
    connect = ["tcp://127.0.0.1:7002"]
  }
}
`})
	write := func(name, content string, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw := write("raw", "raw\n", 0o600)
	rawCRLF := write("raw-crlf", "raw\r\n", 0o600)
	endpoints := write("endpoints", "[\n  \"tcp://127.0.0.1:7001\",\n]\n", 0o640)
	twoLines := write("two-lines", "raw\n\n", 0o600)

	cfg, diags, text := loadText(t, paths, Options{VarFiles: map[string]string{"framing": raw, "endpoints": endpoints}})
	checkErrors(t, paths[0], diags, nil)
	if got := decodeJSON(t, cfg.Pipelines[0].Nodes[0].Config); got["framing"] != "raw" || !slices.Equal(got["bind"].([]any), []any{"tcp://127.0.0.1:7001"}) {
		t.Errorf("config %v, want framing raw and bind from the file", got)
	}
	// endpoints is readable by its group.
	if len(diags) != 1 || diags[0].Summary != "Variable file readable by others" ||
		!strings.Contains(diags[0].Detail, `--var-file endpoints can be read by users other than its owner (mode 0640)`) {
		t.Errorf("want one warning about the mode of %s:\n%s", endpoints, text)
	}

	_, diags = Load(paths, Options{VarFiles: map[string]string{"framing": rawCRLF, "endpoints": endpoints}}, testSchemas{})
	checkErrors(t, paths[0], diags, nil)

	_, diags = Load(paths, Options{VarFiles: map[string]string{"framing": twoLines, "endpoints": endpoints}}, testSchemas{})
	checkErrors(t, paths[0], diags, []wantDiag{{"Unsupported value", `"raw\n" is not`, "10:15"}})

	missing := filepath.Join(dir, "missing")
	_, diags = Load(paths, Options{VarFiles: map[string]string{"framing": missing, "endpoints": endpoints, "other": raw}}, testSchemas{})
	checkErrors(t, paths[0], diags, []wantDiag{
		{"Failed to read variable file", `The file "` + missing + `" given by --var-file framing could not be read: open ` + missing + ": no such file or directory.", ""},
		{"Undeclared variable", `A value was given for variable "other" by --var-file, but no configuration file declares`, ""},
	})
}

// TestHideValueQuotedPieces: a transport that quotes only the part of a
// sensitive value at fault does not show it either; quoted text that is
// not part of the value stays.
func TestHideValueQuotedPieces(t *testing.T) {
	v := cty.ListVal([]cty.Value{cty.StringVal("tcp://999.1.1.1:5")})
	got := hideValue(`endpoint "tcp://999.1.1.1:5": invalid IPv4 address "999.1.1.1"; want "tcp" or "ipc"`, v)
	want := `endpoint "(sensitive)": invalid IPv4 address "(sensitive)"; want "(sensitive)" or "ipc"`
	if got != want {
		t.Errorf("hideValue:\n got %s\nwant %s", got, want)
	}
}
