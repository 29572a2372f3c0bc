package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/web/tlstest"
)

// tlsConfig is a bearer-authenticated Alertmanager source served over TLS
// with a certificate of ca, written to dir.
func tlsConfig(t *testing.T, ca *tlstest.CA, dir string) app.Config {
	t.Helper()
	leaf := ca.Server(t, "firebreak-1")
	cfg := apptest.Config(t, "")
	cfg.Sources = bearerSource()
	cfg.TLS.CertFile = tlstest.Write(t, dir, "tls.crt", leaf.CertPEM)
	cfg.TLS.KeyFile = tlstest.Write(t, dir, "tls.key", leaf.Key)
	return cfg
}

func tlsClient(ca *tlstest.CA) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
}

// TestTLSListener: with tls: set, the listener speaks only TLS. A client
// trusting the CA is served; a plain HTTP request to the same port is not
// accepted; the minimum version is enforced.
func TestTLSListener(t *testing.T) {
	ca := tlstest.NewCA(t, "Firebreak test CA")
	cfg := tlsConfig(t, ca, t.TempDir())
	cfg.TLS.MinVersion = "1.3"
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	if !strings.HasPrefix(a.URL(), "https://") {
		t.Fatalf("URL = %s, want https", a.URL())
	}
	if code := postAs(t, tlsClient(ca), a.URL(), httpTestToken, 1, nil); code != http.StatusAccepted {
		t.Fatalf("over TLS = %d, want 202", code)
	}
	plain := "http://" + a.Addr()
	resp, err := http.Post(plain+"/hooks/alertmanager", "application/json", bytes.NewReader([]byte(`{}`)))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP to the TLS port = %d, want a refusal", resp.StatusCode)
		}
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12}}}
	if resp, err := old.Get(a.URL() + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.2 client was served with min_version 1.3")
	}
	if n := a.DB.PendingCount(); n != 1 {
		t.Fatalf("%d events stored, want only the TLS one", n)
	}
}

// TestTLSCertificateRotation replaces the certificate files while a client
// keeps a connection pool and keeps posting: no request fails, the
// connections already open keep working, and new handshakes get the new
// certificate.
func TestTLSCertificateRotation(t *testing.T) {
	ca := tlstest.NewCA(t, "Firebreak test CA")
	dir := t.TempDir()
	cfg := tlsConfig(t, ca, dir)
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true, CertCheckInterval: 20 * time.Millisecond})
	client := tlsClient(ca)
	// held keeps one connection open across the rotation.
	held := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	serialOf := func(c *http.Client) string {
		t.Helper()
		resp, err := c.Get(a.URL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // drained, so the connection is kept
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	first := serialOf(held)

	var failures, sent atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				body := apptest.AlertmanagerPayload("firing", apptest.Alert{Labels: map[string]string{"alertname": "R"}, StartsAt: time.Now(), Fingerprint: fmt.Sprint("r", w, "-", i)})
				req, _ := http.NewRequest(http.MethodPost, a.URL()+"/hooks/alertmanager", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+httpTestToken)
				resp, err := client.Do(req)
				sent.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					failures.Add(1)
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	next := ca.Server(t, "firebreak-2")
	tlstest.WriteAtomic(t, dir, "tls.key", next.Key)
	tlstest.WriteAtomic(t, dir, "tls.crt", next.CertPEM)
	apptest.WaitFor(t, 10*time.Second, "a new handshake to get the new certificate", func() bool {
		fresh := tlsClient(ca)
		defer fresh.CloseIdleConnections()
		return serialOf(fresh) == next.Cert.SerialNumber.String()
	})
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()
	if first == next.Cert.SerialNumber.String() {
		t.Fatal("the first certificate is the new one")
	}
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed across the rotation", n, sent.Load())
	}
	// The held connection was opened before the rotation and was not
	// dropped: it is reused and still presents the old certificate.
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, a.URL()+"/healthz", nil)
	resp, err := held.Do(req)
	if err != nil {
		t.Fatalf("the connection held across the rotation: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := resp.TLS.PeerCertificates[0].SerialNumber.String(); !reused || got != first {
		t.Fatalf("the held connection: reused %v, certificate %s, want reused with the old certificate %s", reused, got, first)
	}
	held.CloseIdleConnections()
	if got := serialOf(held); got != next.Cert.SerialNumber.String() {
		t.Fatalf("after closing it a new handshake got %s, want %s", got, next.Cert.SerialNumber)
	}
}

// TestPlainListenerWarnsOnNonLoopback: without tls: on a non-loopback
// address Firebreak starts and warns, at every start.
func TestPlainListenerWarnsOnNonLoopback(t *testing.T) {
	for _, tc := range []struct {
		listen string
		warn   bool
	}{{"127.0.0.1:0", false}, {"0.0.0.0:0", true}} {
		cfg := apptest.Config(t, "")
		cfg.Sources = bearerSource()
		cfg.Listen = tc.listen
		var buf safeBuffer
		a, err := app.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(&buf, nil)), app.Options{NoDispatch: true})
		if err != nil {
			t.Fatal(err)
		}
		_ = a.Close()
		if got := strings.Contains(buf.String(), "without TLS"); got != tc.warn {
			t.Errorf("listen %s: warned %v, want %v:\n%s", tc.listen, got, tc.warn, buf.String())
		}
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
