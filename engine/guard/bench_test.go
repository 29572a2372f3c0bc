package guard_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
)

const benchPlaybook = `
name: p
match: 'true'
dedupe: { key: 'event.labels.namespace + "/" + event.labels.deployment', window: 15m }
budget: ["3/1h", "7/24h"]
breaker: { failures: 3, window: 30m, cooldown: 1h, verify: 10m }
steps:
  - action: test.restart
    with: { namespace: "{{ event.labels.namespace }}", name: "{{ event.labels.deployment }}" }
`

// BenchmarkGuardCheck measures the whole guard chain (pause, protected,
// dedupe, budgets, global caps, breaker) per event against a real bbolt
// file. Every check is a new event; "allowed" ones are on a new workload
// each (so every check writes a dedupe window, a budget slot and, with
// caps, the global record), "deduped" ones share one key. "in_tx" runs 256
// checks per transaction, which is the guard's own cost as the engine's
// group commit sees it; "tx_per_check" pays a whole commit per check (NoSync),
// and "tx_per_check_fsync" a durable one, as a lone event does.
func BenchmarkGuardCheck(b *testing.B) {
	base := guard.Config{
		ProtectedNamespaces: []string{"kube-*"},
		ProtectedLabels:     []string{"firebreak.io/protected=true"},
		ProtectedCIDRs:      []string{"10.0.0.0/8"},
	}
	capped := base
	capped.MaxActions = guard.Rate{Count: 30, Window: time.Minute}
	capped.MaxTargets = guard.Rate{Count: 10, Window: 10 * time.Minute}
	for _, mode := range []struct {
		name   string
		cfg    guard.Config
		perTx  int
		noSync bool
		dup    bool
	}{
		{"in_tx/allowed", base, 256, true, false},
		{"in_tx/deduped", base, 256, true, true},
		{"in_tx/global_caps", capped, 256, true, false},
		{"tx_per_check/allowed", base, 1, true, false},
		{"tx_per_check_fsync/allowed", base, 1, false, false},
	} {
		b.Run(mode.name, func(b *testing.B) {
			h := newHarness(b, mode.cfg, benchPlaybook)
			if !mode.noSync {
				_ = h.db.Close()
				db, err := store.Open(filepath.Join(b.TempDir(), "sync.db"), store.Options{Now: h.clk.Now})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = db.Close() })
				c := mode.cfg
				c.Store, c.Registry = db, h.reg
				if h.g, err = guard.New(c); err != nil {
					b.Fatal(err)
				}
				h.db = db
			}
			tmpl := h.plan("p", engine.PhaseSteps, 0, ev("tmpl", "shop/cart"), false)
			// planFor is what the engine hands the guard for event i;
			// building it is cheap next to the check.
			planFor := func(i int) *engine.Plan {
				p := *tmpl
				e := *tmpl.Event
				e.ID = "e" + strconv.Itoa(i)
				if !mode.dup {
					name := "w" + strconv.Itoa(i)
					e.Labels = map[string]string{"namespace": "shop", "deployment": name}
					p.Target.Name = name
				}
				p.Event = &e
				return &p
			}
			var refused int
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += mode.perTx {
				n := min(mode.perTx, b.N-i)
				err := h.db.Update(context.Background(), func(tx state.Tx) error {
					for j := range n {
						v, err := h.g.Check(tx, planFor(i+j))
						if err != nil {
							return err
						}
						if !v.Allowed() {
							refused++
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				h.clk.Advance(time.Millisecond)
			}
			b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
		})
	}
}
