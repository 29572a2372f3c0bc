package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// notifyPlaybook matches every event and runs one webhook.notify to
// fbload's own receiver (%s is its URL), executing.
const notifyPlaybook = `name: bench-notify
description: fbload keepup's playbook, every event notifies a local receiver.
match: "true"
mode: auto
steps:
  - action: webhook.notify
    with: { url: "%s/hook" }
`

// keepupOptions are keepup's flags.
type keepupOptions struct {
	firebreak string
	clients   int
	duration  time.Duration
	body      string
	workers   int
	retention time.Duration
	sample    time.Duration
	dir       string
}

var bodyByFlag = map[string]int{"am1": 0, "am10": 1, "falco": 2}

func parseKeepupFlags(args []string, stderr io.Writer) (keepupOptions, error) {
	fs := flag.NewFlagSet("keepup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o keepupOptions
	fs.StringVar(&o.firebreak, "firebreak", "./firebreak", "the firebreak binary to serve")
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "length of the load")
	fs.StringVar(&o.body, "body", "am1", "am1 (one-alert Alertmanager body), am10 (ten alerts) or falco")
	fs.IntVar(&o.workers, "workers", 0, "Firebreak's workers setting (0: its default)")
	fs.DurationVar(&o.retention, "retention", 20*time.Second, "audit.retention.max_age for the run; inbox_max_age is half of it, the interval a quarter (0: retention off)")
	fs.DurationVar(&o.sample, "sample", 5*time.Second, "how often the backlog, memory and file size are sampled and printed")
	fs.StringVar(&o.dir, "dir", "", "directory for Firebreak's data (default: a new temporary directory, removed after)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if _, ok := bodyByFlag[o.body]; !ok {
		return o, fmt.Errorf("-body %q: want am1, am10 or falco", o.body)
	}
	if o.clients <= 0 || o.duration <= 0 || o.workers < 0 || o.retention < 0 || o.sample <= 0 {
		return o, errors.New("-clients, -duration and -sample must be positive, -workers and -retention not negative")
	}
	return o, nil
}

func cmdKeepup(args []string, stdout, stderr io.Writer) int {
	return runCommand(args, stdout, stderr, parseKeepupFlags, runKeepup)
}

// sample is one reading taken during a keepup load.
type sample struct {
	at                time.Duration
	pending, finished float64
	anon, file        int64 // RssAnon, RssFile
	dbSize            int64
}

func runKeepup(ctx context.Context, o keepupOptions, stdout, stderr io.Writer) error {
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "fbload-keepup-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	recv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = recv.Serve(ln) }()
	defer recv.Close()

	var extra string
	if o.retention > 0 {
		extra = fmt.Sprintf("audit:\n  retention:\n    max_age: %s\n    inbox_max_age: %s\n    interval: %s\n",
			o.retention, o.retention/2, max(o.retention/4, time.Second))
	}
	fbDir := filepath.Join(dir, "firebreak")
	fb, err := startFirebreak(ctx, o.firebreak, fbDir, o.workers, extra, fmt.Sprintf(notifyPlaybook, "http://"+ln.Addr().String()), stderr)
	if err != nil {
		return err
	}
	defer stopTarget(fb)
	dbPath := filepath.Join(fbDir, "data", "firebreak.db")
	pid := fb.cmd.Process.Pid
	b := bodies[bodyByFlag[o.body]]

	nonce := make([]byte, 3)
	_, _ = rand.Read(nonce)
	var next atomic.Int64
	cpu0, err := procCPU(pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "fbload keepup: %s, %d clients, %s, retention %s\n", b.name, o.clients, o.duration, o.retention)
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		done <- drive(ctx, fb.base+"/hooks/"+b.hook, o.clients, o.duration, 1<<62, b, hex.EncodeToString(nonce), &next)
	}()
	var samples []sample
	take := func() error {
		s := sample{at: time.Since(start)}
		var err error
		if s.pending, err = scrape(ctx, fb.base, pendingMetric); err != nil {
			return err
		}
		if s.finished, err = scrape(ctx, fb.base, processedMetric); err != nil {
			return err
		}
		if s.anon, s.file, err = procMem(pid); err != nil {
			return err
		}
		if st, err := os.Stat(dbPath); err == nil {
			s.dbSize = st.Size()
		}
		samples = append(samples, s)
		fmt.Fprintf(stderr, "fbload keepup: %5.0fs processed %8.0f backlog %7.0f anon %s file %s db %s\n",
			s.at.Seconds(), s.finished, s.pending, mib(s.anon), mib(s.file), mib(s.dbSize))
		return nil
	}
	tick := time.NewTicker(o.sample)
	defer tick.Stop()
	var res result
wait:
	for {
		select {
		case res = <-done:
			break wait
		case <-tick.C:
			if err := take(); err != nil {
				return err
			}
		}
	}
	if err := take(); err != nil {
		return err
	}
	cpu1, err := procCPU(pid)
	if err != nil {
		return err
	}
	if res.errors > 0 {
		return fmt.Errorf("%d of %d requests failed, first: %s", res.errors, res.requests, res.firstErr)
	}
	printKeepup(stdout, o, b, res, samples, hits.Load(), cpu1-cpu0)
	return nil
}

// printKeepup writes the keepup summary as a Markdown table.
func printKeepup(w io.Writer, o keepupOptions, b body, res result, samples []sample, actions int64, cpu time.Duration) {
	last := samples[len(samples)-1]
	half := samples[0]
	var peakAnon, peakFile int64
	var maxBacklog float64
	for _, s := range samples {
		if s.at <= last.at/2 {
			half = s
		}
		peakAnon, peakFile = max(peakAnon, s.anon), max(peakFile, s.file)
		maxBacklog = max(maxBacklog, s.pending)
	}
	secs := res.elapsed.Seconds()
	perEvent := func(n int64) string {
		if last.finished == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f B", float64(n)/last.finished)
	}
	fmt.Fprintf(w, "keepup: %s, %d clients, %s load, retention %s\n\n", b.name, o.clients, res.elapsed.Round(time.Millisecond), o.retention)
	fmt.Fprintln(w, "| accepted ev/s | processed ev/s | actions/s | backlog at half / end (max) | p99 ack | CPU per processed event | peak RSS anon / file | db file at half / end | db file per processed event |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	cpuPer := "–"
	if last.finished > 0 {
		cpuPer = us(cpu / time.Duration(last.finished))
	}
	fmt.Fprintf(w, "| %s | %s | %s | %.0f / %.0f (%.0f) | %s | %s | %s / %s | %s / %s | %s |\n",
		kilo(float64(res.accepted)/secs), kilo(last.finished/last.at.Seconds()), kilo(float64(actions)/secs),
		half.pending, last.pending, maxBacklog, ms(res.p99()), cpuPer,
		mib(peakAnon), mib(peakFile), mib(half.dbSize), mib(last.dbSize), perEvent(last.dbSize))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
