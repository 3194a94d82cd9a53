// Package logfile writes Zeek log batches to files the way Zeek's logger
// does: one active file per log path in a directory, rotated by time or
// size, in Zeek's ASCII (TSV) or JSON format.
//
// # Files
//
// The active file of path "conn" is <dir>/conn.log. It is created on the
// first batch for the path (lazily, also after a rotation). In the TSV
// format it starts with Zeek's header (package zeekascii) and, once
// closed, ends with a "#close" line; in the JSON format it holds one
// object per record (package jsonl, Zeek's bytes exactly) and nothing
// else.
//
// # Log paths
//
// A batch's path must be a plain log path, as Zeek's are (conn, dns,
// conn-summary, notice_alarm, my_log.x): at most MaxPathLen ASCII
// letters, digits, '_', '-' and '.', starting with a letter, a digit or
// '_', without an empty part between two dots, and not ending in what
// rotation appends to a path (a dot and 12 or more groups of digits joined
// by dashes, as in ".2026-11-22-04-00-00-2026-11-22-05-00-00-1"). So
// <path>.log stays in the directory and is never the name of a rotated
// file: no batch can write into an archive or move one aside. A batch
// with another path is rejected (ErrPath).
//
// At most Config.MaxPaths paths have an active file at once. A batch for
// another path is rejected (ErrTooManyPaths) until a path's slot frees: a
// path holds its slot from the creation of its active file until that
// file is rotated by time or closed (a rotation by size or schema starts
// the next file at once and keeps the slot). Without rotation by time the
// slots free only when the Writer is closed.
//
// # Descriptors
//
// An active file is a path's state (its fields, open time, size, records,
// rotation time) apart from its descriptor. At most Config.MaxOpenFiles
// active files have an open descriptor: to open another, the Writer
// closes the descriptor of the least recently written one (no #close
// line: the file is still active) and reopens that file for appending
// with its next batch, rotation or fsync. A file that vanished while
// closed (removed or renamed by someone else) is forgotten, and its next
// batch starts a new file. Besides these, a rotation or the handling of
// a leftover opens one more descriptor for a moment (the directory, or
// the leftover).
//
// # Rotation
//
// A file is closed and renamed to
//
//	<path>.<open>-<close>.log      e.g. conn.2026-11-22-04-00-00-2026-11-22-05-00-00.log
//
// where open and close are formatted "2006-01-02-15-04-05" in the
// location of the times Config.Now returns (local time by default, as
// Zeek's Log::default_rotation_date_format does with its local clock).
// Before the rename the file gets its #close line (TSV) and is fsynced;
// the directory is fsynced after it. Should the name exist already (two
// rotations within a second), "-1", "-2", … is added before ".log" rather
// than overwriting a file. A file is rotated:
//
//   - by interval (Config.RotateInterval): at local midnight plus a
//     multiple of the interval, as Zeek aligns rotation with its default
//     rotate_base_time of 0:00 (hourly rotation happens on the hour). The
//     close time in the name and in the #close line is that boundary,
//     even when the rotation happens later. The Writer has no
//     goroutine: a due rotation happens on the next Write for the path,
//     or when the caller calls RotateDue, which it should do periodically
//     so that quiet logs rotate on time;
//   - by size (Config.RotateSize): before a batch that would take a file
//     holding records, with its #close line, past the size. Batches are
//     never split, so a file exceeds the size only if its first batch
//     alone does;
//   - when the fields of a batch (names or types) differ from those of the
//     open file's header, so that every file has one schema;
//   - on Close, if rotation is configured (as Zeek rotates its logs when
//     it terminates); without rotation Close leaves <path>.log in place.
//
// An active file left behind by an earlier process (a crash, or a Close
// without rotation) is not overwritten: before a new <path>.log is
// created, the old one is renamed as a rotated file, its times taken from
// its #open and #close lines when it has them, else from its modification
// time. A partial last line is cut off first; an empty file is removed.
//
// # Durability
//
// Write renders every line of a batch into memory and checks it before
// touching any file, then hands the lines (with the header, for a new
// file) to the kernel in one write(2). Nothing is buffered in user space
// between batches, so a process killed with SIGKILL leaves complete lines:
// the kernel finishes the write(2) it is in, with one exception: Linux
// stops a write of several pages between two pages when the process gets a
// fatal signal, so a kill landing inside a large write can leave part of a
// batch. That partial last line is cut off when the file is found as a
// leftover (below). A failed write (a full disk) is cut back to the last
// complete batch at once. Flush fsyncs every active file written since
// its last fsync, its descriptor open or not (closing a descriptor to make
// room loses nothing: the lines are in the kernel already, and Flush
// reopens the file to fsync it); Close writes the #close lines, fsyncs
// and closes them.
//
// A batch whose records do not match its own fields is rejected as a
// whole: Write returns an error wrapping ErrMismatch that names the record
// and the field, and writes nothing of it. Other paths and later batches
// are not affected.
//
// The Writer is safe for concurrent use; calls are serialized.
package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zpipe/zpipe/core/codec/jsonl"
	"github.com/zpipe/zpipe/core/codec/zeekascii"
	"github.com/zpipe/zpipe/core/value"
)

