package puresock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"
)

// ZMTP 3 frame flags.
const (
	flagMore    = 0x01
	flagLong    = 0x02
	flagCommand = 0x04
)

// ZMTP commands read or written after the handshake.
const (
	cmdSubscribe = "SUBSCRIBE"
	cmdCancel    = "CANCEL"
	cmdPing      = "PING"
	cmdPong      = "PONG"
	cmdError     = "ERROR"
)

// Wire limits and buffer sizes.
const (
	// MaxFrameSize is the largest frame accepted from a peer: frame sizes
	// travel as uint32 in zpipe's batches.
	MaxFrameSize = 1<<32 - 1
	// readBufferSize is the buffer each connection reads through; whole
	// messages found in it are copied out with one allocation.
	readBufferSize = 64 << 10
	// writeBufferSize is the batch of encoded frames written at once.
	writeBufferSize = 64 << 10
	// directFrameSize is the frame size from which a frame is written from
	// its own memory (writev) rather than copied into the write buffer.
	directFrameSize = 16 << 10
)

// errProtocol marks a peer that broke the ZMTP framing rules.
var errProtocol = errors.New("ZMTP protocol error")

// handshake runs the ZMTP 3.0 greeting, the NULL security handshake and
// the metadata exchange over nc with go-zeromq's connection layer, which
// also refuses peers of an incompatible socket type. It returns the
// peer's socket type. Afterwards nc carries plain ZMTP frames.
func handshake(nc net.Conn, typ Type, timeout time.Duration) (zmq4.SocketType, error) {
	if timeout > 0 {
		if err := nc.SetDeadline(time.Now().Add(timeout)); err != nil {
			return "", fmt.Errorf("set handshake deadline: %w", err)
		}
	}
	zc, err := zmq4.Open(&signatureConn{Conn: nc}, null.Security(), typ.zmtp(), nil, false, nil)
	if err != nil {
		return "", err
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return "", fmt.Errorf("clear handshake deadline: %w", err)
	}
	return zmq4.SocketType(zc.Peer.Meta["Socket-Type"]), nil
}

// signatureConn checks the first bytes read from a connection against
// ZMTP 3's signature (0xFF, 8 bytes, then 0x7F or any odd byte), so that a
// peer that does not speak ZMTP is refused as soon as it sends something,
// not after the handshake timeout.
type signatureConn struct {
	net.Conn
	n int // signature bytes seen
}

func (c *signatureConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for _, b := range p[:n] {
		if c.n >= 10 {
			break
		}
		if c.n == 0 && b != 0xff || c.n == 9 && b&0x01 == 0 {
			return 0, fmt.Errorf("%w: not a ZMTP 3 greeting (it starts %q)", errProtocol, p[:min(n, 10)])
		}
		c.n++
	}
	return n, err
}

// command is a ZMTP command frame received after the handshake.
type command struct {
	name string
	body []byte
}

// frameReader reads ZMTP frames through a buffer. Messages that are in the
// buffer entirely are copied out with one allocation for all their bytes;
// a larger one is read frame by frame, each into memory of its announced
// size. Every frame header is checked against the message limits before
// anything is allocated for it.
type frameReader struct {
	rd   io.Reader
	buf  []byte
	r, w int
	// maxBytes and maxFrames bound one message (or command); 0 means no
	// bound.
	maxBytes  uint64
	maxFrames int
	// size is the payload bytes of the last message next returned.
	size int
}

func newFrameReader(rd io.Reader, maxBytes int64, maxFrames int) *frameReader {
	return &frameReader{rd: rd, buf: make([]byte, readBufferSize), maxBytes: uint64(max(maxBytes, 0)), maxFrames: maxFrames}
}

// errOversize marks a message over the reader's limits.
var errOversize = errors.New("message over the size limits")

// checkFrame reports whether a frame of size bytes may follow frames
// frames holding total bytes in one message.
func (fr *frameReader) checkFrame(frames int, total, size uint64) error {
	if fr.maxFrames > 0 && frames >= fr.maxFrames {
		return fmt.Errorf("%w: more than %d frames", errOversize, fr.maxFrames)
	}
	if fr.maxBytes > 0 && size > fr.maxBytes-total {
		return fmt.Errorf("%w: frame %d of %d bytes after %d bytes; the limit is %d bytes", errOversize, frames+1, size, total, fr.maxBytes)
	}
	return nil
}

