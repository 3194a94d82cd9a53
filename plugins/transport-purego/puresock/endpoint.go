package puresock

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// endpoint is a parsed tcp:// or ipc:// address.
type endpoint struct {
	raw     string
	network string // tcp, tcp4, tcp6 or unix
	addr    string // host:port or a path
	// tempIPC marks ipc://*: bind to a fresh path in a new temporary
	// directory.
	tempIPC bool
}

// maxIPCPath is the longest path of a Unix domain socket.
const maxIPCPath = 107

// parseEndpoint reads an endpoint the way libzmq does. A wildcard host
// (tcp://*:port) and a wildcard port (* or 0) are valid for bind only.
func parseEndpoint(ep string, bind, ipv6 bool) (endpoint, error) {
	scheme, rest, ok := strings.Cut(ep, "://")
	if !ok {
		return endpoint{}, fmt.Errorf("endpoint %q: missing transport; want tcp://host:port or ipc://path", ep)
	}
	switch scheme {
	case "tcp":
		return parseTCP(ep, rest, bind, ipv6)
	case "ipc":
		switch {
		case rest == "":
			return endpoint{}, fmt.Errorf("endpoint %q: empty ipc path", ep)
		case rest == "*" && !bind:
			return endpoint{}, fmt.Errorf("endpoint %q: ipc://* is only valid for bind", ep)
		case rest == "*":
			return endpoint{raw: ep, network: "unix", tempIPC: true}, nil
		case len(rest) > maxIPCPath:
			// sockaddr_un.sun_path holds 108 bytes including the final NUL.
			return endpoint{}, fmt.Errorf("endpoint %q: ipc path is %d bytes long, the limit is %d", ep, len(rest), maxIPCPath)
		}
		return endpoint{raw: ep, network: "unix", addr: rest}, nil
	}
	return endpoint{}, fmt.Errorf("endpoint %q: unsupported transport %q; want tcp or ipc", ep, scheme)
}

func parseTCP(ep, hostport string, bind, ipv6 bool) (endpoint, error) {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return endpoint{}, fmt.Errorf("endpoint %q: missing port", ep)
	}
	host, port := hostport[:i], hostport[i+1:]
	if port == "*" {
		port = "0"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return endpoint{}, fmt.Errorf("endpoint %q: invalid port %q", ep, hostport[i+1:])
	} else if n == 0 && !bind {
		return endpoint{}, fmt.Errorf("endpoint %q: a wildcard port is only valid for bind", ep)
	}
	family := "tcp4"
	if ipv6 {
		family = "tcp"
	}
	switch {
	case host == "":
		return endpoint{}, fmt.Errorf("endpoint %q: missing host", ep)
	case host == "*":
		if !bind {
			return endpoint{}, fmt.Errorf("endpoint %q: host * is only valid for bind", ep)
		}
		if ipv6 {
			return endpoint{raw: ep, network: "tcp", addr: ":" + port}, nil
		}
		return endpoint{raw: ep, network: "tcp4", addr: "0.0.0.0:" + port}, nil
	case strings.HasPrefix(host, "["):
		if !strings.HasSuffix(host, "]") {
			return endpoint{}, fmt.Errorf("endpoint %q: unclosed bracket in host %q", ep, host)
		}
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() {
			return endpoint{}, fmt.Errorf("endpoint %q: invalid IPv6 address %q", ep, host)
		}
		if !ipv6 {
			return endpoint{}, fmt.Errorf("endpoint %q: IPv6 address %s needs the IPv6 option", ep, host)
		}
		return endpoint{raw: ep, network: "tcp6", addr: net.JoinHostPort(a.String(), port)}, nil
	case strings.Contains(host, ":"):
		return endpoint{}, fmt.Errorf("endpoint %q: IPv6 address %q must be in brackets: tcp://[addr]:port", ep, host)
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		family = "tcp4"
	} else if strings.Trim(host, "0123456789.") == "" {
		// All digits and dots: meant as an IPv4 address, not a name to
		// resolve (999.1.1.1 would otherwise fail to resolve for ever).
		return endpoint{}, fmt.Errorf("endpoint %q: invalid IPv4 address %q", ep, host)
	} else {
		for _, r := range host {
			if !(r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return endpoint{}, fmt.Errorf("endpoint %q: invalid host %q", ep, host)
			}
		}
	}
	return endpoint{raw: ep, network: family, addr: net.JoinHostPort(host, port)}, nil
}

// String returns the endpoint in ZeroMQ syntax.
func (e endpoint) String() string { return e.raw }

// bufferControl returns a Control function that sets the kernel buffer
// sizes of a socket before it connects or listens.
func bufferControl(sndbuf, rcvbuf int) func(network, address string, c syscall.RawConn) error {
	if sndbuf < 0 && rcvbuf < 0 {
		return nil
	}
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = setBuffers(fd, sndbuf, rcvbuf)
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// listen binds the endpoint. It returns the listener, the endpoint as
// bound (a wildcard port reads as the port picked), and the temporary
// directory to remove at close for ipc://*.
func (e endpoint) listen(ctx context.Context, o *Options) (net.Listener, string, string, error) {
	lc := net.ListenConfig{Control: bufferControl(o.SendBuffer, o.RecvBuffer), KeepAlive: -1}
	if e.network != "unix" {
		ln, err := lc.Listen(ctx, e.network, e.addr)
		if err != nil {
			return nil, "", "", err
		}
		return ln, "tcp://" + ln.Addr().String(), "", nil
	}
	path, tempDir := e.addr, ""
	if e.tempIPC {
		dir, err := os.MkdirTemp("", "zmq")
		if err != nil {
			return nil, "", "", fmt.Errorf("ipc://*: create a directory for the socket: %w", err)
		}
		path, tempDir = filepath.Join(dir, "socket"), dir
	} else if !strings.HasPrefix(path, "@") {
		// As libzmq does, replace a socket file left behind by an
		// earlier run; anything else at the path makes the bind fail.
		if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == fs.ModeSocket {
			_ = os.Remove(path)
		}
	}
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		if tempDir != "" {
			_ = os.RemoveAll(tempDir)
		}
		return nil, "", "", err
	}
	return ln, "ipc://" + path, tempDir, nil
}

// dial connects to the endpoint.
func (e endpoint) dial(ctx context.Context, o *Options) (net.Conn, error) {
	d := net.Dialer{Control: bufferControl(o.SendBuffer, o.RecvBuffer), KeepAlive: -1}
	return d.DialContext(ctx, e.network, e.addr)
}