// The formats of Config.Format.
const (
	FormatTSV  = "tsv"  // Zeek's ASCII writer (LogAscii::use_json = F)
	FormatJSON = "json" // Zeek's JSON lines (LogAscii::use_json = T)
)

// Errors of the Writer.
var (
	// ErrMismatch is wrapped by the error of a batch whose records do not
	// match its fields. It is zeekascii.ErrMismatch.
	ErrMismatch = zeekascii.ErrMismatch
	// ErrPath is wrapped by the error of a batch whose path is not a
	// plain log path (see the package doc).
	ErrPath = errors.New("not a plain log path")
	// ErrTooManyPaths is wrapped by the error of a batch for a new path
	// when Config.MaxPaths paths have active files.
	ErrTooManyPaths = errors.New("too many log paths")
	// ErrClosed is returned by calls after Close.
	ErrClosed = errors.New("logfile: writer is closed")
)

// Config configures a Writer.
type Config struct {
	// Dir is the directory of the log files; it is created if missing.
	Dir string
	// Format is FormatTSV (the default when empty) or FormatJSON.
	Format string
	// RotateInterval rotates files at local midnight plus multiples of
	// it; 0 disables rotation by time.
	RotateInterval time.Duration
	// RotateSize rotates a file before a batch would take it past this
	// many bytes; 0 disables rotation by size.
	RotateSize int64
	// Now returns the current time, which the #open and #close lines and
	// the rotated file names show in its location. Default: time.Now.
	Now func() time.Time
	// MaxOpenFiles is how many active files keep an open descriptor at
	// most; the least recently written is closed to make room and reopened
	// for its next batch. Default (0): DefaultMaxOpenFiles.
	MaxOpenFiles int
	// MaxPaths is how many paths have an active file at most; a batch for
	// another path is rejected (ErrTooManyPaths). Default (0):
	// DefaultMaxPaths.
	MaxPaths int
	// Logger receives opened, rotated and rejected events. Default:
	// discard.
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultMaxOpenFiles = 256
	DefaultMaxPaths     = 2000
)

// Stats counts what a Writer did.
type Stats struct {
	Batches         uint64 // batches written
	Records         uint64 // records written
	Bytes           uint64 // bytes written: lines, headers and #close lines
	BatchesRejected uint64 // batches refused: records not matching their fields, bad paths, too many paths
	FilesOpened     uint64 // active files created
	FilesReopened   uint64 // descriptors of active files reopened after they were closed to make room
	FilesRotated    uint64 // files renamed to their rotated names, leftovers included
	Errors          uint64 // failed writes, fsyncs, opens, closes and renames
	ActiveFiles     int    // active files (paths) now
	OpenFiles       int    // active files with an open descriptor now
}

// Writer writes log batches to files. Create it with New.
type Writer struct {
	mu     sync.Mutex
	dir    string
	json   bool
	every  time.Duration
	size   int64
	now    func() time.Time
	log    *slog.Logger
	files  map[string]*file
	lines  []byte // rendered lines of the current batch
	out    []byte // header and lines of a batch that opens a file
	stats  Stats
	closed bool

	fds      descriptors // the active files with an open descriptor
	maxPaths int         // bound of len(files)
}

