package app_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web/auth"
)

const httpTestToken = "the-real-senders-token"

func bearerSource() map[string]app.SourceConfig {
	return map[string]app.SourceConfig{"alertmanager": {Auth: &auth.Config{Type: auth.TypeBearer, Token: httpTestToken}}}
}

// postAs sends an Alertmanager payload with the given bearer token and
// extra headers and returns the status.
func postAs(t *testing.T, client *http.Client, url, token string, i int, header map[string]string) int {
	t.Helper()
	body := apptest.AlertmanagerPayload("firing", apptest.Alert{Labels: map[string]string{"alertname": "H"}, StartsAt: time.Now(), Fingerprint: fmt.Sprint("h", i)})
	req, _ := http.NewRequest(http.MethodPost, url+"/hooks/alertmanager", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestForwardedForIsBelievedOnlyFromTrustedProxies replays issue 14's
// spoofed actor: a bad-token request from 127.0.0.1 claiming to be
// 203.0.113.9 is recorded as 127.0.0.1, unless 127.0.0.1/32 is a
// configured trusted proxy.
func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		want    string
	}{
		{"untrusted", nil, "127.0.0.1"},
		{"trusted", []string{"127.0.0.1/32"}, "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := apptest.Config(t, "")
			cfg.Sources = bearerSource()
			cfg.HTTP.TrustedProxies = tc.trusted
			a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
			if code := postAs(t, http.DefaultClient, a.URL(), "forged", 1, map[string]string{"X-Forwarded-For": "203.0.113.9"}); code != http.StatusUnauthorized {
				t.Fatalf("bad token = %d, want 401", code)
			}
			recs := auditRecords(t, a, audit.Query{Kind: audit.KindAuthFailed})
			if len(recs) != 1 {
				t.Fatalf("%d auth.failed records, want 1", len(recs))
			}
			if recs[0].Actor != tc.want {
				t.Fatalf("actor = %q, want %q", recs[0].Actor, tc.want)
			}
		})
	}
}

// TestBadTrustedProxyStopsTheStart: a malformed http.trusted_proxies entry
// is an error naming the key.
func TestBadTrustedProxyStopsTheStart(t *testing.T) {
	cfg := apptest.Config(t, "")
	cfg.HTTP.TrustedProxies = []string{"10.0.0.0/8", "proxy.example"}
	_, err := app.Start(context.Background(), cfg, slog.New(slog.DiscardHandler), app.Options{})
	if err == nil || !strings.Contains(err.Error(), `http.trusted_proxies[1]: "proxy.example"`) {
		t.Fatalf("start with a bad trusted proxy: %v", err)
	}
}

// TestBadTokenFloodIsAggregated replays issue 14's flood: 5,000 bad-token
// requests. The trail gets a bounded number of auth.failed records whose
// counts add up to 5,000 (the last written when the server stops), the
// rejected metric counts every request, and the real sender from another
// address still gets through.
func TestBadTokenFloodIsAggregated(t *testing.T) {
	cfg := apptest.Config(t, "")
	cfg.Sources = bearerSource()
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	const n = 5000
	for i := 0; i < n; i++ {
		if code := postAs(t, http.DefaultClient, a.URL(), "forged", i, nil); code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
			t.Fatalf("bad token = %d, want 401 or 429", code)
		}
	}
	if code := postAs(t, fromAddr("127.0.0.2"), a.URL(), httpTestToken, 0, nil); code != http.StatusAccepted {
		t.Fatalf("the real sender after the flood = %d, want 202", code)
	}
	fams := scrape(t, a.URL())
	rejected := 0.0
	for _, reason := range []string{"bad_credentials", "too_many_refusals"} {
		v, _ := sample(fams, "firebreak_webhook_requests_rejected_total", map[string]string{"source": "alertmanager", "reason": reason})
		rejected += v
	}
	if rejected != n {
		t.Fatalf("rejected metric counts %v requests, want %d", rejected, n)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(cfg.DBPath(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs, _, err := db.ListAudit(context.Background(), audit.Query{Kind: audit.KindAuthFailed, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) > 4 {
		t.Fatalf("%d auth.failed records for %d refusals, want a handful", len(recs), n)
	}
	total := 0
	for _, r := range recs {
		c, ok := r.Data["count"].(float64)
		if !ok || r.Actor != "127.0.0.1" {
			t.Fatalf("record actor %q count %v", r.Actor, r.Data["count"])
		}
		total += int(c)
	}
	if total != n {
		t.Fatalf("records account for %d refusals, want %d", total, n)
	}
}

// fromAddr is a client whose connections come from ip (all of 127/8 is
// local on Linux).
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestServerCapsConnectionsPerAddress replays issue 14's idle-connection
// hold against the whole server: with http.max_connections_per_ip 50, 60
// keep-alive connections from 127.0.0.1 get 50 answers and 10 closed
// connections, and a sender on another address is still served.
func TestServerCapsConnectionsPerAddress(t *testing.T) {
	cfg := apptest.Config(t, "")
	cfg.Sources = bearerSource()
	cfg.HTTP.MaxConnectionsPerIP = 50
	a := apptest.Start(t, cfg, app.Options{NoDispatch: true})
	conns := make([]net.Conn, 60)
	for i := range conns {
		c, err := net.Dial("tcp", a.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	served := 0
	for _, c := range conns {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: firebreak\r\n\r\n")); err != nil {
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			served++
		}
	}
	if served != 50 {
		t.Fatalf("%d of 60 connections from one address served, want 50", served)
	}
	if code := postAs(t, fromAddr("127.0.0.2"), a.URL(), httpTestToken, 0, nil); code != http.StatusAccepted {
		t.Fatalf("a sender on another address = %d, want 202", code)
	}
}
