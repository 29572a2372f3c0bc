package keylock

import (
	"sync"
	"testing"
)

func TestSerialisesPerKeyAndForgetsIdleKeys(t *testing.T) {
	var m Map
	var wg sync.WaitGroup
	var counts [3]int // one slot per key: only same-key work may share one
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			k := i % 3
			unlock := m.Lock([]string{"a", "b", "c"}[k])
			counts[k]++ // unserialised same-key work would fail under -race
			unlock()
		}(i)
	}
	wg.Wait()
	if counts[0]+counts[1]+counts[2] != 200 {
		t.Fatalf("counts = %v", counts)
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("%d idle keys kept", n)
	}
}
