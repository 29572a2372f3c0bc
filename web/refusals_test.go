package web_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/internal/fakeclock"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web"
	"github.com/firebreak/firebreak/web/auth"
	"github.com/firebreak/firebreak/web/sources"
)

const realToken = "the-real-senders-token"

// recorder keeps the auth.failed records the server hands over and counts
// the rejected metric by reason.
type recorder struct {
	mu       sync.Mutex
	recs     []audit.Record
	rejected map[string]int
}

func (r *recorder) record(rec audit.Record) { r.mu.Lock(); r.recs = append(r.recs, rec); r.mu.Unlock() }
func (r *recorder) Rejected(_, reason string) {
	r.mu.Lock()
	r.rejected[reason]++
	r.mu.Unlock()
}
func (r *recorder) Received(string, int, int, int, time.Duration) {}

func (r *recorder) snapshot() ([]audit.Record, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for k, v := range r.rejected {
		m[k] = v
	}
	return append([]audit.Record(nil), r.recs...), m
}

// total sums the refusals the records account for.
func total(t *testing.T, recs []audit.Record) int {
	t.Helper()
	n := 0
	for _, r := range recs {
		c, ok := r.Data["count"].(int)
		if !ok {
			t.Fatalf("record without an int count: %+v", r)
		}
		n += c
	}
	return n
}

// refusalServer is a real server on 127.0.0.1 with a bearer-token
// Alertmanager source in front of a real store.
func refusalServer(t *testing.T, clock func() time.Time, limiter *rate.Limiter) (*httptest.Server, *web.Server, *recorder) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "firebreak.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := auth.New(auth.Config{Type: auth.TypeBearer, Token: realToken})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{rejected: map[string]int{}}
	s := web.New(web.Config{Inbox: db, Engine: nopEngine{}, Now: clock, Metrics: rec, OnAuthFailure: rec.record,
		Sources: map[string]web.Source{"alertmanager": {Decoder: sources.Alertmanager{}, Auth: a, Limiter: limiter}}})
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return hs, s, rec
}

// clientFrom sends from a given loopback address (all of 127/8 is local).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func postToken(t *testing.T, c *http.Client, url, token string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/hooks/alertmanager", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRefusalsAreAggregated: N bad-token requests from one address make two
// auth.failed records (the first at once, the rest with their count when
// the interval ends), every refusal is counted in the rejected metric, and
// after its budget the address is answered 429 unread.
func TestRefusalsAreAggregated(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	hs, s, rec := refusalServer(t, clock.Now, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	body := fixture(t, "alertmanager-firing-group.json")
	const n = 300
	codes := map[int]int{}
	for i := 0; i < n; i++ {
		codes[postToken(t, http.DefaultClient, hs.URL, "forged", body)]++
	}
	if codes[http.StatusUnauthorized] == 0 || codes[http.StatusTooManyRequests] == 0 || codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests] != n {
		t.Fatalf("answers %v: want 401s, then 429s once the address's budget is spent", codes)
	}
	recs, rejected := rec.snapshot()
	if len(recs) != 1 {
		t.Fatalf("%d records during the interval, want 1 (the first refusal)", len(recs))
	}
	if recs[0].Actor != "127.0.0.1" || recs[0].Source != "alertmanager" || recs[0].Kind != audit.KindAuthFailed {
		t.Fatalf("first record %+v", recs[0])
	}
	if rejected["bad_credentials"] != codes[http.StatusUnauthorized] || rejected[web.ReasonTooManyRefusals] != codes[http.StatusTooManyRequests] {
		t.Fatalf("rejected metric %v, answers %v", rejected, codes)
	}

	// The interval ends: the next refusal closes the old window (one
	// record with the rest's count) and opens a new one.
	clock.Advance(web.DefaultRefusalInterval + time.Second)
	if code := postToken(t, http.DefaultClient, hs.URL, "forged", body); code != http.StatusUnauthorized {
		t.Fatalf("after the interval the budget is back: got %d, want 401", code)
	}
	recs, _ = rec.snapshot()
	if len(recs) != 3 {
		t.Fatalf("%d records after one interval, want 3", len(recs))
	}
	if c := recs[1].Data["count"]; c != n-1 {
		t.Fatalf("aggregated record counts %v, want %d", c, n-1)
	}
	// A token that now authenticates is not refused by the address's
	// earlier failures once its budget refilled.
	if code := postToken(t, http.DefaultClient, hs.URL, realToken, body); code != http.StatusAccepted {
		t.Fatalf("the right token = %d, want 202", code)
	}
	// Stopping records what is still counted.
	for i := 0; i < 5; i++ {
		postToken(t, http.DefaultClient, hs.URL, "forged", body)
	}
	cancel()
	<-done
	recs, _ = rec.snapshot()
	if len(recs) != 4 {
		t.Fatalf("%d records after the final flush, want 4", len(recs))
	}
	if got := total(t, recs); got != n+1+5 {
		t.Fatalf("records account for %d refusals, want %d", got, n+1+5)
	}
}

// TestUnauthenticatedFloodCannotSpendTheSourceRate: a flood of bad-token
// requests from 127.0.0.2 leaves the source's rate limit to the real
// sender on 127.0.0.1, whose authenticated requests all get through.
func TestUnauthenticatedFloodCannotSpendTheSourceRate(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	const burst = 5
	hs, _, rec := refusalServer(t, clock.Now, rate.NewLimiter(rate.Every(time.Hour), burst))
	body := fixture(t, "alertmanager-firing-group.json")
	attacker := clientFrom("127.0.0.2")
	for i := 0; i < 200; i++ {
		if code := postToken(t, attacker, hs.URL, "forged", body); code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
			t.Fatalf("flood request = %d", code)
		}
	}
	for i := 0; i < burst; i++ {
		if code := postToken(t, http.DefaultClient, hs.URL, realToken, body); code != http.StatusAccepted {
			t.Fatalf("authenticated request %d after the flood = %d, want 202", i, code)
		}
	}
	if code := postToken(t, http.DefaultClient, hs.URL, realToken, body); code != http.StatusTooManyRequests {
		t.Fatalf("authenticated request over the source's rate = %d, want 429", code)
	}
	recs, _ := rec.snapshot()
	if len(recs) != 1 || recs[0].Actor != "127.0.0.2" {
		t.Fatalf("%d records, want one for 127.0.0.2", len(recs))
	}
}