// buffered reports whether bytes of a next frame are already in memory.
func (fr *frameReader) buffered() bool { return fr.w > fr.r }

// fill reads more bytes into the buffer, moving what is left to its start.
func (fr *frameReader) fill() error {
	if fr.r > 0 {
		fr.w = copy(fr.buf, fr.buf[fr.r:fr.w])
		fr.r = 0
	}
	if fr.w == len(fr.buf) {
		return fmt.Errorf("read buffer full")
	}
	for {
		n, err := fr.rd.Read(fr.buf[fr.w:])
		fr.w += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// parseHeader parses the frame header at the start of b: it returns the
// header length (0 when b holds only part of it), the flags and the body
// size.
func parseHeader(b []byte) (hlen int, flags byte, size uint64, err error) {
	if len(b) < 2 {
		return 0, 0, 0, nil
	}
	flags = b[0]
	if flags&^(flagMore|flagLong|flagCommand) != 0 {
		return 0, 0, 0, fmt.Errorf("%w: reserved frame flags %#02x", errProtocol, flags)
	}
	if flags&flagCommand != 0 && flags&flagMore != 0 {
		return 0, 0, 0, fmt.Errorf("%w: command frame with the MORE flag", errProtocol)
	}
	if flags&flagLong == 0 {
		return 2, flags, uint64(b[1]), nil
	}
	if len(b) < 9 {
		return 0, 0, 0, nil
	}
	size = binary.BigEndian.Uint64(b[1:9])
	if size > MaxFrameSize {
		return 0, 0, 0, fmt.Errorf("%w: frame of %d bytes, the limit is %d", errProtocol, size, uint64(MaxFrameSize))
	}
	return 9, flags, size, nil
}

// next reads one message, or one command (msg is nil then).
func (fr *frameReader) next() (msg [][]byte, cmd *command, err error) {
	for {
		frames, total, done, big, err := fr.scan()
		if err != nil {
			return nil, nil, err
		}
		if done {
			return fr.take(frames, total)
		}
		if big {
			return fr.readLarge()
		}
		if err := fr.fill(); err != nil {
			return nil, nil, err
		}
	}
}

// scan walks the frame headers in the buffer. done reports a complete
// message (frames frames, total body bytes) in the buffer; big reports one
// too large to ever fit in it.
func (fr *frameReader) scan() (frames int, total uint64, done, big bool, err error) {
	pos := fr.r
	for {
		hlen, flags, size, err := parseHeader(fr.buf[pos:fr.w])
		if err != nil {
			return 0, 0, false, false, err
		}
		if hlen == 0 {
			// An incomplete header: big when even a long one would not fit.
			return 0, 0, false, pos-fr.r+9 > len(fr.buf), nil
		}
		if flags&flagCommand != 0 && frames > 0 {
			return 0, 0, false, false, fmt.Errorf("%w: command frame inside a message", errProtocol)
		}
		if err := fr.checkFrame(frames, total, size); err != nil {
			return 0, 0, false, false, err
		}
		end := uint64(pos-fr.r) + uint64(hlen) + size
		if end > uint64(len(fr.buf)) {
			return 0, 0, false, true, nil
		}
		if uint64(fr.r)+end > uint64(fr.w) {
			return 0, 0, false, false, nil
		}
		frames++
		total += size
		pos = fr.r + int(end)
		if flags&flagMore == 0 {
			return frames, total, true, false, nil
		}
	}
}

// take copies the complete message at the buffer's read position out.
func (fr *frameReader) take(n int, total uint64) ([][]byte, *command, error) {
	fr.size = int(total)
	data := make([]byte, total)
	msg := make([][]byte, n)
	off := 0
	for i := range n {
		hlen, flags, size, _ := parseHeader(fr.buf[fr.r:fr.w])
		body := fr.buf[fr.r+hlen : fr.r+hlen+int(size)]
		fr.r += hlen + int(size)
		if flags&flagCommand != 0 {
			cmd, err := parseCommand(data[:copy(data, body)])
			return nil, cmd, err
		}
		msg[i] = data[off : off+copy(data[off:], body) : off+int(size)]
		off += int(size)
	}
	return msg, nil, nil
}

// readLarge reads a message too large for the buffer, one frame at a time.
func (fr *frameReader) readLarge() ([][]byte, *command, error) {
	var msg [][]byte
	var total uint64
	for {
		var hlen int
		var flags byte
		var size uint64
		for {
			var err error
			if hlen, flags, size, err = parseHeader(fr.buf[fr.r:fr.w]); err != nil {
				return nil, nil, err
			}
			if hlen > 0 {
				break
			}
			if err := fr.fill(); err != nil {
				return nil, nil, err
			}
		}
		if flags&flagCommand != 0 && len(msg) > 0 {
			return nil, nil, fmt.Errorf("%w: command frame inside a message", errProtocol)
		}
		if err := fr.checkFrame(len(msg), total, size); err != nil {
			return nil, nil, err
		}
		fr.r += hlen
		body, err := fr.readBody(size)
		if err != nil {
			return nil, nil, err
		}
		if flags&flagCommand != 0 {
			cmd, err := parseCommand(body)
			return nil, cmd, err
		}
		msg = append(msg, body)
		total += size
		if flags&flagMore == 0 {
			fr.size = int(total)
			return msg, nil, nil
		}
	}
}

// readBody reads a frame body of size bytes into memory of that size:
// what the buffer holds, then the rest straight from the connection.
func (fr *frameReader) readBody(size uint64) ([]byte, error) {
	body := make([]byte, size)
	n := copy(body, fr.buf[fr.r:fr.w])
	fr.r += n
	if n < len(body) {
		if _, err := io.ReadFull(fr.rd, body[n:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return body, nil
}

// parseCommand splits a command frame body into name and data.
func parseCommand(b []byte) (*command, error) {
	if len(b) == 0 || int(b[0]) > len(b)-1 {
		return nil, fmt.Errorf("%w: malformed command frame", errProtocol)
	}
	n := int(b[0])
	return &command{name: string(b[1 : 1+n]), body: b[1+n:]}, nil
}

// frameWriter encodes ZMTP frames into a buffer and writes it out in
// large pieces; frames of directFrameSize bytes and more are written from
// their own memory.
type frameWriter struct {
	w   io.Writer
	buf []byte
}

func newFrameWriter(w io.Writer) *frameWriter {
	return &frameWriter{w: w, buf: make([]byte, 0, writeBufferSize)}
}

func (fw *frameWriter) header(flags byte, size int) {
	if size <= 255 {
		fw.buf = append(fw.buf, flags, byte(size))
		return
	}
	fw.buf = append(fw.buf, flags|flagLong)
	fw.buf = binary.BigEndian.AppendUint64(fw.buf, uint64(size))
}

// writeMsg encodes one message; it writes to the connection when the
// buffer is full.
func (fw *frameWriter) writeMsg(frames [][]byte) error {
	for i, f := range frames {
		var flags byte
		if i < len(frames)-1 {
			flags = flagMore
		}
		fw.header(flags, len(f))
		if len(f) >= directFrameSize {
			bufs := net.Buffers{fw.buf, f}
			if _, err := bufs.WriteTo(fw.w); err != nil {
				return err
			}
			fw.buf = fw.buf[:0]
			continue
		}
		fw.buf = append(fw.buf, f...)
	}
	if len(fw.buf) >= writeBufferSize {
		return fw.flush()
	}
	return nil
}

// writeCommand encodes one command frame.
func (fw *frameWriter) writeCommand(name string, body []byte) error {
	fw.header(flagCommand, 1+len(name)+len(body))
	fw.buf = append(fw.buf, byte(len(name)))
	fw.buf = append(fw.buf, name...)
	fw.buf = append(fw.buf, body...)
	return nil
}

// flush writes everything buffered.
func (fw *frameWriter) flush() error {
	if len(fw.buf) == 0 {
		return nil
	}
	_, err := fw.w.Write(fw.buf)
	fw.buf = fw.buf[:0]
	return err
}
