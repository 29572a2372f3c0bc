// Package storetest holds what the tests and benchmarks of both stores
// (the bbolt file in store, etcd in store/etcd) share, so that the two
// run the same checks: the sample payloads of every source with their
// real decoders, a field-by-field comparison of events, and the benchmark
// of reading the trail as the dashboard's counter does.
package storetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/web/sources"
)

// Sample is one sample payload of web/sources/testdata and the decoder of
// its source.
type Sample struct {
	File    string
	Body    []byte
	Decoder sources.Decoder
}

// Samples reads every sample payload in dir (web/sources/testdata, given
// relative to the calling test's package) whose source has a built-in
// decoder; the name's first dash-separated word names the source. It
// fails t when there are fewer than 20.
func Samples(t testing.TB, dir string) []Sample {
	t.Helper()
	decoders := map[string]sources.Decoder{
		"alertmanager": sources.Alertmanager{}, "azure": sources.Azure{}, "elastic": sources.Elastic{},
		"falco": sources.Falco{}, "grafana": sources.Grafana{}, "graylog": sources.Graylog{},
		"splunk": sources.Splunk{}, "wazuh": sources.Wazuh{},
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) < 20 {
		t.Fatalf("sample payloads in %s: %d files, %v", dir, len(files), err)
	}
	var out []Sample
	for _, file := range files {
		dec, ok := decoders[strings.SplitN(filepath.Base(file), "-", 2)[0]]
		if !ok {
			continue
		}
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Sample{File: file, Body: body, Decoder: dec})
	}
	return out
}

// EventDiff names the fields in which a and b differ, with both values
// (Raw abbreviated to its length and ends); "" when they are deeply equal.
func EventDiff(a, b event.Event) string {
	var out []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		if reflect.DeepEqual(fa, fb) {
			continue
		}
		name := va.Type().Field(i).Name
		if name == "Raw" {
			out = append(out, fmt.Sprintf("Raw: %d bytes ending %q vs %d bytes ending %q", len(a.Raw), tail(a.Raw), len(b.Raw), tail(b.Raw)))
			continue
		}
		out = append(out, fmt.Sprintf("%s: %#v vs %#v", name, fa, fb))
	}
	return strings.Join(out, "; ")
}

func tail(b []byte) string { return string(b[max(0, len(b)-8):]) }

// AuditReader is what BenchAuditReads reads through.
type AuditReader interface {
	ListAudit(ctx context.Context, q audit.Query) ([]audit.Record, uint64, error)
	AuditHeads(ctx context.Context, q audit.Query) ([]audit.Head, uint64, error)
}

// BenchAuditReads reads the n records from since on the way the
// dashboard's last-hour counter does — from a time bound, in pages of
// 1,000 after a cursor — through ListAudit (a full decode of each) and
// through AuditHeads (the sequence, time and kind only), as two
// sub-benchmarks. ns/record is per record read; B/op and allocs/op are
// per read of all n.
func BenchAuditReads(b *testing.B, r AuditReader, since time.Time, n int) {
	ctx := context.Background()
	readAll := func(b *testing.B, read func(q audit.Query) (int, uint64, error)) {
		q := audit.Query{Since: since, Limit: 1000}
		got := 0
		for {
			k, next, err := read(q)
			if err != nil {
				b.Fatal(err)
			}
			got += k
			if next == 0 {
				break
			}
			q.After = next
		}
		if got != n {
			b.Fatalf("read %d records, want %d", got, n)
		}
	}
	for _, c := range []struct {
		name string
		read func(q audit.Query) (int, uint64, error)
	}{
		{"ListAudit", func(q audit.Query) (int, uint64, error) {
			recs, next, err := r.ListAudit(ctx, q)
			return len(recs), next, err
		}},
		{"AuditHeads", func(q audit.Query) (int, uint64, error) {
			heads, next, err := r.AuditHeads(ctx, q)
			return len(heads), next, err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				readAll(b, c.read)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			b.ReportMetric(0, "ns/op")
		})
	}
}
