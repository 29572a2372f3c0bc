package wal

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rec is a record as recovery reports it.
type rec struct {
	at, end Pos
	payload []byte
}

func (r rec) String() string {
	return fmt.Sprintf("{%d:%d..%d len %d}", r.at.Segment, r.at.Offset, r.end.Offset, len(r.payload))
}

// openCollect opens the log in dir and returns it with every record Open found.
func openCollect(t testing.TB, dir string, opts Options) (*Log, []rec) {
	t.Helper()
	var got []rec
	l, err := Open(dir, opts, func(at, end Pos, p []byte) error {
		got = append(got, rec{at, end, bytes.Clone(p)})
		return nil
	})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l, got
}

// recoverAll opens and closes the log in dir and returns what Open found.
func recoverAll(t testing.TB, dir string, opts Options) []rec {
	t.Helper()
	l, got := openCollect(t, dir, opts)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return got
}

// sameRecs reports the first difference between got and want, or "".
func sameRecs(got, want []rec) string {
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.at != w.at || g.end != w.end || !bytes.Equal(g.payload, w.payload) {
			return fmt.Sprintf("record %d: got %v, want %v (payload equal: %v)", i, g, w, bytes.Equal(g.payload, w.payload))
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("got %d records, want %d", len(got), len(want))
	}
	return ""
}

// commitRecs returns the records a Commit of payloads stands for.
func commitRecs(c *Commit, payloads ...[]byte) []rec {
	out := make([]rec, len(payloads))
	for i, p := range payloads {
		end := c.End()
		if i+1 < len(payloads) {
			s := c.Start()[i]
			end = Pos{s.Segment, s.Offset + headerSize + int64(len(p))}
		}
		out[i] = rec{c.Start()[i], end, p}
	}
	return out
}

func randPayload(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

// sparsePayload is random in its first and last 16 bytes and zero between,
// so that a crash cut inside it mostly gives states already tested.
func sparsePayload(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		if i < 16 || i >= n-16 {
			p[i] = byte(rng.Uint32())
		}
	}
	return p
}

func mustWait(t testing.TB, c *Commit) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

func mustWrite(t testing.TB, l *Log, payloads ...[]byte) *Commit {
	t.Helper()
	c, err := l.Write(payloads...)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return c
}

// segFiles returns the names of the segment files in dir.
func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			out = append(out, e.Name())
		}
	}
	return out
}

// readFiles returns the content of every segment file in dir by name.
func readFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range segFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// writeFiles replaces the content of dir by files.
func writeFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// stallArmedWrite makes the first pwrite after armed is set stop: inFlush
// closes, and the write waits for proceed to close, then fails with fail
// (nil: it goes ahead).
func stallArmedWrite(l *Log, fail error) (armed *atomic.Bool, inFlush, proceed chan struct{}) {
	armed = new(atomic.Bool)
	inFlush, proceed = make(chan struct{}), make(chan struct{})
	l.hooks.Store(&hooks{write: func(uint64, uint64, int64, []byte) error {
		if armed.CompareAndSwap(true, false) {
			close(inFlush)
			<-proceed
			return fail
		}
		return nil
	}})
	return armed, inFlush, proceed
}