// file is an active file.
type file struct {
	path     string        // log path, e.g. "conn"
	name     string        // file name, <dir>/<path>.log
	f        *os.File      // nil while closed to make room
	fields   []value.Field // the fields of the header
	open     time.Time
	rotateAt time.Time // zero without rotation by time
	size     int64
	records  uint64

	dirty      bool  // written since the last fsync
	prev, next *file // neighbours in Writer.fds while f is open
}

// New returns a Writer for cfg, creating cfg.Dir if needed.
func New(cfg Config) (*Writer, error) {
	w := &Writer{dir: cfg.Dir, every: cfg.RotateInterval, size: cfg.RotateSize, now: cfg.Now, log: cfg.Logger,
		files: make(map[string]*file), fds: descriptors{max: cfg.MaxOpenFiles}, maxPaths: cfg.MaxPaths}
	switch cfg.Format {
	case "", FormatTSV:
	case FormatJSON:
		w.json = true
	default:
		return nil, fmt.Errorf("logfile: unknown format %q (want %q or %q)", cfg.Format, FormatTSV, FormatJSON)
	}
	if cfg.Dir == "" {
		return nil, errors.New("logfile: no directory")
	}
	if cfg.RotateInterval < 0 || cfg.RotateSize < 0 {
		return nil, fmt.Errorf("logfile: negative rotation interval (%v) or size (%d)", cfg.RotateInterval, cfg.RotateSize)
	}
	if cfg.MaxOpenFiles < 0 || cfg.MaxPaths < 0 {
		return nil, fmt.Errorf("logfile: negative bound of open files (%d) or paths (%d)", cfg.MaxOpenFiles, cfg.MaxPaths)
	}
	if w.fds.max == 0 {
		w.fds.max = DefaultMaxOpenFiles
	}
	if w.maxPaths == 0 {
		w.maxPaths = DefaultMaxPaths
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o777); err != nil {
		return nil, fmt.Errorf("logfile: %w", err)
	}
	return w, nil
}

// Write appends the records of b to the active file of b.Path, opening or
// rotating it first as needed. A batch that does not match its fields,
// whose path is not a plain log path, or that would need an active file
// beyond Config.MaxPaths is rejected whole (the error wraps ErrMismatch,
// ErrPath or ErrTooManyPaths); an error also means nothing of the batch
// was written. A batch without records writes nothing.
func (w *Writer) Write(b *value.LogBatch) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	err := w.admit(b, len(b.Records))
	if err == nil {
		err = w.render(b)
	}
	if err != nil {
		return w.rejected(b, len(b.Records), err)
	}
	return w.put(b, len(b.Records), w.lines)
}

// WriteRendered is Write for a batch whose records are rendered already,
// by a codec that renders log batches into the Writer's format (Zeek's TSV
// or JSON lines, as Write would render them): b holds the batch's stream,
// path and fields (its records are not looked at), lines its records, one
// line each. It is rejected as Write rejects a batch: a path that is not a
// plain log path, no room for another path (ErrPath, ErrTooManyPaths), or
// records without fields (ErrMismatch).
func (w *Writer) WriteRendered(b *value.LogBatch, records int, lines []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	err := w.admit(b, records)
	if err == nil {
		err = checkFields(b, records)
	}
	if err != nil {
		return w.rejected(b, records, err)
	}
	return w.put(b, records, lines)
}

// rejected counts a batch of records rejected for err and returns err.
func (w *Writer) rejected(b *value.LogBatch, records int, err error) error {
	w.stats.BatchesRejected++
	w.log.Debug("logfile: batch rejected", "stream", b.Stream, "records", records, "error", err)
	return err
}

