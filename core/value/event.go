package value

// Event is a Zeek event as it travels between cluster nodes: its name as
// registered in Zeek ("Module::name", or "name" for GLOBAL-module events),
// its arguments, and optional metadata.
type Event struct {
	Name string
	Args []Value
	// Metadata holds the event's metadata entries in wire order. Zeek
	// sends none unless EventMetadata::add_network_timestamp is set; an
	// empty list is equivalent to none.
	Metadata []Metadata
}

// Metadata is one event metadata entry: a Zeek EventMetadata::ID number
// and its value.
type Metadata struct {
	ID    uint64
	Value Value
}

// MetadataNetworkTimestamp is the metadata id of the network timestamp
// (EventMetadata::NETWORK_TIMESTAMP); its value is a time.
const MetadataNetworkTimestamp uint64 = 1

// NetworkTimestamp returns the event's network timestamp in nanoseconds
// since the epoch: the value of the first metadata entry with id
// MetadataNetworkTimestamp, if that is a time.
func (e *Event) NetworkTimestamp() (ns int64, ok bool) {
	for _, m := range e.Metadata {
		if m.ID == MetadataNetworkTimestamp {
			if m.Value.Kind() != KindTime {
				return 0, false
			}
			return m.Value.Nanos(), true
		}
	}
	return 0, false
}

// SetNetworkTimestamp sets the event's network timestamp, replacing the
// value of the first existing entry or appending one.
func (e *Event) SetNetworkTimestamp(ns int64) {
	for i, m := range e.Metadata {
		if m.ID == MetadataNetworkTimestamp {
			e.Metadata[i].Value = Time(ns)
			return
		}
	}
	e.Metadata = append(e.Metadata, Metadata{ID: MetadataNetworkTimestamp, Value: Time(ns)})
}
