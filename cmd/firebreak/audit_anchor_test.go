package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/store"
)

// witnessLines counts the checkpoints in a witness file.
func witnessLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
	}
	return n
}

// A server with a signing key and a witness file anchors its trail: verify
// with the public key and the witness passes through the server and on the
// file, and finds the tail cut by an editor who rewrote the head and the
// sequence to match (which the file alone cannot show once the inbox
// events went too).
func TestAuditVerifyWithKeyAndWitness(t *testing.T) {
	keys := t.TempDir()
	priv, pub := filepath.Join(keys, "audit.pem"), filepath.Join(keys, "audit.pub")
	if code, out, errOut := auditCLI(t, "audit", "keygen", "--out", priv); code != 0 || !strings.Contains(out, "key id") {
		t.Fatalf("keygen: exit %d, %s %s", code, out, errOut)
	}
	witness := filepath.Join(t.TempDir(), "witness.jsonl") // "another volume"
	cfg := apptest.Config(t, "")
	cfg.Audit.SigningKeyFile = priv
	cfg.Audit.CheckpointEvery = 3
	cfg.Audit.Witness.File = witness
	a := apptest.Start(t, cfg, app.Options{})
	for i, fp := range []string{"0a0a0a0a0a0a0a01", "0a0a0a0a0a0a0a02", "0a0a0a0a0a0a0a03"} {
		payload := apptest.AlertmanagerPayload("firing", apptest.Alert{Labels: map[string]string{"alertname": "Unmatched" + fp, "severity": "info"},
			StartsAt: time.Now().Add(-time.Duration(i) * time.Second), Fingerprint: fp})
		if code, body := apptest.Post(t, a.URL()+"/hooks/alertmanager", payload); code != http.StatusAccepted {
			t.Fatalf("POST = %d %s", code, body)
		}
	}
	apptest.WaitFor(t, 10*time.Second, "events processed", func() bool { return a.DB.PendingCount() == 0 })
	apptest.WaitFor(t, 10*time.Second, "checkpoints witnessed", func() bool { return witnessLines(witness) >= 2 })

	code, out, errOut := auditCLI(t, "audit", "verify", "--addr", a.Addr(), "--public-key", pub, "--witness", witness)
	if code != 0 || !strings.Contains(out, "anchored:") || !strings.Contains(out, "witness:") {
		t.Fatalf("verify through the server: exit %d\n%s%s", code, out, errOut)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = auditCLI(t, "audit", "verify", "--data-dir", cfg.DataDir, "--public-key", pub, "--witness", witness)
	if code != 0 || !strings.Contains(out, "anchored:") {
		t.Fatalf("verify on the file: exit %d\n%s%s", code, out, errOut)
	}

	// The editor cuts the newest records, rewrites head and sequence to
	// match, and removes the inbox events whose records went.
	b, err := bolt.Open(filepath.Join(cfg.DataDir, "firebreak.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		trail, meta := tx.Bucket([]byte("audit")), tx.Bucket([]byte("meta"))
		last := trail.Sequence()
		for s := uint64(3); s <= last; s++ {
			if err := trail.Delete(beKey(s)); err != nil {
				return err
			}
		}
		head := append(beKey(2), trail.Get(beKey(2))[:32]...)
		if err := meta.Put([]byte("audit_head"), head); err != nil {
			return err
		}
		if err := trail.SetSequence(2); err != nil {
			return err
		}
		for _, name := range []string{"inbox", "pending", "seen"} {
			if err := tx.DeleteBucket([]byte(name)); err != nil {
				return err
			}
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	})
	_ = b.Close()
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := auditCLI(t, "audit", "verify", "--data-dir", cfg.DataDir); code != 0 {
		t.Fatalf("without the key the consistent cut passes (docs/audit.md says so): exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = auditCLI(t, "audit", "verify", "--data-dir", cfg.DataDir, "--public-key", pub, "--witness", witness)
	if code != 1 || !strings.Contains(errOut, "audit trail NOT intact") || !strings.Contains(errOut, "records were cut from the end") {
		t.Fatalf("verify of the cut trail with the witness: exit %d, %q", code, errOut)
	}
	if _, err := store.Open(filepath.Join(cfg.DataDir, "firebreak.db"), store.Options{ReadOnly: true}); err != nil {
		t.Fatalf("the file still opens: %v", err)
	}
}

func beKey(v uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

// A witness without a signing key, and a key file that is not a key, stop
// the start with an error naming the config key (and never the content).
func TestAnchorConfigErrors(t *testing.T) {
	cfg := apptest.Config(t, "")
	cfg.Audit.Witness.File = filepath.Join(t.TempDir(), "w.jsonl")
	if _, err := app.Start(context.Background(), cfg, slog.New(slog.DiscardHandler), app.Options{}); err == nil || !strings.Contains(err.Error(), "audit.witness: needs audit.signing_key_file") {
		t.Fatalf("witness without a key: %v", err)
	}
	cfg = apptest.Config(t, "")
	bad := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(bad, []byte("hunter2-not-a-key"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Audit.SigningKeyFile = bad
	_, err := app.Start(context.Background(), cfg, slog.New(slog.DiscardHandler), app.Options{})
	if err == nil || !strings.Contains(err.Error(), "audit.signing_key_file") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("bad key file: %v", err)
	}
}

// A key added to an existing, unsigned trail anchors it at start-up: the
// newest record is signed at once, so verify with the key passes without
// waiting for checkpoint_every records.
func TestSigningKeyAnchorsAnExistingTrailAtStart(t *testing.T) {
	keys := t.TempDir()
	priv, pub := filepath.Join(keys, "k.pem"), filepath.Join(keys, "k.pub")
	if code, _, errOut := auditCLI(t, "audit", "keygen", "--out", priv); code != 0 {
		t.Fatalf("keygen: %s", errOut)
	}
	cfg := apptest.Config(t, "")
	db, err := store.Open(filepath.Join(cfg.DataDir, "firebreak.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	writeAuditRecords(t, db, 5)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := auditCLI(t, "audit", "verify", "--data-dir", cfg.DataDir, "--public-key", pub); code != 1 {
		t.Fatalf("an unsigned trail passed verify with a key (exit %d)", code)
	}
	cfg.Audit.SigningKeyFile = priv
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	apptest.WaitFor(t, 10*time.Second, "the start-up checkpoint", func() bool {
		code, _, _ := auditCLI(t, "audit", "verify", "--addr", a.Addr(), "--public-key", pub)
		return code == 0
	})
	code, out, errOut := auditCLI(t, "audit", "verify", "--addr", a.Addr(), "--public-key", pub)
	if code != 0 || !strings.Contains(out, "of record 5") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
}

func writeAuditRecords(t *testing.T, db *store.DB, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := db.Audit(context.Background(), audit.Record{Kind: audit.KindReceived, EventID: fmt.Sprintf("old-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// Bad verify parameters are a 400 naming the parameter.
func TestVerifyEndpointRefusesBadParameters(t *testing.T) {
	a := apptest.Start(t, apptest.Config(t, ""), app.Options{NoDispatch: true})
	for q, field := range map[string]string{
		"public_key=not-base64!": "public_key",
		"public_key=AAAA":        "public_key",
		"witness=e30":            "witness",
		"public_key=" + strings.Repeat("A", 43) + "=&witness=!!!": "witness",
	} {
		resp, err := http.Get(a.URL() + "/api/v1/audit/verify?" + q)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error string `json:"error"`
			Field string `json:"field"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || body.Field != field || body.Error == "" {
			t.Errorf("?%s: %d %+v; want 400 naming %s", q, resp.StatusCode, body, field)
		}
	}
}
