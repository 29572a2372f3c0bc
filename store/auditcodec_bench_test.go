package store

import (
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine/audit"
)

// BenchmarkAuditCodec: packing and unpacking one sealed record of each
// kind the engine writes for a matched event, next to sealing it (what
// Tx.Audit did before the codec), bytes before and after.
//
//	go test -run '^$' -bench AuditCodec ./store/
func BenchmarkAuditCodec(b *testing.B) {
	for _, rec := range codecSamples() {
		sealed, err := audit.Seal(&rec)
		if err != nil {
			b.Fatal(err)
		}
		packed := packRecord(sealed)
		b.Run("seal/"+string(rec.Kind), func(b *testing.B) {
			for b.Loop() {
				if _, err := audit.Seal(&rec); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("pack/"+string(rec.Kind), func(b *testing.B) {
			for b.Loop() {
				packRecord(sealed)
			}
			b.ReportMetric(float64(len(sealed)), "B-sealed")
			b.ReportMetric(float64(len(packed)), "B-stored")
		})
		b.Run("unpack/"+string(rec.Kind), func(b *testing.B) {
			var buf []byte
			for b.Loop() {
				out, err := unpackRecord(packed, buf)
				if err != nil {
					b.Fatal(err)
				}
				buf = out
			}
		})
	}
}

// codecSamples are records as the engine writes them for one matched
// Alertmanager event with a webhook step (values unlike the dictionary's).
func codecSamples() []audit.Record {
	t0 := time.Date(2027, 3, 14, 9, 26, 53, 589793238, time.UTC)
	prev := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	return []audit.Record{
		{Seq: 912345, Time: t0, Kind: audit.KindReceived, EventID: "am:6f1c2a9d0b7e4e21", Source: "alertmanager", Outcome: "accepted",
			Message: "KubePodCrashLooping firing (warning)", Prev: prev,
			Data: map[string]any{"labels": map[string]string{"alertname": "KubePodCrashLooping", "namespace": "payments", "pod": "ledger-7d9f8c6b5-x2k4q", "container": "ledger", "severity": "warning", "job": "kube-state-metrics"},
				"received_at": t0.Add(-time.Millisecond)}},
		{Seq: 912346, Time: t0, Kind: audit.KindMatched, EventID: "am:6f1c2a9d0b7e4e21", Playbook: "restart-crashloop", Outcome: "matched", Prev: prev,
			Data: map[string]any{"mode": "auto", "rule": `event.name == "KubePodCrashLooping" && event.labels.namespace in ["payments", "checkout"]`,
				"saw": map[string]any{"event.name": "KubePodCrashLooping", "event.labels.namespace": "payments"}}},
		{Seq: 912347, Time: t0, Kind: audit.KindStepStarted, EventID: "am:6f1c2a9d0b7e4e21", Playbook: "restart-crashloop", Step: audit.StepIndex(0),
			Action: "webhook.notify", Target: "webhook/hooks.internal.example:8443", Outcome: "started", Prev: prev,
			Data: map[string]any{"params": map[string]any{"url": "https://hooks.internal.example:8443/firebreak", "body": map[string]any{"alert": "KubePodCrashLooping", "pod": "ledger-7d9f8c6b5-x2k4q"}}}},
		{Seq: 912348, Time: t0, Kind: audit.KindStepSucceeded, EventID: "am:6f1c2a9d0b7e4e21", Playbook: "restart-crashloop", Step: audit.StepIndex(0),
			Action: "webhook.notify", Target: "webhook/hooks.internal.example:8443", Outcome: "ok", Prev: prev,
			Message: "POST https://hooks.internal.example:8443/firebreak: 200 OK",
			Data: map[string]any{"after": map[string]any{"status": 200}, "attempts": 1, "duration_ms": 12,
				"params":  map[string]any{"url": "https://hooks.internal.example:8443/firebreak", "body": map[string]any{"alert": "KubePodCrashLooping", "pod": "ledger-7d9f8c6b5-x2k4q"}},
				"summary": "POST https://hooks.internal.example:8443/firebreak: 200 OK"}},
	}
}
