package etcd_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
)

// appender is what both stores offer the ingest path.
type appender interface {
	AppendEvents(ctx context.Context, events []event.Event) ([]uint64, error)
}

var benchIDs atomic.Uint64

// BenchmarkAppendEvents measures durable ingest of one-alert and ten-alert
// calls at 16 and 64 concurrent callers, on a real 3-member etcd cluster (fsync on,
// every commit on a quorum) and on the single-node bbolt store (fsync on),
// in the same run. It reports events/s and the p99 acknowledgement latency
// (of a call). b.N counts events.
//
//	go test -run '^$' -bench AppendEvents -benchtime 4000x ./store/etcd
func BenchmarkAppendEvents(b *testing.B) {
	c := startCluster(b, true)
	etcdStore := c.open(b, nil)
	db, err := store.Open(filepath.Join(b.TempDir(), "firebreak.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	for _, backend := range []struct {
		name string
		s    appender
	}{{"etcd3", etcdStore}, {"bbolt", db}} {
		for _, alerts := range []int{1, 10} {
			for _, clients := range []int{16, 64} {
				b.Run(fmt.Sprintf("%s/alerts=%d/clients=%d", backend.name, alerts, clients), func(b *testing.B) {
					benchAppend(b, backend.s, clients, alerts)
				})
			}
		}
	}
}

// BenchmarkClaim measures step claims per second (claim, then commit the
// outcome under the fencing token) at 16 concurrent callers on the
// 3-member cluster.
//
//	go test -run '^$' -bench Claim -benchtime 2000x ./store/etcd
func BenchmarkClaim(b *testing.B) {
	c := startCluster(b, true)
	s := c.open(b, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lease, err := s.Grant(ctx, 60)
	if err != nil {
		b.Fatal(err)
	}
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Value
	)
	b.ResetTimer()
	start := time.Now()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				key := fmt.Sprintf("bench-%d-%d|pb|steps|0", benchIDs.Add(1), i)
				cl, err := s.Claim(ctx, key, "bench", lease)
				if err == nil {
					err = s.CommitOutcome(ctx, cl, []byte("ok"))
				}
				if err != nil {
					failed.Store(err.Error())
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "claims/s")
	b.ReportMetric(0, "ns/op")
}

// benchAppend runs b.N events through s from clients goroutines, alerts
// events per call (one Alertmanager body of that many alerts).
func benchAppend(b *testing.B, s appender, clients, alerts int) {
	ctx := context.Background()
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		lat    = make([]time.Duration, 0, b.N)
		failed atomic.Value
	)
	body := []byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"cart-7d9f"}}]}`)
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, b.N/clients+1)
			for next.Add(int64(alerts)) <= int64(b.N)+int64(alerts)-1 {
				evs := make([]event.Event, alerts)
				for k := range evs {
					id := fmt.Sprintf("bench-%d", benchIDs.Add(1))
					evs[k] = event.Event{ID: id, Source: "alertmanager", Status: event.StatusFiring, Name: "KubePodCrashLooping", Fingerprint: id, Raw: body}
				}
				t0 := time.Now()
				seqs, err := s.AppendEvents(ctx, evs)
				d := time.Since(t0)
				if err != nil || slices.Contains(seqs, 0) {
					failed.Store(fmt.Sprintf("append %s: %v %v", evs[0].ID, seqs, err))
					return
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	slices.Sort(lat)
	p99 := lat[(len(lat)*99+99)/100-1] // the smallest latency >= 99% of all
	// Events, not calls: a ten-alert call acknowledges ten.
	b.ReportMetric(float64(len(lat)*alerts)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// updater is what both stores offer the engine.
type updater interface {
	Update(ctx context.Context, fn func(state.Tx) error) error
}

// BenchmarkUpdateClaims measures step claims through Update, as the
// engine makes them: one transaction reads the step's claim key (absent),
// writes it "started" with a step.started record, a second writes the
// outcome with a step.succeeded record. 16 concurrent callers, on the
// 3-member cluster through two replicas (the audit head is contended:
// a commit that finds it moved chains again and retries), through one
// replica, and on bbolt, in the same run. b.N counts claims.
//
//	go test -run '^$' -bench UpdateClaims -benchtime 2000x ./store/etcd
func BenchmarkUpdateClaims(b *testing.B) {
	c := startCluster(b, true)
	r1, r2 := c.open(b, nil), c.open(b, nil)
	db, err := store.Open(filepath.Join(b.TempDir(), "firebreak.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	for _, backend := range []struct {
		name string
		s    []updater
	}{{"etcd3", []updater{r1, r2}}, {"etcd3-one-replica", []updater{r1}}, {"bbolt", []updater{db}}} {
		b.Run(backend.name+"/clients=16", func(b *testing.B) {
			benchClaims(b, backend.s, 16)
		})
	}
	st1, st2 := r1.UpdateStats(), r2.UpdateStats()
	b.Logf("etcd replicas: %+v / %+v", st1, st2)
}

func benchClaims(b *testing.B, reps []updater, clients int) {
	ctx := context.Background()
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		lat    = make([]time.Duration, 0, b.N)
		failed atomic.Value
	)
	b.ResetTimer()
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := reps[w%len(reps)]
			var mine []time.Duration
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				id := fmt.Sprintf("ev-%d-%d", benchIDs.Add(1), i)
				key := id + "|restart|steps|0"
				t0 := time.Now()
				err := s.Update(ctx, func(tx state.Tx) error {
					if tx.Get("steps", key) != nil {
						return fmt.Errorf("step %s claimed twice", key)
					}
					if err := tx.Put("steps", key, []byte(`{"status":"started"}`)); err != nil {
						return err
					}
					return tx.Audit(audit.Record{Kind: audit.KindStepStarted, EventID: id, Playbook: "restart", Step: audit.StepIndex(0), Action: "kubernetes.restart", Outcome: "started"})
				})
				if err == nil {
					err = s.Update(ctx, func(tx state.Tx) error {
						if err := tx.Put("steps", key, []byte(`{"status":"done"}`)); err != nil {
							return err
						}
						return tx.Audit(audit.Record{Kind: audit.KindStepSucceeded, EventID: id, Playbook: "restart", Step: audit.StepIndex(0), Action: "kubernetes.restart", Outcome: "ok"})
					})
				}
				if err != nil {
					failed.Store(err.Error())
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	slices.Sort(lat)
	p99 := lat[(len(lat)*99+99)/100-1]
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "claims/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}
