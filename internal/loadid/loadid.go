// Package loadid scatters the counters that load generators and
// benchmarks turn into event ids. Real ids — an Alertmanager fingerprint, a
// Falco uuid — are hashes, so consecutive events land far apart in every
// index keyed by id; ids made from a plain counter land next to each other
// and hide what that costs a B+tree store (one leaf per event instead of
// one per commit). Scatter keeps each id unique while giving it a hash's
// order.
package loadid

// Scatter maps x, taken modulo 2^bits, to a value in [0, 2^bits) that
// looks random, one to one: distinct inputs below 2^bits give distinct
// outputs. bits is 1 to 64.
func Scatter(x uint64, bits uint) uint64 {
	mask := ^uint64(0)
	if bits < 64 {
		mask = 1<<bits - 1
	}
	half := max(bits/2, 1)
	// Multiplying by an odd constant and xor-ing with a right shift are
	// each one to one modulo 2^bits; two rounds of them mix every bit.
	x &= mask
	x = (x * 0x9E3779B97F4A7C15) & mask
	x ^= x >> half
	x = (x * 0xBF58476D1CE4E5B9) & mask
	x ^= x >> half
	x = (x * 0x94D049BB133111EB) & mask
	return x ^ x>>half
}