// put appends lines, the given number of records of b rendered, to the
// active file of b.Path, opening or rotating it first as needed.
func (w *Writer) put(b *value.LogBatch, records int, lines []byte) error {
	if records == 0 {
		return nil
	}
	now := w.now()
	f := w.files[b.Path]
	var err error
	if f != nil {
		if f, err = w.resume(f); err != nil {
			return fmt.Errorf("logfile: batch of %d records for %q not written: %w", records, b.Path, err)
		}
	}
	if f != nil {
		closeAt, reason := now, ""
		switch {
		case !sameFields(f.fields, b.Fields):
			reason = "fields changed"
		case !f.rotateAt.IsZero() && !now.Before(f.rotateAt):
			closeAt, reason = f.rotateAt, "interval"
		case w.size > 0 && f.records > 0 && f.size+int64(len(lines))+w.footerLen() > w.size:
			reason = "size"
		}
		if reason != "" {
			// A failed rotation closes the file all the same; the
			// next open moves what is left of it aside.
			if err := w.rotate(f, closeAt, reason); err != nil {
				w.log.Error("logfile: rotation failed", "path", f.path, "error", err)
			}
			f = nil
		}
	}
	out := lines
	if f == nil {
		if f, err = w.open(b, now); err != nil {
			return err
		}
		if !w.json {
			w.out = zeekascii.AppendHeader(w.out[:0], b, now)
			w.out = append(w.out, lines...)
			out = w.out
		}
	}
	if err := w.write(f, out); err != nil {
		if f.size == 0 {
			// Not even the header made it: drop the file, so that
			// the next batch starts a new one with its header.
			_ = w.release(f)
			_ = os.Remove(f.name)
			delete(w.files, f.path)
		}
		return fmt.Errorf("logfile: batch of %d records for %q not written: %w", records, b.Path, err)
	}
	f.records += uint64(records)
	w.stats.Batches++
	w.stats.Records += uint64(records)
	return nil
}

// closeLen is the length of a #close line.
const closeLen = int64(len("#close\t2006-01-02-15-04-05\n"))

// footerLen returns the length of what closing a file adds to it.
func (w *Writer) footerLen() int64 {
	if w.json {
		return 0
	}
	return closeLen
}

// checkFields reports a batch with records and no fields.
func checkFields(b *value.LogBatch, records int) error {
	if len(b.Fields) == 0 && records > 0 {
		return fmt.Errorf("logfile: batch for %q rejected: %w: %d records without fields", b.Path, ErrMismatch, records)
	}
	return nil
}

// render renders the records of b into w.lines.
func (w *Writer) render(b *value.LogBatch) error {
	if err := checkFields(b, len(b.Records)); err != nil {
		return err
	}
	var err error
	if !w.json {
		w.lines, err = zeekascii.AppendRecords(w.lines[:0], b)
	} else {
		w.lines = w.lines[:0]
		for i, rec := range b.Records {
			if err = zeekascii.CheckRecord(b.Fields, rec); err != nil {
				err = fmt.Errorf("record %d: %w", i, err)
				break
			}
			w.lines = jsonl.AppendRecord(w.lines, b.Fields, rec, jsonl.LogOptions{}, b.Path)
		}
	}
	if err != nil {
		return fmt.Errorf("logfile: batch of %d records for %q rejected: %w", len(b.Records), b.Path, err)
	}
	return nil
}

// sameFields reports whether two schemas have the same names and types.
func sameFields(a, b []value.Field) bool {
	return slices.EqualFunc(a, b, func(x, y value.Field) bool { return x.Name == y.Name && x.Type == y.Type })
}

// open creates the active file for b.Path, moving a leftover aside first.
// The header is not written: Write writes it with the first batch.
func (w *Writer) open(b *value.LogBatch, now time.Time) (*file, error) {
	name := filepath.Join(w.dir, b.Path+".log")
	if err := w.moveLeftover(b.Path, name, now.Location()); err != nil {
		return nil, err
	}
	w.makeRoom()
	fd, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o666)
	if err != nil {
		w.stats.Errors++
		return nil, fmt.Errorf("logfile: open: %w", err)
	}
	f := &file{path: b.Path, name: name, f: fd, fields: slices.Clone(b.Fields), open: now}
	if w.every > 0 {
		f.rotateAt = nextRotation(now, w.every)
	}
	w.files[b.Path] = f
	w.fds.pushFront(f)
	w.stats.FilesOpened++
	w.log.Debug("logfile: opened", "path", b.Path, "file", name)
	return f, nil
}

