package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web"
	"github.com/firebreak/firebreak/web/sources"
)

type nopEngine struct{}

func (nopEngine) Notify()                   {}
func (nopEngine) Playbooks() *playbooks.Set { return nil }

// payload returns a one-alert Alertmanager body with a distinct
// fingerprint, so idempotency absorbs nothing.
func payload(i int64) []byte {
	return []byte(fmt.Sprintf(`{"version":"4","status":"firing","receiver":"fb","groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","deployment":"cart-api","pod":"cart-api-7d9c-%d","severity":"critical"},"annotations":{"summary":"pod is crash looping","description":"Pod shop/cart-api is restarting 3 times / 5 minutes."},"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example/graph?g0.expr=x","fingerprint":"%016x"}]}`,
		i, time.Now().UTC().Format(time.RFC3339Nano), i))
}

// load posts b.N requests from 16 concurrent clients and reports events/s.
func load(b *testing.B, url string) {
	var n atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(url, "application/json", bytes.NewReader(payload(n.Add(1))))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkIngest compares the durable ingest path (decode, fsync'd group
// commit to the bbolt inbox, 202) with a bare gin handler that only decodes
// the same JSON, both over loopback HTTP with 16 concurrent clients.
func BenchmarkIngest(b *testing.B) {
	b.Run("bare-gin-decode", func(b *testing.B) {
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		r.POST("/hooks/alertmanager", func(c *gin.Context) {
			var m struct {
				Alerts []struct {
					Status      string            `json:"status"`
					Labels      map[string]string `json:"labels"`
					Annotations map[string]string `json:"annotations"`
					StartsAt    time.Time         `json:"startsAt"`
					Fingerprint string            `json:"fingerprint"`
				} `json:"alerts"`
			}
			if err := json.NewDecoder(c.Request.Body).Decode(&m); err != nil {
				c.AbortWithStatus(http.StatusBadRequest)
				return
			}
			c.JSON(http.StatusAccepted, gin.H{"accepted": len(m.Alerts), "duplicates": 0})
		})
		srv := httptest.NewServer(r)
		defer srv.Close()
		load(b, srv.URL+"/hooks/alertmanager")
	})
	b.Run("durable-inbox", func(b *testing.B) {
		db, err := store.Open(filepath.Join(b.TempDir(), "firebreak.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		s := web.New(web.Config{Inbox: db, Audit: db, Engine: nopEngine{}, Sources: map[string]web.Source{"alertmanager": {Decoder: sources.Alertmanager{}}}})
		srv := httptest.NewServer(s)
		defer srv.Close()
		load(b, srv.URL+"/hooks/alertmanager")
		commits, fns := db.CommitStats()
		if commits > 0 {
			b.ReportMetric(float64(fns)/float64(commits), "requests/commit")
		}
	})
}
