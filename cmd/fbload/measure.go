package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space on every architecture it runs on.
const userHZ = 100

// parseStat returns utime+stime of a /proc/PID/stat line. The command name
// (field 2) is in parentheses and may hold spaces, so fields are counted
// from the last ')'.
func parseStat(line string) (time.Duration, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')' after the command name")
	}
	// After ')' come field 3 (state) onwards; utime is field 14, stime 15.
	f := strings.Fields(line[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: utime/stime %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// procCPU is the user and system CPU time process pid has used so far.
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	return parseStat(string(raw))
}

// pendingMetric is the inbox backlog gauge Firebreak exposes.
const pendingMetric = "firebreak_inbox_pending_events"

// processedMetric counts the events the engine finished, by source.
const processedMetric = "firebreak_events_processed_total"

// parseGauge returns the value of metric name in a Prometheus text
// exposition: the sum over its label sets when it has labels.
func parseGauge(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var sum float64
	found := false
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok {
			continue
		}
		if strings.HasPrefix(rest, "{") {
			i := strings.LastIndexByte(rest, '}')
			if i < 0 {
				return 0, fmt.Errorf("%s: unterminated labels in %q", name, rest)
			}
			rest = rest[i+1:]
		}
		if !strings.HasPrefix(rest, " ") {
			continue
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: value %q: %w", name, f[0], err)
		}
		sum, found = sum+v, true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("%s: not in the exposition", name)
	}
	return sum, nil
}

// pending scrapes base/metrics for the inbox backlog.
func pending(ctx context.Context, base string) (float64, error) {
	return scrape(ctx, base, pendingMetric)
}

// scrape reads metric name from base/metrics (summed over its labels).
func scrape(ctx context.Context, base, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	return parseGauge(resp.Body, name)
}

// parseStatus returns RssAnon and RssFile, in bytes, from the text of
// /proc/PID/status: the process's own memory and the file pages it maps
// (the bbolt file is page cache, not the process's memory).
func parseStatus(text string) (anon, file int64, err error) {
	seen := 0
	for _, line := range strings.Split(text, "\n") {
		var dst *int64
		switch {
		case strings.HasPrefix(line, "RssAnon:"):
			dst = &anon
		case strings.HasPrefix(line, "RssFile:"):
			dst = &file
		default:
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			return 0, 0, fmt.Errorf("status: unexpected line %q", line)
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("status: %q: %w", line, err)
		}
		*dst, seen = kb<<10, seen+1
	}
	if seen != 2 {
		return 0, 0, errors.New("status: no RssAnon and RssFile lines")
	}
	return anon, file, nil
}

// procMem reads process pid's RssAnon and RssFile.
func procMem(pid int) (anon, file int64, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read memory: %w", err)
	}
	return parseStatus(string(raw))
}

// drain polls the backlog every interval until it is zero and returns how
// long that took, or an error after limit.
func drain(ctx context.Context, base string, interval, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		n, err := pending(ctx, base)
		if err != nil {
			return time.Since(start), err
		}
		if n == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return time.Since(start), fmt.Errorf("inbox still holds %.0f events after %s", n, limit)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(interval):
		}
	}
}

// watchMem samples process pid's memory every interval until the returned
// function is called, which returns the peak RssAnon and RssFile seen.
func watchMem(pid int, interval time.Duration) func() (anon, file int64) {
	var peakAnon, peakFile int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if a, f, err := procMem(pid); err == nil {
				peakAnon, peakFile = max(peakAnon, a), max(peakFile, f)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, int64) { close(stop); <-done; return peakAnon, peakFile }
}
