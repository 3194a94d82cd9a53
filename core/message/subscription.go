package message

// Subscription messages are single frames: 0x01 then a topic prefix to
// subscribe, 0x00 then a prefix to unsubscribe (ZeroMQ XPUB/XSUB).
const (
	Unsubscribe byte = 0x00
	Subscribe   byte = 0x01
)

// ParseSubscription splits a single-frame subscription message. ok is false
// when the frame is empty or its first byte is neither 0x00 nor 0x01.
func ParseSubscription(frame []byte) (subscribe bool, prefix []byte, ok bool) {
	if len(frame) == 0 || frame[0] > Subscribe {
		return false, nil, false
	}
	return frame[0] == Subscribe, frame[1:], true
}

// SubscriptionFrame builds a subscription (or unsubscription) frame.
func SubscriptionFrame(subscribe bool, prefix []byte) []byte {
	f := make([]byte, 0, len(prefix)+1)
	if subscribe {
		f = append(f, Subscribe)
	} else {
		f = append(f, Unsubscribe)
	}
	return append(f, prefix...)
}
