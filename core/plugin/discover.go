package plugin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// BinaryPrefix starts the file name of every plugin binary:
// zpipe-<kind>-<name>, such as zpipe-transport-cgo.
const BinaryPrefix = "zpipe-"

// BinaryName returns the file name of the plugin of the given kind and name.
func BinaryName(kind, name string) string {
	return BinaryPrefix + kind + "-" + name
}

// SearchDirs returns the directories to look for plugins in, in order: the
// --plugin-dir flag, $ZPIPE_PLUGIN_DIR (which may list several directories
// separated by the OS path-list separator) and the directory of the zpipe
// executable. The caller passes the three values; empty ones are left out,
// and so are repeats.
func SearchDirs(flagDir, envDir, exeDir string) []string {
	var dirs []string
	seen := make(map[string]bool)
	add := func(d string) {
		if d == "" {
			return
		}
		d = filepath.Clean(d)
		key := d
		if abs, err := filepath.Abs(d); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			dirs = append(dirs, d)
		}
	}
	add(flagDir)
	for _, d := range filepath.SplitList(envDir) {
		add(d)
	}
	add(exeDir)
	return dirs
}

// Find returns the path of the executable zpipe-<kind>-<name> in the first
// of dirs that holds one. The error names every directory searched.
func Find(kind, name string, dirs []string) (string, error) {
	if err := checkPart("kind", kind); err != nil {
		return "", err
	}
	if err := checkPart("name", name); err != nil {
		return "", err
	}
	file := BinaryName(kind, name)
	if len(dirs) == 0 {
		return "", fmt.Errorf("%s plugin %q not found: no plugin directories to look for %s in", kind, name, file)
	}
	var notes []string
	for _, d := range dirs {
		p := filepath.Join(d, file)
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			if !errors.Is(err, fs.ErrNotExist) {
				notes = append(notes, err.Error())
			}
		case !fi.Mode().IsRegular():
			notes = append(notes, p+" is not a regular file")
		case fi.Mode().Perm()&0o111 == 0:
			notes = append(notes, p+" is not executable")
		default:
			return p, nil
		}
	}
	msg := fmt.Sprintf("%s plugin %q not found: looked for %s in %s", kind, name, file, strings.Join(dirs, ", "))
	if len(notes) > 0 {
		msg += " (" + strings.Join(notes, "; ") + ")"
	}
	return "", errors.New(msg)
}

func checkPart(what, s string) error {
	if s == "" {
		return fmt.Errorf("plugin %s is empty", what)
	}
	if strings.ContainsAny(s, `/\`) || s == "." || s == ".." {
		return fmt.Errorf("plugin %s %q: must not contain path separators", what, s)
	}
	return nil
}

// Found is one plugin binary in a plugin directory.
type Found struct {
	// Kind is what the plugin provides ("transport", "codec").
	Kind string
	// Name tells it apart from other plugins of its kind ("cgo").
	Name string
	// Path is the executable.
	Path string
	// Shadowed means an earlier directory holds a plugin of the same kind
	// and name, so Find never returns this one.
	Shadowed bool
}

// List returns every plugin binary in dirs: executables named
// zpipe-<kind>-<name>, directory by directory in order, sorted by kind and
// name within each directory. Directories that do not exist are skipped;
// other errors are returned together with what was found.
func List(dirs []string) ([]Found, error) {
	var out []Found
	var errs []error
	seen := make(map[string]bool)
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("list plugins in %s: %w", d, err))
			}
			continue
		}
		var here []Found
		for _, e := range entries {
			kind, name, ok := parseBinaryName(e.Name())
			if !ok {
				continue
			}
			p := filepath.Join(d, e.Name())
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
				continue
			}
			here = append(here, Found{Kind: kind, Name: name, Path: p})
		}
		sort.Slice(here, func(i, j int) bool {
			if here[i].Kind != here[j].Kind {
				return here[i].Kind < here[j].Kind
			}
			return here[i].Name < here[j].Name
		})
		for i := range here {
			key := here[i].Kind + "\x00" + here[i].Name
			here[i].Shadowed = seen[key]
			seen[key] = true
		}
		out = append(out, here...)
	}
	return out, errors.Join(errs...)
}

// parseBinaryName splits zpipe-<kind>-<name>; kind holds no dash, name may.
func parseBinaryName(file string) (kind, name string, ok bool) {
	rest, ok := strings.CutPrefix(file, BinaryPrefix)
	if !ok {
		return "", "", false
	}
	kind, name, ok = strings.Cut(rest, "-")
	if !ok || kind == "" || name == "" {
		return "", "", false
	}
	return kind, name, true
}
