package zmqopts

import (
	"fmt"
	"math"
	"strings"
)

// z85Alphabet is the digit set of Z85 (ZeroMQ RFC 32), lowest first.
const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// DecodeZ85Key decodes a CURVE key given as 40 characters of Z85 text into
// its 32 bytes. It accepts what libzmq's zmq_z85_decode accepts: digits of
// the alphabet only, and no group of five whose value exceeds 32 bits.
func DecodeZ85Key(s string) ([]byte, error) {
	if len(s) != 40 {
		return nil, fmt.Errorf("a CURVE key has %d characters, want a 40-character Z85 key", len(s))
	}
	out := make([]byte, 0, 32)
	for g := 0; g < len(s); g += 5 {
		var v uint64
		for _, c := range []byte(s[g : g+5]) {
			digit := strings.IndexByte(z85Alphabet, c)
			if digit < 0 {
				return nil, fmt.Errorf("a CURVE key is not valid Z85 text")
			}
			v = v*85 + uint64(digit)
		}
		if v > math.MaxUint32 {
			return nil, fmt.Errorf("a CURVE key is not valid Z85 text")
		}
		out = append(out, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return out, nil
}
