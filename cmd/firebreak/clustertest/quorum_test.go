package clustertest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestClusterNoQuorum: with two of three etcd members stopped a replica
// cannot commit: /readyz answers 503 and a webhook gets 503 with
// Retry-After, never a 2xx; once the members are back both recover and the
// event is accepted.
func TestClusterNoQuorum(t *testing.T) {
	start := time.Now()
	etcd := startEtcd(t)
	pbDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pbDir, "storm.yaml"), []byte(fmt.Sprintf(stormPlaybook, "http://127.0.0.1:9")), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := startReplica(t, "fb-0", clusterConfig(etcd.clients, "/fb-quorum", pbDir, ""))
	client := &http.Client{Timeout: 20 * time.Second}
	status := func(path string, body []byte) (int, http.Header) {
		var resp *http.Response
		var err error
		if body == nil {
			resp, err = client.Get(rep.url + path)
		} else {
			resp, err = client.Post(rep.url+path, "application/json", bytes.NewReader(body))
		}
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	done := make(chan struct{})
	go func() { etcd.Stop(1); close(done) }()
	etcd.Stop(2)
	<-done
	t.Logf("two members stopped at %s", time.Since(start).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "/readyz to answer 503 without a quorum", func() bool {
		code, _ := status("/readyz", nil)
		return code == http.StatusServiceUnavailable
	})
	t.Logf("/readyz 503 at %s", time.Since(start).Round(time.Millisecond))
	for i := range 2 {
		code, h := status("/hooks/alertmanager", amBody(fmt.Sprintf("fp-q%d", i), "g", time.Now()))
		if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Errorf("webhook without a quorum = %d (Retry-After %q), want 503 with Retry-After", code, h.Get("Retry-After"))
		}
	}
	t.Logf("webhooks refused at %s", time.Since(start).Round(time.Millisecond))
	done = make(chan struct{})
	go func() { etcd.Restart(1); close(done) }()
	etcd.Restart(2)
	<-done
	t.Logf("members restarted at %s", time.Since(start).Round(time.Millisecond))
	// A sender retries: the first commit after the quorum is back clears
	// the replica's failed state.
	waitFor(t, 40*time.Second, "a webhook to be accepted again", func() bool {
		code, _ := status("/hooks/alertmanager", amBody("fp-q0", "g", time.Now()))
		return code == http.StatusAccepted
	})
	t.Logf("webhook accepted at %s", time.Since(start).Round(time.Millisecond))
	waitFor(t, 40*time.Second, "/readyz to answer 200 again", func() bool {
		code, _ := status("/readyz", nil)
		return code == http.StatusOK
	})
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}
