package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak/firebreak/web/loadbase"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and a ')' of its own; utime 250, stime 50.
	line := "4242 (fire break) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 77 1000 200\n"
	got, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("parseStat = %s, want %s", got, want)
	}
	for _, bad := range []string{"4242 fire S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 900 0 0 0 2x5 50 0"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) = nil error", bad)
		}
	}
	// This process's own line parses too.
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Errorf("procCPU(self): %v", err)
	}
}

func TestParseGauge(t *testing.T) {
	expo := `# HELP firebreak_inbox_pending_events Accepted events not yet processed.
# TYPE firebreak_inbox_pending_events gauge
firebreak_inbox_pending_events_other 7
firebreak_inbox_pending_events 1234
firebreak_breakers{playbook="x",state="open"} 1
`
	v, err := parseGauge(strings.NewReader(expo), pendingMetric)
	if err != nil || v != 1234 {
		t.Errorf("parseGauge = %v, %v; want 1234", v, err)
	}
	if _, err := parseGauge(strings.NewReader("firebreak_inbox_pending_events_other 7\n"), pendingMetric); err == nil {
		t.Error("parseGauge found a metric that is not there")
	}
}

func TestParseRunFlags(t *testing.T) {
	o, err := parseRunFlags([]string{"-clients", "16, 64", "-duration", "2s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.clients) != 2 || o.clients[0] != 16 || o.clients[1] != 64 || o.duration != 2*time.Second {
		t.Errorf("options = %+v", o)
	}
	for _, bad := range [][]string{{"-clients", "16,x"}, {"-clients", "0"}, {"-rounds", "0"}, {"extra"}} {
		if _, err := parseRunFlags(bad, io.Discard); err == nil {
			t.Errorf("parseRunFlags(%q) = nil error", bad)
		}
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 200; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	if got := percentile(lat, 0.99); got != 198*time.Millisecond {
		t.Errorf("p99 of 1..200 ms = %s, want 198ms", got)
	}
	if got := percentile(nil, 0.99); got != 0 {
		t.Errorf("p99 of nothing = %s", got)
	}
}

// TestDriveAndReport loads the bare and bound handlers over real loopback
// HTTP, bounded by count, and checks what drive counted and what the table
// reports from it.
func TestDriveAndReport(t *testing.T) {
	lg, err := openSyncLog(filepath.Join(t.TempDir(), "bound.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer lg.close()
	bare := httptest.NewServer(loadbase.Handler(nil))
	defer bare.Close()
	bound := httptest.NewServer(loadbase.Handler(lg.append))
	defer bound.Close()

	ten := bodies[1]
	var next atomic.Int64
	r := row{body: ten.name, clients: 4}
	for name, srv := range map[string]*httptest.Server{"bare": bare, "bound": bound} {
		res := drive(context.Background(), srv.URL+"/hooks/alertmanager", 4, time.Minute, 50, ten, "abcdef", &next)
		if res.errors != 0 || res.requests != 5 || res.accepted != 50 || len(res.lat) != 5 {
			t.Fatalf("%s: requests %d, accepted %d, errors %d (%s), latencies %d; want 5, 50, 0, 5",
				name, res.requests, res.accepted, res.errors, res.firstErr, len(res.lat))
		}
		r.add(name, measurement{res: res, cpu: 50 * time.Millisecond})
	}
	// The bound wrote the bodies it acknowledged to its file.
	head := make([]byte, 16)
	if _, err := lg.f.ReadAt(head, 0); err != nil || !bytes.HasPrefix(head, []byte(`{"version":"4"`)) {
		t.Errorf("bound log starts %q (%v), want an Alertmanager body", head, err)
	}
	// Firebreak's figures from made-up totals: 50 events in 0.5 s of load
	// and 0.5 s of drain is 50 ev/s end to end; 50 ms of CPU is 1 ms each.
	r.add("firebreak", measurement{res: result{accepted: 50, elapsed: 500 * time.Millisecond}, drain: 500 * time.Millisecond, cpu: 50 * time.Millisecond, anon: 20 << 20, file: 3 << 19})
	var out strings.Builder
	printTable(&out, []row{r})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines, want header, rule and one row:\n%s", len(lines), out.String())
	}
	if !strings.HasPrefix(lines[2], "| alertmanager ten alerts | 4 | ") || !strings.Contains(lines[2], "| 100 | ") || !strings.HasSuffix(lines[2], "| 50 | 1000 µs / 1000 µs | 20.0 MiB / 1.5 MiB |") {
		t.Errorf("row = %s", lines[2])
	}
}

func TestUnknownCommand(t *testing.T) {
	var stderr strings.Builder
	if code := run([]string{"fly"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown command "fly"`) {
		t.Errorf("run(fly) = %d, %q", code, stderr.String())
	}
}

func TestParseGaugeSumsLabels(t *testing.T) {
	expo := `firebreak_events_processed_total{source="alertmanager"} 40
firebreak_events_processed_total{source="falco"} 2
firebreak_events_processed_totally 9
`
	v, err := parseGauge(strings.NewReader(expo), processedMetric)
	if err != nil || v != 42 {
		t.Errorf("parseGauge = %v, %v; want 42", v, err)
	}
}

func TestParseStatus(t *testing.T) {
	text := "Name:\tfirebreak\nVmRSS:\t  90000 kB\nRssAnon:\t   20480 kB\nRssFile:\t   69632 kB\nRssShmem:\t       0 kB\n"
	anon, file, err := parseStatus(text)
	if err != nil || anon != 20<<20 || file != 68<<20 {
		t.Errorf("parseStatus = %d, %d, %v; want 20 MiB, 68 MiB", anon, file, err)
	}
	if _, _, err := parseStatus("Name:\tx\nVmRSS:\t1 kB\n"); err == nil {
		t.Error("parseStatus accepted a status without RssAnon and RssFile")
	}
}

func TestParseKeepupFlags(t *testing.T) {
	o, err := parseKeepupFlags([]string{"-body", "falco", "-clients", "64"}, io.Discard)
	if err != nil || o.body != "falco" || o.clients != 64 || o.duration != 60*time.Second {
		t.Errorf("parseKeepupFlags = %+v, %v; want falco, 64 clients, the 60 s default", o, err)
	}
	if _, err := parseKeepupFlags([]string{"-body", "xml"}, io.Discard); err == nil {
		t.Error("parseKeepupFlags accepted an unknown body")
	}
}
