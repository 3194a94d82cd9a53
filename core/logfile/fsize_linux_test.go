package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fsizeLimit is the file size limit (RLIMIT_FSIZE) of the fsizeChild
// process.
const fsizeLimit = 20000

// fsizeChild runs in a process of its own (TestFailedWrite): with a file
// size limit, writes to conn.log fail part way (a short write, then
// EFBIG). Every failed batch must be cut back, leaving the file as it was
// after the last batch that was written.
func fsizeChild(dir string) error {
	lim := syscall.Rlimit{Cur: fsizeLimit, Max: fsizeLimit}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		return err
	}
	b, err := loadBatch("zeek-log-conn-7rec.hex")
	if err != nil {
		return err
	}
	w, err := New(Config{Dir: dir})
	if err != nil {
		return err
	}
	name := filepath.Join(dir, "conn.log")
	var good []byte
	failed := 0
	for range 30 {
		err := w.Write(b)
		data, rerr := os.ReadFile(name)
		if rerr != nil {
			return rerr
		}
		if err == nil {
			good = data
			continue
		}
		if !errors.Is(err, syscall.EFBIG) {
			return fmt.Errorf("write: %w", err)
		}
		failed++
		if !bytes.Equal(data, good) {
			return fmt.Errorf("after a failed write conn.log holds %d bytes, want the %d written before", len(data), len(good))
		}
	}
	if failed == 0 || len(good) == 0 {
		return fmt.Errorf("%d failed writes, %d bytes written", failed, len(good))
	}
	// Other paths are not affected.
	t, err := loadBatch("zeek-log-test.hex")
	if err != nil {
		return err
	}
	if err := w.Write(t); err != nil {
		return err
	}
	if s := w.Stats(); s.Errors != uint64(failed) || s.Batches == 0 {
		return fmt.Errorf("stats %+v", s)
	}
	fmt.Println("fsize child ok:", failed, "failed writes")
	return nil
}

// TestFailedWrite runs fsizeChild in a process of its own, as the file
// size limit applies to the whole process.
func TestFailedWrite(t *testing.T) {
	vectorsDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fsizeDirEnv+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "fsize child ok") {
		t.Fatalf("%v: %s", err, out)
	}
}
