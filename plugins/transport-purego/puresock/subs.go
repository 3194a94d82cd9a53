package puresock

import (
	"slices"
	"sort"
)

// pipeIndex holds an XPUB socket's subscriptions the way libzmq's mtrie
// does: for every prefix, the set of pipes that subscribed to it. A pipe
// subscribing twice to a prefix is in the set once, so one unsubscribe
// removes it.
type pipeIndex struct {
	byPrefix map[string][]*pipe
	// lengths lists the distinct prefix lengths in ascending order, so a
	// topic is matched with one map lookup per length.
	lengths  []int
	lenCount map[int]int
}

// rmResult is the outcome of removing a pipe from a prefix, as libzmq's
// mtrie_t::rm reports it.
type rmResult int

const (
	rmNotFound rmResult = iota
	rmLastRemoved
	rmValuesRemain
)

// add records that p subscribed to prefix. It reports whether the prefix
// is new to the index (no pipe held it before).
func (ix *pipeIndex) add(prefix []byte, p *pipe) bool {
	if ix.byPrefix == nil {
		ix.byPrefix = map[string][]*pipe{}
		ix.lenCount = map[int]int{}
	}
	pipes, ok := ix.byPrefix[string(prefix)]
	if slices.Contains(pipes, p) {
		return false
	}
	key := string(prefix)
	ix.byPrefix[key] = append(pipes, p)
	if p.subs == nil {
		p.subs = map[string]struct{}{}
	}
	p.subs[key] = struct{}{}
	if ok {
		return false
	}
	ix.addLength(len(key))
	return true
}

func (ix *pipeIndex) addLength(n int) {
	ix.lenCount[n]++
	if ix.lenCount[n] == 1 {
		i := sort.SearchInts(ix.lengths, n)
		ix.lengths = slices.Insert(ix.lengths, i, n)
	}
}

func (ix *pipeIndex) dropLength(n int) {
	ix.lenCount[n]--
	if ix.lenCount[n] == 0 {
		delete(ix.lenCount, n)
		if i, ok := slices.BinarySearch(ix.lengths, n); ok {
			ix.lengths = slices.Delete(ix.lengths, i, i+1)
		}
	}
}

// rm removes p from prefix.
func (ix *pipeIndex) rm(prefix []byte, p *pipe) rmResult {
	pipes := ix.byPrefix[string(prefix)]
	i := slices.Index(pipes, p)
	if i < 0 {
		return rmNotFound
	}
	key := string(prefix)
	delete(p.subs, key)
	if len(pipes) > 1 {
		ix.byPrefix[key] = slices.Delete(pipes, i, i+1)
		return rmValuesRemain
	}
	delete(ix.byPrefix, key)
	ix.dropLength(len(key))
	return rmLastRemoved
}

// rmPipe removes p from every prefix it holds, in byte order, calling fn
// with each prefix and whether p was its last holder.
func (ix *pipeIndex) rmPipe(p *pipe, fn func(prefix string, last bool)) {
	prefixes := make([]string, 0, len(p.subs))
	for k := range p.subs {
		prefixes = append(prefixes, k)
	}
	sort.Strings(prefixes)
	for _, k := range prefixes {
		fn(k, ix.rm([]byte(k), p) == rmLastRemoved)
	}
}

// match calls fn for every pipe holding a prefix of topic; a pipe holding
// several such prefixes is passed once per prefix.
func (ix *pipeIndex) match(topic []byte, fn func(*pipe)) {
	for _, n := range ix.lengths {
		if n > len(topic) {
			return
		}
		for _, p := range ix.byPrefix[string(topic[:n])] {
			fn(p)
		}
	}
}

// refSet holds an XSUB socket's own subscriptions with a reference count
// per prefix, like libzmq's trie_t.
type refSet map[string]int

// add counts one more subscription to prefix.
func (r *refSet) add(prefix []byte) {
	if *r == nil {
		*r = refSet{}
	}
	(*r)[string(prefix)]++
}

// rm counts one subscription to prefix less and reports whether that was
// the last one. Removing an unknown prefix reports false.
func (r refSet) rm(prefix []byte) bool {
	n, ok := r[string(prefix)]
	if !ok {
		return false
	}
	if n > 1 {
		r[string(prefix)] = n - 1
		return false
	}
	delete(r, string(prefix))
	return true
}

// prefixes returns the held prefixes in byte order.
func (r refSet) prefixes() []string {
	out := make([]string, 0, len(r))
	for k := range r {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
