package telemetry

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDropReasonsDocumented: docs/metrics.md's drop-reason table lists
// exactly DropReasons, in order, with their meanings.
func TestDropReasonsDocumented(t *testing.T) {
	f, err := os.Open(metricsDoc)
	if err != nil {
		t.Fatalf("open %s: %v", metricsDoc, err)
	}
	defer f.Close()
	var (
		rows    [][2]string
		inTable bool
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "| `error.type` |") {
			inTable = true
			continue
		}
		if !inTable || strings.HasPrefix(line, "|---") {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 2 {
			t.Fatalf("%s: want 2 cells: %s", metricsDoc, line)
		}
		rows = append(rows, [2]string{strings.Trim(strings.TrimSpace(cells[0]), "`"), strings.TrimSpace(cells[1])})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := DropReasons()
	if len(rows) != len(want) {
		t.Errorf("%s documents %d drop reasons, the catalog has %d", metricsDoc, len(rows), len(want))
	}
	for i := 0; i < len(rows) && i < len(want); i++ {
		if rows[i][0] != want[i].Name || rows[i][1] != want[i].Meaning {
			t.Errorf("%s: drop reason %d is %q (%q), the catalog says %q (%q)", metricsDoc, i+1, rows[i][0], rows[i][1], want[i].Name, want[i].Meaning)
		}
	}
}

// dropConst matches the names of drop-reason constants (DropHWM, not the
// value Drop of an attribute).
var dropConst = regexp.MustCompile(`^Drop[A-Z]`)

// TestDropReasonsDeclared: the catalog's drop reasons are exactly the
// values of the Drop… string constants that core/transport, core/stage and
// its subpackages declare (the reasons their counters take).
func TestDropReasonsDeclared(t *testing.T) {
	declared := map[string]string{} // reason -> where
	for _, root := range []string{"../transport", "../stage"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				return err
			}
			for _, decl := range file.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if !dropConst.MatchString(name.Name) || i >= len(vs.Values) {
							continue
						}
						lit, ok := vs.Values[i].(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							continue
						}
						v, err := strconv.Unquote(lit.Value)
						if err != nil {
							return err
						}
						declared[v] = path + ": " + name.Name
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("scan %s: %v", root, err)
		}
	}
	if len(declared) == 0 {
		t.Fatal("no Drop… constants found")
	}
	inCatalog := map[string]bool{}
	for _, r := range DropReasons() {
		if inCatalog[r.Name] {
			t.Errorf("drop reason %q is in the catalog twice", r.Name)
		}
		inCatalog[r.Name] = true
		if r.Meaning == "" {
			t.Errorf("drop reason %q has no meaning", r.Name)
		}
		if _, ok := declared[r.Name]; !ok {
			t.Errorf("drop reason %q is in the catalog, but no stage or transport declares it", r.Name)
		}
	}
	for v, where := range declared {
		if !inCatalog[v] {
			t.Errorf("%s declares drop reason %q, which the catalog (DropReasons) lacks", where, v)
		}
	}
}
