//go:build !linux

package logfile

import (
	"errors"
	"testing"
)

func fsizeChild(string) error { return errors.New("only on Linux") }

func TestFailedWrite(t *testing.T) { t.Skip("needs Linux's RLIMIT_FSIZE") }
