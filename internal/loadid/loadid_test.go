package loadid

import "testing"

// TestScatterIsOneToOne: every input below 2^bits maps to a distinct
// output below 2^bits, for the widths the generators use and small ones
// checked exhaustively.
func TestScatterIsOneToOne(t *testing.T) {
	for _, bits := range []uint{1, 2, 7, 16, 20} {
		seen := make(map[uint64]bool, 1<<bits)
		for x := uint64(0); x < 1<<bits; x++ {
			y := Scatter(x, bits)
			if y >= 1<<bits || seen[y] {
				t.Fatalf("bits %d: %d maps to %d, out of range or taken", bits, x, y)
			}
			seen[y] = true
		}
	}
	for _, bits := range []uint{48, 64} {
		seen := map[uint64]bool{}
		for x := uint64(0); x < 200000; x++ {
			y := Scatter(x, bits)
			if (bits < 64 && y >= 1<<bits) || seen[y] {
				t.Fatalf("bits %d: %d maps to %d, out of range or taken", bits, x, y)
			}
			seen[y] = true
		}
	}
}

// TestScatterBreaksOrder: consecutive counters do not come out in order,
// which is the point (about half of the steps go down).
func TestScatterBreaksOrder(t *testing.T) {
	down := 0
	for x := uint64(0); x < 1000; x++ {
		if Scatter(x+1, 64) < Scatter(x, 64) {
			down++
		}
	}
	if down < 400 || down > 600 {
		t.Fatalf("%d of 1000 steps went down, want about half", down)
	}
}
