package wal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const benchPayload = 1200

// BenchmarkWrite measures Write+Wait from c concurrent writers on a real
// directory with fdatasync, against "bare": the same writers appending to
// one preallocated file with one group-committed fdatasync per batch, the
// simplest thing that is durable. Compare records/s of c16 with bare/c16.
func BenchmarkWrite(b *testing.B) {
	for _, c := range []int{16, 64} {
		b.Run(fmt.Sprintf("c%d", c), func(b *testing.B) { benchLog(b, c) })
	}
	for _, c := range []int{16, 64} {
		b.Run(fmt.Sprintf("bare/c%d", c), func(b *testing.B) { benchBare(b, c) })
	}
}

// runOps runs b.N calls of op spread over conc goroutines and reports records/s.
func runOps(b *testing.B, conc int, op func() error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
}

func benchLog(b *testing.B, conc int) {
	l, err := Open(b.TempDir(), Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	// Let the preparer zero its first spare before timing starts.
	for deadline := time.Now().Add(10 * time.Second); l.Stats().Segments < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	payload := randPayload(rand.New(rand.NewPCG(14, 14)), benchPayload)
	ctx := context.Background()
	var ops atomic.Int64
	before := l.Stats()
	runOps(b, conc, func() error {
		c, err := l.Write(payload)
		if err != nil {
			return err
		}
		if err := c.Wait(ctx); err != nil {
			return err
		}
		if ops.Add(1)%4096 == 0 {
			l.Release(c.Start()[0]) // the mover keeping up
		}
		return nil
	})
	after := l.Stats()
	b.ReportMetric(float64(after.Syncs-before.Syncs)/float64(b.N), "syncs/op")
	b.ReportMetric(float64(after.Records-before.Records)/float64(after.Flushes-before.Flushes), "records/flush")
}

// bareLog appends to one preallocated file: writers copy their bytes into
// the current batch; one goroutine writes a batch, fdatasyncs, wakes its
// writers, while the next batch fills. It wraps around at the end.
type bareLog struct {
	f    *os.File
	size int64

	mu     sync.Mutex
	work   sync.Cond
	buf    []byte
	done   chan struct{}
	closed bool
	err    error
	syncs  int
}

func (bl *bareLog) append(p []byte) chan struct{} {
	bl.mu.Lock()
	if len(bl.buf) == 0 {
		bl.work.Signal()
	}
	bl.buf = append(bl.buf, p...)
	d := bl.done
	bl.mu.Unlock()
	return d
}

func (bl *bareLog) loop(stopped chan struct{}) {
	defer close(stopped)
	var spare []byte
	var off int64
	for {
		bl.mu.Lock()
		for len(bl.buf) == 0 && !bl.closed {
			bl.work.Wait()
		}
		if len(bl.buf) == 0 {
			bl.mu.Unlock()
			return
		}
		buf, done := bl.buf, bl.done
		bl.buf, bl.done = spare[:0], make(chan struct{})
		bl.mu.Unlock()
		if off+int64(len(buf)) > bl.size {
			off = 0
		}
		_, err := bl.f.WriteAt(buf, off)
		if err == nil {
			err = fdatasync(bl.f)
		}
		off += int64(len(buf))
		bl.mu.Lock()
		if err != nil && bl.err == nil {
			bl.err = err
		}
		bl.syncs++
		bl.mu.Unlock()
		close(done)
		spare = buf
	}
}

func benchBare(b *testing.B, conc int) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "bare"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const size = defaultSegmentSize
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	bl := &bareLog{f: f, size: size, done: make(chan struct{})}
	bl.work.L = &bl.mu
	stopped := make(chan struct{})
	go bl.loop(stopped)
	payload := randPayload(rand.New(rand.NewPCG(14, 14)), benchPayload)
	runOps(b, conc, func() error {
		<-bl.append(payload)
		return nil
	})
	bl.mu.Lock()
	bl.closed = true
	bl.work.Signal()
	err, syncs := bl.err, bl.syncs
	bl.mu.Unlock()
	<-stopped
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(syncs)/float64(b.N), "syncs/op")
}

// BenchmarkWriteCPU is the cost of a Write call itself (1 KiB payload, no
// fdatasync): framing, CRC, copy, lock. It waits every 256 Writes so the
// queue stays bounded.
func BenchmarkWriteCPU(b *testing.B) {
	l, err := Open(b.TempDir(), Options{NoSync: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	payload := randPayload(rand.New(rand.NewPCG(15, 15)), 1024)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c, err := l.Write(payload)
		if err != nil {
			b.Fatal(err)
		}
		if i++; i%256 == 0 {
			b.StopTimer()
			mustWait(b, c)
			l.Release(c.Start()[0])
			b.StartTimer()
		}
	}
}
