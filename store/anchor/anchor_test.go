package anchor

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
)

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.pem"), filepath.Join(dir, "k.pub")
	want, err := GenerateKey(priv, pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKey(priv, pub); err == nil {
		t.Fatal("GenerateKey overwrote an existing key")
	}
	if fi, _ := os.Stat(priv); fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, want 0600", fi.Mode().Perm())
	}
	k, err := LoadPrivateKey(priv)
	if err != nil || !k.Public().(ed25519.PublicKey).Equal(want) {
		t.Fatalf("LoadPrivateKey(PEM) = %v", err)
	}
	p, err := LoadPublicKey(pub)
	if err != nil || !p.Equal(want) {
		t.Fatalf("LoadPublicKey(PEM) = %v", err)
	}
	seed := filepath.Join(dir, "seed")
	_ = os.WriteFile(seed, k.Seed(), 0o600)
	if k2, err := LoadPrivateKey(seed); err != nil || !k2.Equal(k) {
		t.Fatalf("LoadPrivateKey(seed) = %v", err)
	}
	full := filepath.Join(dir, "full")
	_ = os.WriteFile(full, k, 0o600)
	if k2, err := LoadPrivateKey(full); err != nil || !k2.Equal(k) {
		t.Fatalf("LoadPrivateKey(64 bytes) = %v", err)
	}
	rawPub := filepath.Join(dir, "raw.pub")
	_ = os.WriteFile(rawPub, want, 0o644)
	if p2, err := LoadPublicKey(rawPub); err != nil || !p2.Equal(want) {
		t.Fatalf("LoadPublicKey(raw) = %v", err)
	}
	for name, tc := range map[string]struct {
		content []byte
		load    func(string) error
		want    string
	}{
		"short private":      {[]byte("secret-ish"), func(p string) error { _, err := LoadPrivateKey(p); return err }, "want a PEM PKCS#8 ed25519 private key"},
		"public as private":  {mustRead(t, pub), func(p string) error { _, err := LoadPrivateKey(p); return err }, `a PEM "PUBLIC KEY" block`},
		"private as public":  {mustRead(t, priv), func(p string) error { _, err := LoadPublicKey(p); return err }, `a PEM "PRIVATE KEY" block`},
		"64 bytes not a key": {make([]byte, 64), func(p string) error { _, err := LoadPrivateKey(p); return err }, "not an ed25519 seed and its public key"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key")
			_ = os.WriteFile(path, tc.content, 0o600)
			err := tc.load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error = %v, want one naming the file and %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret-ish") {
				t.Fatal("the error shows the key file's content")
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A witness appends every checkpoint to its file and POSTs the newest to a
// real HTTP server, retrying while the server refuses.
func TestWitnessFileAndURL(t *testing.T) {
	var mu sync.Mutex
	var got []audit.SignedCheckpoint
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		var cp audit.SignedCheckpoint
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&cp) != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		got = append(got, cp)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "witness.jsonl")
	w := New(Config{File: file, URL: srv.URL, Backoff: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	w.Offer(audit.SignedCheckpoint{Seq: 1, Hash: "aa"})
	w.Offer(audit.SignedCheckpoint{Seq: 3, Hash: "bb"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the witness URL never took a checkpoint")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	if got[len(got)-1].Seq != 3 || calls < 2 {
		t.Errorf("URL got %+v after %d calls, want the newest (3) after a refusal", got, calls)
	}
	mu.Unlock()
	lines, err := ReadFile(file)
	if err != nil || len(lines) != 2 || lines[0].Seq != 1 || lines[1].Seq != 3 {
		t.Fatalf("witness file = %+v, %v; want both checkpoints", lines, err)
	}
}

func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.jsonl")
	_ = os.WriteFile(path, []byte(`{"seq":1,"hash":"aa"}`+"\n"+`{"seq":2,"ha`), 0o600)
	cps, err := ReadFile(path)
	if err != nil || len(cps) != 1 {
		t.Fatalf("a torn last line: %+v, %v; want it skipped", cps, err)
	}
	_ = os.WriteFile(path, []byte(`{"seq":1,"hash":"aa"}`+"\nnot json\n"+`{"seq":2,"hash":"bb"}`+"\n"), 0o600)
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("a bad middle line: %v; want an error naming %s:2", err, path)
	}
}

// A failed POST is reported without the URL, which may carry a token.
func TestWitnessErrorHidesTheURL(t *testing.T) {
	w := New(Config{URL: "http://127.0.0.1:1/witness?token=s3cret"})
	err := w.postOne(context.Background(), audit.SignedCheckpoint{Seq: 1})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error = %v; want a failure that does not show the URL", err)
	}
	for _, bad := range []string{"", "ftp://x", "/relative", "http://"} {
		if CheckURL(bad) == nil {
			t.Errorf("CheckURL(%q) accepted it", bad)
		}
	}
	if err := CheckURL("https://witness.example/fb"); err != nil {
		t.Error(err)
	}
}