// nextRotation returns the first time after now that is local midnight
// (in now's location) plus a multiple of every.
func nextRotation(now time.Time, every time.Duration) time.Time {
	y, m, d := now.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, now.Location())
	return midnight.Add((now.Sub(midnight)/every + 1) * every)
}

// write appends out to f in one write(2). If the write fails part way, the
// file is cut back to its previous size so that no partial line remains.
func (w *Writer) write(f *file, out []byte) error {
	n, err := f.f.Write(out)
	if err != nil {
		w.stats.Errors++
		if n > 0 {
			if terr := f.f.Truncate(f.size); terr != nil {
				err = errors.Join(err, fmt.Errorf("cut back to %d bytes: %w", f.size, terr))
				f.size += int64(n)
				w.stats.Bytes += uint64(n)
			}
		}
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	f.size += int64(n)
	f.dirty = true
	w.stats.Bytes += uint64(n)
	return nil
}

// finish writes f's #close line (TSV), fsyncs and closes it; f is no
// longer active.
func (w *Writer) finish(f *file, closeAt time.Time) error {
	defer delete(w.files, f.path)
	if err := w.descriptor(f); err != nil {
		return err
	}
	var errs []error
	if !w.json {
		if err := w.write(f, zeekascii.AppendClose(nil, closeAt)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := w.sync(f); err != nil {
		errs = append(errs, err)
	}
	if err := w.release(f); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sync fsyncs f, which has a descriptor.
func (w *Writer) sync(f *file) error {
	if err := f.f.Sync(); err != nil {
		w.stats.Errors++
		return fmt.Errorf("fsync %s: %w", f.name, err)
	}
	f.dirty = false
	return nil
}

// rotate finishes f and renames it to its rotated name.
func (w *Writer) rotate(f *file, closeAt time.Time, reason string) error {
	err := w.finish(f, closeAt)
	target, rerr := w.rename(f.path, f.name, f.open, closeAt)
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	w.log.Info("logfile: rotated", "path", f.path, "file", target, "reason", reason, "records", f.records, "bytes", f.size)
	return err
}

// rename moves the file name to the first free rotated name of path for
// the open and close times, and fsyncs the directory.
func (w *Writer) rename(path, name string, open, closeAt time.Time) (string, error) {
	base := path + "." + open.Format(zeekascii.TimestampLayout) + "-" + closeAt.Format(zeekascii.TimestampLayout)
	target := filepath.Join(w.dir, base+".log")
	for n := 1; ; n++ {
		_, err := os.Lstat(target)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			w.stats.Errors++
			return "", fmt.Errorf("logfile: rotate: %w", err)
		}
		target = filepath.Join(w.dir, base+"-"+strconv.Itoa(n)+".log")
	}
	if err := os.Rename(name, target); err != nil {
		w.stats.Errors++
		return "", fmt.Errorf("logfile: rotate: %w", err)
	}
	w.stats.FilesRotated++
	if err := syncDir(w.dir); err != nil {
		w.stats.Errors++
		return target, fmt.Errorf("logfile: rotate: %w", err)
	}
	return target, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// moveLeftover renames an existing active file of path, left by an earlier
// process, as a rotated file; an empty one is removed.
func (w *Writer) moveLeftover(path, name string, loc *time.Location) error {
	st, err := os.Lstat(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		w.stats.Errors++
		return fmt.Errorf("logfile: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("logfile: %s exists and is not a regular file", name)
	}
	size, err := cutPartialLine(name, st.Size())
	if err != nil {
		w.stats.Errors++
		return fmt.Errorf("logfile: leftover: %w", err)
	}
	if size != st.Size() {
		w.log.Warn("logfile: cut a partial last line off a leftover log file", "path", path, "file", name, "bytes", st.Size()-size)
	}
	if size == 0 {
		if err := os.Remove(name); err != nil {
			w.stats.Errors++
			return fmt.Errorf("logfile: remove empty leftover: %w", err)
		}
		return nil
	}
	open, closeAt := leftoverTimes(name, size, st.ModTime().In(loc), loc)
	target, err := w.rename(path, name, open, closeAt)
	if err != nil {
		return err
	}
	w.log.Warn("logfile: moved leftover log file aside", "path", path, "file", target)
	return nil
}

// cutPartialLine truncates the file name of the given size after its last
// newline and returns the new size. A process killed during a write(2)
// of several pages can leave part of a batch: Linux checks for a fatal
// signal between the pages it copies.
func cutPartialLine(name string, size int64) (int64, error) {
	fd, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return size, err
	}
	defer fd.Close()
	buf := make([]byte, 4096)
	end := size
	for end > 0 {
		off := max(0, end-int64(len(buf)))
		n, err := fd.ReadAt(buf[:end-off], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return size, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = off + int64(i) + 1
			break
		}
		end = off
	}
	if end == size {
		return size, nil
	}
	if err := fd.Truncate(end); err != nil {
		return size, err
	}
	return end, fd.Sync()
}

// leftoverTimes returns the open and close times of a leftover file of
// the given size: those of its #open and #close lines if it has them, else
// its modification time.
func leftoverTimes(name string, size int64, mtime time.Time, loc *time.Location) (open, closeAt time.Time) {
	open, closeAt = mtime, mtime
	fd, err := os.Open(name)
	if err != nil {
		return open, closeAt
	}
	defer fd.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(fd, head)
	if t, ok := stampLine(head[:n], "\n#open\t", loc); ok {
		open = t
	}
	tail := make([]byte, 64)
	n, _ = fd.ReadAt(tail, max(0, size-int64(len(tail))))
	if t, ok := stampLine(tail[:n], "\n#close\t", loc); ok {
		closeAt = t
	}
	return open, closeAt
}

// stampLine finds the line starting with key (newline included) in b and
// parses its time.
func stampLine(b []byte, key string, loc *time.Location) (time.Time, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return time.Time{}, false
	}
	rest := b[i+len(key):]
	end := bytes.IndexByte(rest, '\n')
	if end < 0 {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(zeekascii.TimestampLayout, string(rest[:end]), loc)
	return t, err == nil
}

// RotateDue rotates every file whose rotation time has passed. Without a
// goroutine of its own the Writer rotates by time only when a batch
// arrives for the path; call RotateDue periodically (every second, say)
// so that quiet logs rotate on time too.
func (w *Writer) RotateDue() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	now := w.now()
	var errs []error
	for _, f := range w.sorted() {
		if !f.rotateAt.IsZero() && !now.Before(f.rotateAt) {
			if err := w.rotate(f, f.rotateAt, "interval"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// sorted returns the active files in path order.
func (w *Writer) sorted() []*file {
	files := make([]*file, 0, len(w.files))
	for _, f := range w.files {
		files = append(files, f)
	}
	slices.SortFunc(files, func(a, b *file) int { return strings.Compare(a.path, b.path) })
	return files
}

// Flush fsyncs every active file written since its last fsync, reopening
// those whose descriptors were closed to make room. (Write leaves nothing
// in user-space buffers, so there is nothing else to flush.)
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	var errs []error
	files := w.sorted()
	// The open ones first: reopening a closed one closes an open one,
	// which is clean by then.
	for _, open := range []bool{true, false} {
		for _, f := range files {
			if !f.dirty || (f.f != nil) != open {
				continue
			}
			err := w.descriptor(f)
			if err == nil {
				err = w.sync(f)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("logfile: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// Close writes the #close line of every active TSV file, fsyncs and closes
// every file, and, if rotation is configured, renames them to their
// rotated names. Later calls return ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	now := w.now()
	var errs []error
	for _, f := range w.sorted() {
		var err error
		if w.every > 0 || w.size > 0 {
			err = w.rotate(f, now, "close")
		} else {
			err = w.finish(f, now)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stats returns the counters.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.ActiveFiles, s.OpenFiles = len(w.files), w.fds.n
	return s
}
