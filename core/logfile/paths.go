package logfile

import (
	"fmt"
	"strings"

	"github.com/zpipe/zpipe/core/value"
)

// MaxPathLen is the length of the longest log path a Writer accepts.
const MaxPathLen = 100

// admit checks that a batch of records may be written: its path is a
// plain log path and has an active file, or there is room for one more.
func (w *Writer) admit(b *value.LogBatch, records int) error {
	if err := checkPath(b.Path); err != nil {
		return fmt.Errorf("logfile: batch of %.64q rejected: %w", b.Stream, err)
	}
	if records > 0 && len(w.files) >= w.maxPaths && w.files[b.Path] == nil {
		return fmt.Errorf("logfile: batch for %q rejected: %w (%d)", b.Path, ErrTooManyPaths, w.maxPaths)
	}
	return nil
}

// checkPath reports whether path is a plain log path: at most MaxPathLen
// ASCII letters, digits, '_', '-' and '.', starting with a letter, digit
// or '_', with no empty part between dots, and not ending in the suffix
// of a rotated file's name, so that <path>.log is never the name of a
// rotated file nor outside the directory.
func checkPath(path string) error {
	if path == "" {
		return fmt.Errorf("%w: empty", ErrPath)
	}
	if len(path) > MaxPathLen {
		return fmt.Errorf("%w: %q… is longer than %d bytes", ErrPath, path[:MaxPathLen], MaxPathLen)
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
		case i == 0 && (c == '-' || c == '.'):
			return fmt.Errorf("%w: %q starts with %q", ErrPath, path, c)
		case c == '-':
		case c == '.':
			if i == len(path)-1 || path[i+1] == '.' {
				return fmt.Errorf("%w: %q has an empty part between dots", ErrPath, path)
			}
		default:
			return fmt.Errorf("%w: %q holds %q", ErrPath, path, c)
		}
	}
	if archiveLike(path) {
		return fmt.Errorf("%w: %q ends like the name of a rotated file", ErrPath, path)
	}
	return nil
}

// archiveLike reports whether path ends in what rotation appends to a
// path: a dot and 12 or more groups of digits joined by dashes, the open
// and close times (".2026-11-22-04-00-00-2026-11-22-05-00-00"), maybe
// with a number after them ("-1").
func archiveLike(path string) bool {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return false
	}
	groups, digits := 1, false
	for _, c := range []byte(path[i+1:]) {
		switch {
		case '0' <= c && c <= '9':
			digits = true
		case c == '-' && digits:
			groups, digits = groups+1, false
		default:
			return false
		}
	}
	return digits && groups >= 12
}
