package dashboard_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
	"github.com/firebreak/firebreak/engine/audit"
)

// benchNow is the clock of the benchmark server: the trail ends here.
var benchNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// benchRecord is one of five records per event, as the engine writes them
// for a two-step playbook whose second step's when condition is false:
// received, matched, started, succeeded, skipped.
func benchRecord(i int, t time.Time) audit.Record {
	ev := i / 5
	r := audit.Record{
		Time: t, EventID: fmt.Sprintf("alertmanager:%016x:firing", ev), Source: "alertmanager",
		Kind: []audit.Kind{audit.KindReceived, audit.KindMatched, audit.KindStepStarted, audit.KindStepSucceeded, audit.KindStepSkipped}[i%5],
	}
	if i%5 > 0 {
		r.Playbook = fmt.Sprintf("playbook-%02d", ev%20)
		r.Message = "matched: labels.namespace == \"shop\""
	}
	if i%5 > 1 {
		r.Step, r.Action, r.Target, r.Outcome = audit.StepIndex(0), "kubernetes.restart", fmt.Sprintf("Deployment/ns-%d/app-%d", ev%50, ev%300), "ok"
		r.Message = "restarted Deployment: 3 pods replaced"
		r.Data = map[string]any{"params": map[string]any{"kind": "Deployment", "namespace": fmt.Sprintf("ns-%d", ev%50), "name": fmt.Sprintf("app-%d", ev%300)},
			"attempts": 1, "duration_ms": 1200}
	}
	if i%5 == 4 {
		r.Step, r.Action, r.Outcome, r.Data = audit.StepIndex(1), "slack.notify", "when_false", nil
		r.Message = "the step's when condition is false"
	}
	return r
}

// benchServer starts the real app (bbolt in a temp dir, fsync off for the
// set-up only) with n records spread evenly over span before benchNow.
func benchServer(b *testing.B, n int, span time.Duration) (*app.App, app.Config) {
	b.Helper()
	cfg := apptest.Config(b, "")
	a := apptest.Start(b, cfg, benchOptions())
	step := span / time.Duration(n)
	t0 := benchNow.Add(-span)
	ctx := context.Background()
	batch := make([]audit.Record, 0, 1000)
	for i := 0; i < n; i++ {
		batch = append(batch, benchRecord(i, t0.Add(time.Duration(i)*step)))
		if len(batch) == cap(batch) || i == n-1 {
			if err := a.DB.Audit(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return a, cfg
}

func benchOptions() app.Options {
	return app.Options{Now: func() time.Time { return benchNow }, NoSync: true, NoDispatch: true}
}

// benchGet renders path through h as a loopback browser in open mode.
func benchGet(b *testing.B, h http.Handler, path string, cookie *http.Cookie) *httptest.ResponseRecorder {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Accept", "text/html")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("GET %s: %d %s", path, w.Code, w.Body.String())
	}
	return w
}

// BenchmarkPages renders /, /events/<id> and /audit through the real
// router with 100,000 audit records in the store: spread over a week
// (about 600 records an hour), and all within the last hour (the worst
// case for the overview's last-hour counters). The *_cold rows time the
// first render of a page by a server just started over that store (the
// start itself is not timed): nothing the pages cache is warm yet.
// waitCounted polls the overview's counters until they are counted.
func waitCounted(b *testing.B, h http.Handler) {
	b.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if !strings.Contains(benchGet(b, h, "/overview/counts", nil).Body.String(), "counting") {
			return
		}
	}
	b.Fatal("the overview's counters were still counting after a minute")
}

func BenchmarkPages(b *testing.B) {
	const n = 100_000
	for _, layout := range []struct {
		name string
		span time.Duration
	}{{"week", 7 * 24 * time.Hour}, {"hour", 59 * time.Minute}} {
		b.Run(layout.name, func(b *testing.B) {
			a, cfg := benchServer(b, n, layout.span)
			// Open mode (no tokens, loopback peer): the first request
			// starts the session the others reuse.
			var cookie *http.Cookie
			get := func(b *testing.B, path string) {
				w := benchGet(b, a.Web, path, cookie)
				if cookie == nil {
					for _, c := range w.Result().Cookies() {
						if c.Name == "firebreak_session" {
							cookie = c
						}
					}
				}
			}
			mid := fmt.Sprintf("/events/alertmanager:%016x:firing", n/5/2)
			cold := []struct{ name, path string }{{"overview_cold", "/"}, {"timeline_cold", mid}, {"audit_cold", "/audit"}}
			if err := a.Close(); err != nil {
				b.Fatal(err)
			}
			for _, p := range cold {
				b.Run(p.name, func(b *testing.B) {
					b.ReportAllocs()
					for i := 0; i < b.N; i++ {
						b.StopTimer()
						fresh, err := app.Start(context.Background(), cfg, slog.New(slog.DiscardHandler), benchOptions())
						if err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
						benchGet(b, fresh.Web, p.path, nil)
						b.StopTimer()
						if err := fresh.Close(); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
				})
			}
			// overview_counted times a fresh server's start until the
			// overview shows the last hour's counts: the background warm-up.
			b.Run("overview_counted", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					fresh, err := app.Start(context.Background(), cfg, slog.New(slog.DiscardHandler), benchOptions())
					if err != nil {
						b.Fatal(err)
					}
					waitCounted(b, fresh.Web)
					b.StopTimer()
					if err := fresh.Close(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
			a = apptest.Start(b, cfg, benchOptions())
			waitCounted(b, a.Web) // the warm rows time a warmed-up server
			for _, p := range []struct{ name, path string }{{"overview", "/"}, {"timeline", mid}, {"audit", "/audit"}, {"audit_filtered", "/audit?playbook=playbook-07&kind=step.succeeded&since=3h"}} {
				b.Run(p.name, func(b *testing.B) {
					get(b, p.path)
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						get(b, p.path)
					}
				})
			}
		})
	}
}
