package value

import "net/netip"

// AppendZeekAddr appends a as Zeek prints addresses (inet_ntop): dotted
// IPv4, and IPv6 in RFC 5952 form, except that an IPv6 address whose first
// 96 bits are zero and whose next 16 are not ends in dotted form
// (::1.2.3.4). Zeek's logs, its JSON and zpipe's renderings all use it.
func AppendZeekAddr(dst []byte, a netip.Addr) []byte {
	if a.Is6() {
		b := a.As16()
		compat := b[12] != 0 || b[13] != 0
		for _, x := range b[:12] {
			if x != 0 {
				compat = false
				break
			}
		}
		if compat {
			dst = append(dst, ':', ':')
			return netip.AddrFrom4([4]byte(b[12:])).AppendTo(dst)
		}
	}
	return a.AppendTo(dst)
}
