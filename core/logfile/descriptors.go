package logfile

import (
	"errors"
	"fmt"
	"os"
)

// descriptors lists the active files that have an open descriptor, most
// recently written first, so that the least recently written one can be
// closed to make room.
type descriptors struct {
	max        int
	n          int
	head, tail *file
}

func (d *descriptors) pushFront(f *file) {
	f.prev, f.next = nil, d.head
	if d.head != nil {
		d.head.prev = f
	} else {
		d.tail = f
	}
	d.head = f
	d.n++
}

func (d *descriptors) remove(f *file) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		d.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		d.tail = f.prev
	}
	f.prev, f.next = nil, nil
	d.n--
}

// touch makes f, which has a descriptor, the most recently written.
func (d *descriptors) touch(f *file) {
	if d.head != f {
		d.remove(f)
		d.pushFront(f)
	}
}

// makeRoom closes the descriptors of the least recently written files
// until one more can be opened within the bound. Their files stay active.
func (w *Writer) makeRoom() {
	for w.fds.n >= w.fds.max && w.fds.tail != nil {
		f := w.fds.tail
		if err := w.release(f); err != nil {
			w.log.Error("logfile: closing an idle file failed", "path", f.path, "error", err)
		}
	}
}

// release closes f's descriptor, if it has one; the file stays active
// (no #close line) until it is finished.
func (w *Writer) release(f *file) error {
	if f.f == nil {
		return nil
	}
	w.fds.remove(f)
	err := f.f.Close()
	f.f = nil
	if err != nil {
		w.stats.Errors++
		return fmt.Errorf("close %s: %w", f.name, err)
	}
	return nil
}

// descriptor gives f an open descriptor: it makes f the most recently
// written if it has one, else reopens its file for appending, closing the
// least recently written file if at the bound. The size is taken from the
// file, as the next write appends there.
func (w *Writer) descriptor(f *file) error {
	if f.f != nil {
		w.fds.touch(f)
		return nil
	}
	w.makeRoom()
	fd, err := os.OpenFile(f.name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		w.stats.Errors++
		return fmt.Errorf("reopen: %w", err)
	}
	st, err := fd.Stat()
	if err != nil {
		_ = fd.Close()
		w.stats.Errors++
		return fmt.Errorf("reopen: %w", err)
	}
	f.f, f.size = fd, st.Size()
	w.fds.pushFront(f)
	w.stats.FilesReopened++
	return nil
}

// resume gives f a descriptor for the next batch. Should f's file have
// vanished while its descriptor was closed (removed or renamed by someone
// else), f is forgotten and resume returns nil: the batch starts a new
// file, with its header.
func (w *Writer) resume(f *file) (*file, error) {
	err := w.descriptor(f)
	if errors.Is(err, os.ErrNotExist) {
		w.log.Warn("logfile: active file vanished while closed; starting a new one", "path", f.path, "file", f.name)
		delete(w.files, f.path)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}
