package plugin

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
}

func TestSearchDirs(t *testing.T) {
	t.Parallel()
	sep := string(os.PathListSeparator)
	cases := []struct {
		flag, env, exe string
		want           []string
	}{
		{"", "", "", nil},
		{"/flag", "/env", "/exe", []string{"/flag", "/env", "/exe"}},
		{"", "/env1" + sep + "/env2", "/exe", []string{"/env1", "/env2", "/exe"}},
		{"/same/", "/same", "/exe/../exe", []string{"/same", "/exe"}},
		{"", "", "/exe", []string{"/exe"}},
	}
	for _, c := range cases {
		if got := SearchDirs(c.flag, c.env, c.exe); !reflect.DeepEqual(got, c.want) {
			t.Errorf("SearchDirs(%q, %q, %q) = %q, want %q", c.flag, c.env, c.exe, got, c.want)
		}
	}
}

func TestFind(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	a, b, c := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")
	writeFile(t, filepath.Join(b, "zpipe-transport-cgo"), 0o755)
	writeFile(t, filepath.Join(c, "zpipe-transport-cgo"), 0o755)
	writeFile(t, filepath.Join(a, "zpipe-transport-purego"), 0o644) // not executable
	if err := os.MkdirAll(filepath.Join(b, "zpipe-codec-json"), 0o755); err != nil {
		t.Fatal(err)
	}

	got, err := Find("transport", "cgo", []string{a, b, c})
	if err != nil || got != filepath.Join(b, "zpipe-transport-cgo") {
		t.Fatalf("Find cgo = %q, %v; want the one in %s", got, err, b)
	}

	_, err = Find("transport", "zmq", []string{a, b})
	want := `transport plugin "zmq" not found: looked for zpipe-transport-zmq in ` + a + ", " + b
	if err == nil || err.Error() != want {
		t.Fatalf("Find zmq error = %v, want %q", err, want)
	}

	_, err = Find("transport", "purego", []string{a, b})
	if err == nil || !strings.Contains(err.Error(), "looked for zpipe-transport-purego in "+a+", "+b) ||
		!strings.Contains(err.Error(), filepath.Join(a, "zpipe-transport-purego")+" is not executable") {
		t.Fatalf("Find purego error = %v", err)
	}

	_, err = Find("codec", "json", []string{b})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Find of a directory: %v", err)
	}

	for _, bad := range [][2]string{{"transport", ""}, {"", "cgo"}, {"transport", "../cgo"}, {"trans/port", "cgo"}} {
		if _, err := Find(bad[0], bad[1], []string{b}); err == nil {
			t.Errorf("Find(%q, %q) accepted a bad name", bad[0], bad[1])
		}
	}
	if _, err := Find("transport", "cgo", nil); err == nil || !strings.Contains(err.Error(), "no plugin directories") {
		t.Fatalf("Find without dirs: %v", err)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	writeFile(t, filepath.Join(a, "zpipe-transport-cgo"), 0o755)
	writeFile(t, filepath.Join(a, "zpipe-codec-json"), 0o755)
	writeFile(t, filepath.Join(a, "zpipe-codec-msg-pack"), 0o755)
	writeFile(t, filepath.Join(a, "zpipe-transport-off"), 0o644) // not executable
	writeFile(t, filepath.Join(a, "zpipe"), 0o755)               // the core itself
	writeFile(t, filepath.Join(a, "zpipe-nokind"), 0o755)
	writeFile(t, filepath.Join(a, "other-tool"), 0o755)
	writeFile(t, filepath.Join(b, "zpipe-transport-cgo"), 0o755)
	writeFile(t, filepath.Join(b, "zpipe-transport-purego"), 0o755)

	got, err := List([]string{a, filepath.Join(root, "missing"), b})
	if err != nil {
		t.Fatal(err)
	}
	want := []Found{
		{Kind: "codec", Name: "json", Path: filepath.Join(a, "zpipe-codec-json")},
		{Kind: "codec", Name: "msg-pack", Path: filepath.Join(a, "zpipe-codec-msg-pack")},
		{Kind: "transport", Name: "cgo", Path: filepath.Join(a, "zpipe-transport-cgo")},
		{Kind: "transport", Name: "cgo", Path: filepath.Join(b, "zpipe-transport-cgo"), Shadowed: true},
		{Kind: "transport", Name: "purego", Path: filepath.Join(b, "zpipe-transport-purego")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List =\n%+v\nwant\n%+v", got, want)
	}

	// A directory that cannot be read is reported; the rest is still listed.
	got, err = List([]string{filepath.Join(a, "zpipe-transport-cgo"), b})
	if err == nil || len(got) != 2 {
		t.Fatalf("List with a file as dir = %+v, %v", got, err)
	}
}

func TestSearchDirsDropsTheSameDirectoryTwice(t *testing.T) {
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	dirs := SearchDirs("testdata", "", abs)
	if len(dirs) != 1 || dirs[0] != "testdata" {
		t.Fatalf("relative and absolute forms of one directory should be searched once, have %q", dirs)
	}
}
