package cload

// #include <stdlib.h>
// #include "cload.h"
import "C"

import (
	"errors"
	"fmt"
	"syscall"
	"time"
	"unsafe"
)

// The bounds of Publish and Receive.
const (
	// MinPayload is the smallest event payload the C loops accept.
	MinPayload = int(C.CLOAD_MIN_PAYLOAD)
	// MaxPayload is the largest payload Publish sends.
	MaxPayload = int(C.CLOAD_MAX_PAYLOAD)
	// MaxPublishers is the most publishers Receive tracks.
	MaxPublishers = int(C.CLOAD_MAX_PUBLISHERS)
)

// Publish sends Zeek-shaped 4-frame events (topic, id, "broker-bin-v1", a
// payload of payload bytes carrying a sequence number and index) from an
// XPUB socket: count of them, or if count is 0 as many as fit in d; then
// an end marker that tells Receive how many were sent. It returns how many
// were sent.
func (s *Socket) Publish(topic, id string, payload int, index int, count uint64, d time.Duration) (sent uint64, err error) {
	ct, cid := C.CString(topic), C.CString(id)
	defer C.free(unsafe.Pointer(ct))
	defer C.free(unsafe.Pointer(cid))
	var n C.uint64_t
	rc, err := C.cload_publish(s.p, ct, C.int(len(topic)), cid, C.int(len(id)), C.int(payload),
		C.uint32_t(index), C.uint64_t(count), C.int64_t(d.Nanoseconds()), &n)
	if rc != 0 {
		return uint64(n), fmt.Errorf("publish: %w", err)
	}
	return uint64(n), nil
}

// Receive reads Publish's events on an XSUB socket until the end markers
// of publishers publishers arrived, and returns how many events arrived
// and how many are missing from their sequences. An event out of order, a
// message that is not an event, or no frame within the receive timeout is
// an error.
func (s *Socket) Receive(publishers int) (received, lost uint64, err error) {
	var r, l C.uint64_t
	rc, errno := C.cload_receive(s.p, C.int(publishers), &r, &l)
	switch rc {
	case 0:
		return uint64(r), uint64(l), nil
	case -1:
		if errors.Is(errno, syscall.EAGAIN) {
			return uint64(r), uint64(l), fmt.Errorf("receive: no event within the timeout after %d events: broker stalled", r)
		}
		return uint64(r), uint64(l), fmt.Errorf("receive: %w", errno)
	case -2:
		return uint64(r), uint64(l), errors.New("receive: a message that is not a 4-frame benchmark event")
	default:
		return uint64(r), uint64(l), errors.New("receive: events out of order")
	}
}
