package logfile

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/core/value"
)

// Environment of the processes that TestCrash and TestFailedWrite start.
const (
	crashDirEnv    = "ZPIPE_LOGFILE_CRASH_DIR"
	crashFormatEnv = "ZPIPE_LOGFILE_CRASH_FORMAT"
	fsizeDirEnv    = "ZPIPE_LOGFILE_FSIZE_DIR"
)

// TestMain runs the writer process of TestCrash or TestFailedWrite when
// the test binary is started as one.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashWriter(dir, os.Getenv(crashFormatEnv))
		os.Exit(3) // not reached: the writer writes until killed
	}
	if dir := os.Getenv(fsizeDirEnv); dir != "" {
		if err := fsizeChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "fsize child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashWriter writes conn and test batches to dir, rotating by size, until
// the process is killed.
func crashWriter(dir, format string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash writer:", err)
		os.Exit(2)
	}
	w, err := New(Config{Dir: dir, Format: format, RotateSize: 256 << 10})
	if err != nil {
		fail(err)
	}
	var batches []*value.LogBatch
	for _, name := range []string{"zeek-log-conn-7rec.hex", "zeek-log-conn-1rec-a.hex", "zeek-log-test.hex", "zeek-log-conn-1rec-b.hex"} {
		b, err := loadBatch(name)
		if err != nil {
			fail(err)
		}
		batches = append(batches, b)
	}
	for i := 0; ; i++ {
		if err := w.Write(batches[i%len(batches)]); err != nil {
			fail(err)
		}
	}
}

// TestCrash starts a process that writes batches without end, kills it
// with SIGKILL, and reads the files it left: every line is complete and
// parseable, but for part of a batch at the end of an active file when the
// kill landed inside a write of several pages. A new Writer then cuts that
// part off, moves the files aside and carries on: every file is whole.
func TestCrash(t *testing.T) {
	vectorsDir(t) // the child finds the vectors the same way
	for _, format := range []string{FormatTSV, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashFormatEnv+"="+format)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Let it write about a megabyte, through a few rotations.
			deadline := time.Now().Add(20 * time.Second)
			for dirSize(t, dir) < 1<<20 {
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
					t.Fatalf("the writer process wrote %d bytes in 20 s; stderr: %s", dirSize(t, dir), stderr.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("writer process: %v; stderr: %s", err, stderr.String())
			}

			// Some rotated conn files, maybe an active one (it is
			// opened with the first batch after a rotation), test.log.
			names := listDir(t, dir)
			if !slices.Contains(names, "test.log") || len(names) < 4 {
				t.Fatalf("files %v", names)
			}
			before := map[string]int{}
			for _, name := range names {
				path, columns := "conn", 22
				if strings.HasPrefix(name, "test.") {
					path, columns = "test", 15
				}
				data := readFile(t, filepath.Join(dir, name))
				if name == path+".log" {
					// The kill may have stopped a write of several
					// pages between two (see Durability): the active
					// file may end in part of a batch, which the next
					// Writer cuts off. Rotated files are whole.
					if cut := bytes.LastIndexByte(data, '\n') + 1; cut < len(data) {
						t.Logf("%s: the kill landed inside a write; %d bytes of a partial line", name, len(data)-cut)
						data = data[:cut]
					}
				}
				before[path] += checkComplete(t, name, data, format, columns)
				if format == FormatTSV && name != path+".log" {
					checkTSV(t, name, data) // rotated files are closed
				}
			}

			// A new Writer moves the leftovers aside and starts new files.
			w := mustNew(t, Config{Dir: dir, Format: format})
			mustWrite(t, w, batch(t, "zeek-log-conn-1rec-a.hex"))
			mustWrite(t, w, batch(t, "zeek-log-test.hex"))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			after := map[string]int{}
			for _, name := range listDir(t, dir) {
				path, columns := "conn", 22
				if strings.HasPrefix(name, "test.") {
					path, columns = "test", 15
				}
				data := readFile(t, filepath.Join(dir, name))
				after[path] += checkComplete(t, name, data, format, columns)
				if name == path+".log" && checkComplete(t, name, data, format, columns) != map[string]int{"conn": 1, "test": 2}[path] {
					t.Errorf("%s: not a new file:\n%s", name, data)
				}
			}
			if after["conn"] != before["conn"]+1 || after["test"] != before["test"]+2 {
				t.Errorf("records before %v, after %v", before, after)
			}
		})
	}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			n += info.Size()
		}
	}
	return n
}

// TestPartialLeftover finds a leftover file ending in a partial line, as a
// write(2) stopped by SIGKILL between two pages leaves it: the partial
// line is cut off before the file is moved aside.
func TestPartialLeftover(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(t0)
	w := mustNew(t, Config{Dir: dir, Now: clk.Now})
	mustWrite(t, w, batch(t, "zeek-log-test.hex"))
	complete := readFile(t, filepath.Join(dir, "test.log"))
	// Simulate the crash: a torn batch after the complete one.
	torn := append(slices.Clone(complete), bytes.Repeat([]byte("1700000002.000000\tworker-1\tx"), 200)...)
	if err := os.WriteFile(filepath.Join(dir, "test.log"), torn, 0o666); err != nil {
		t.Fatal(err)
	}
	// A leftover of nothing but a partial line disappears.
	if err := os.WriteFile(filepath.Join(dir, "dns.log"), []byte("#separator \\x0"), 0o666); err != nil {
		t.Fatal(err)
	}
	mtime := t0.Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "test.log"), mtime, mtime); err != nil {
		t.Fatal(err)
	}

	w2 := mustNew(t, Config{Dir: dir, Now: clk.Now})
	mustWrite(t, w2, batch(t, "zeek-log-test.hex"))
	mustWrite(t, w2, batch(t, "zeek-log-dns-8rec.hex"))
	aside := rotatedName("test", t0, mtime)
	if got, want := listDir(t, dir), []string{"dns.log", aside, "test.log"}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if got := readFile(t, filepath.Join(dir, aside)); !bytes.Equal(got, complete) {
		t.Errorf("leftover after the cut:\n%q\nwant\n%q", got, complete)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	if n := checkComplete(t, "dns.log", readFile(t, filepath.Join(dir, "dns.log")), FormatTSV, 26); n != 8 {
		t.Errorf("dns.log: %d records", n)
	}
	_ = w // the first Writer "crashed": never closed
}
