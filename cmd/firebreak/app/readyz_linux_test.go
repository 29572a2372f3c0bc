//go:build linux

package app_test

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/store"
)

// TestReadyzIsNotReadyWhileCommitsFail runs the whole server on a data
// file that cannot grow (RLIMIT_FSIZE: what a full disk looks like to
// bbolt, whose small writes still fit in the file): while ingest answers
// 503, /readyz must answer 503 too — it answered 200 — and both recover
// without a restart once the file can grow again.
func TestReadyzIsNotReadyWhileCommitsFail(t *testing.T) {
	cfg := apptest.Config(t, `
name: noop
description: d
match: event.name == "Nothing"
steps:
  - action: webhook.notify
    with: { url: "http://127.0.0.1:1/" }
`)
	cfg.MaxBodyBytes = 8 << 20
	a := apptest.Start(t, cfg, app.Options{NoSync: true, NoDispatch: true})
	readyz := func() int {
		t.Helper()
		resp, err := http.Get(a.URL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz before the disk filled = %d, want 200", code)
	}
	info, err := os.Stat(a.DB.(*store.DB).Path())
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	full := old
	full.Cur = uint64(info.Size())
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(restore)

	big := apptest.AlertmanagerPayload("firing", apptest.Alert{
		Labels:      map[string]string{"alertname": "Big", "namespace": "shop"},
		Annotations: map[string]string{"pad": strings.Repeat("x", 4<<20)},
		StartsAt:    time.Now(), Fingerprint: "b16",
	})
	code, body := apptest.Post(t, a.URL()+"/hooks/alertmanager", big)
	if code != http.StatusServiceUnavailable {
		restore()
		t.Fatalf("POST on a full disk = %d %s, want 503 (the test cannot fill the disk here)", code, body)
	}
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while ingest answers 503 = %d, want 503", code)
	}
	restore()
	small := apptest.AlertmanagerPayload("firing", apptest.Alert{
		Labels: map[string]string{"alertname": "Small"}, StartsAt: time.Now(), Fingerprint: "5ma11",
	})
	if code, body := apptest.Post(t, a.URL()+"/hooks/alertmanager", small); code != http.StatusAccepted {
		t.Fatalf("POST once the disk has room = %d %s, want 202", code, body)
	}
	if code := readyz(); code != http.StatusOK {
		t.Errorf("/readyz once commits work again = %d, want 200", code)
	}
}
