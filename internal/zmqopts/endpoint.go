package zmqopts

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// CheckEndpoint checks a tcp:// or ipc:// endpoint to bind (bind true) or
// connect to, with the ipv6 attribute as given, the way libzmq reads it,
// so that mistakes are reported before any socket exists. It touches no
// network: a host name is checked for its syntax only.
func CheckEndpoint(ep string, bind, ipv6 bool) error {
	scheme, rest, ok := strings.Cut(ep, "://")
	if !ok {
		return fmt.Errorf("missing transport; want tcp://host:port or ipc://path")
	}
	switch scheme {
	case "tcp":
		return checkTCP(rest, bind, ipv6)
	case "ipc":
		if rest == "" {
			return fmt.Errorf("empty ipc path")
		}
		if rest == "*" && !bind {
			return fmt.Errorf("ipc://* is only valid for bind")
		}
		// sockaddr_un.sun_path holds 108 bytes including the final NUL.
		if len(rest) > 107 {
			return fmt.Errorf("ipc path is %d bytes long, the limit is 107", len(rest))
		}
		return nil
	default:
		return fmt.Errorf("unsupported transport %q; want tcp or ipc", scheme)
	}
}

func checkTCP(hostport string, bind, ipv6 bool) error {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return fmt.Errorf("missing port")
	}
	host, port := hostport[:i], hostport[i+1:]
	switch {
	case port == "*" || port == "0":
		if !bind {
			return fmt.Errorf("a wildcard port is only valid for bind")
		}
	default:
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("invalid port %q", port)
		}
	}
	if host == "" {
		return fmt.Errorf("missing host")
	}
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return fmt.Errorf("unclosed bracket in host %q", host)
		}
		addr, err := netip.ParseAddr(strings.TrimSuffix(host[1:], "]"))
		if err != nil || !addr.Is6() {
			return fmt.Errorf("invalid IPv6 address %q", host)
		}
		if !ipv6 {
			return fmt.Errorf("IPv6 address %s needs %q = true", host, AttrIPv6)
		}
		return nil
	}
	if strings.Contains(host, ":") {
		return fmt.Errorf("IPv6 address %q must be in brackets: tcp://[addr]:port", host)
	}
	if host == "*" {
		if !bind {
			return fmt.Errorf("host * is only valid for bind")
		}
		return nil
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if strings.Trim(host, "0123456789.") == "" {
		return fmt.Errorf("invalid IPv4 address %q", host)
	}
	// Anything else is a host name (or, to bind, a network interface).
	return checkHostname(host)
}

// checkHostname checks the syntax of a DNS host name (RFC 1123).
func checkHostname(host string) error {
	if len(host) > 253 {
		return fmt.Errorf("host name %q is longer than 253 characters", host)
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("invalid host name %q: empty or overlong label", host)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("invalid host name %q: a label starts or ends with '-'", host)
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fmt.Errorf("invalid host %q", host)
			}
		}
	}
	return nil
}

// NormalizedBinds returns bind endpoints that CheckEndpoint accepts as
// transport.Validation lists them: "tcp://host:port" with the host
// lower-cased as given (IPv6 in brackets, "*" the wildcard) and the port a
// plain number, and "ipc://path"; endpoints with a wildcard port or
// ipc://* are left out, as they never clash.
func NormalizedBinds(binds []string) []string {
	out := []string{}
	for _, ep := range binds {
		scheme, rest, _ := strings.Cut(ep, "://")
		switch scheme {
		case "tcp":
			i := strings.LastIndexByte(rest, ':')
			host, port := strings.ToLower(rest[:i]), rest[i+1:]
			if port == "*" || port == "0" {
				continue
			}
			n, _ := strconv.Atoi(port)
			out = append(out, fmt.Sprintf("tcp://%s:%d", host, n))
		case "ipc":
			if rest != "*" {
				out = append(out, ep)
			}
		}
	}
	return out
}
