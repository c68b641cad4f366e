package secretstream

// ReplayWindow is how far behind the newest counter seen an unordered message
// may arrive and still be accepted once (see [Options.AllowReplay]).
const ReplayWindow = replayBits - 64

const (
	replayWords = 128 // 64-bit words in the ring: 8192 bits
	replayBits  = replayWords * 64
)

// replayWindow remembers which message counters have been accepted, as a
// ring of bits over the newest ones (the sliding window of RFC 6479). The
// counters are the 8-byte nonces of NoiseSecretStream's envelopes: each
// sender counts up from a random seed, one per envelope, so they are compared
// in serial arithmetic modulo 2^64 and the first counter seen starts the
// window wherever it lies. The zero value is an empty window. It is not safe
// for concurrent use.
type replayWindow struct {
	started bool
	top     uint64              // the newest counter accepted
	bits    [replayWords]uint64 // bit n%replayBits is set when counter n was accepted
}

// accept reports whether counter n is new and not too old, and records it.
// Call it only for authenticated envelopes, so that a forged counter cannot
// move the window.
func (w *replayWindow) accept(n uint64) bool {
	switch {
	case !w.started:
		w.started = true
		w.top = n
	case int64(n-w.top) > 0:
		// Clear the words the window slides over. Word indexes are taken
		// modulo 2^58, a multiple of the ring size, so wrapping is harmless.
		from, to := w.top>>6, n>>6
		steps := min(to-from, replayWords)
		for i := uint64(1); i <= steps; i++ {
			w.bits[(from+i)%replayWords] = 0
		}
		w.top = n
	case w.top-n >= ReplayWindow:
		return false
	}
	word, bit := &w.bits[(n>>6)%replayWords], uint64(1)<<(n&63)
	if *word&bit != 0 {
		return false
	}
	*word |= bit
	return true
}
