package redact

import (
	"encoding/json"

	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/guard"
)

// Func is the audit redactor's record function (audit.Redactor.Record); a
// nil Func redacts nothing. Every method returns copies: the maps and
// slices it was given are never modified.
type Func func(audit.Record) audit.Record

// Record redacts one audit record.
func (f Func) Record(r audit.Record) audit.Record {
	if f == nil {
		return r
	}
	return f(r)
}

// Records redacts recs into a new slice.
func (f Func) Records(recs []audit.Record) []audit.Record {
	if f == nil || recs == nil {
		return recs
	}
	out := make([]audit.Record, len(recs))
	for i, r := range recs {
		out[i] = f(r)
	}
	return out
}

// String removes secret-shaped text from s, as in a record's message.
func (f Func) String(s string) string {
	if f == nil || s == "" {
		return s
	}
	return f(audit.Record{Message: s}).Message
}

// Map redacts arbitrary data as a record's data: the values of sensitive
// keys anywhere in m, and secret-shaped text in every string.
func (f Func) Map(m map[string]any) map[string]any {
	if f == nil || len(m) == 0 {
		return m
	}
	return f(audit.Record{Data: m}).Data
}

// Event redacts an event as its JSON form would be: labels, annotations,
// fields and every string field. Raw is dropped (it is the payload as
// received, which only the timeline page shows, redacted on its own).
func (f Func) Event(ev *event.Event) *event.Event {
	if ev == nil {
		return nil
	}
	cp := *ev
	cp.Raw = nil
	if f == nil {
		return &cp
	}
	m, err := EventMap(&cp)
	if err != nil {
		return &event.Event{ID: f.String(cp.ID), Source: cp.Source}
	}
	b, err := json.Marshal(f.Map(m))
	if err != nil {
		return &event.Event{ID: f.String(cp.ID), Source: cp.Source}
	}
	var out event.Event
	if err := json.Unmarshal(b, &out); err != nil {
		return &event.Event{ID: f.String(cp.ID), Source: cp.Source}
	}
	return &out
}

// EventMap is ev's JSON form as a map, without its raw payload.
func EventMap(ev *event.Event) (map[string]any, error) {
	cp := *ev
	cp.Raw = nil
	b, err := json.Marshal(cp)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "raw")
	return m, nil
}

// Approval redacts what an approval shows of its event and step: the
// rendered parameters, the target, the requester, the guard verdicts'
// details, the reason, the outcome and the triggering event.
func (f Func) Approval(a approval.Approval) approval.Approval {
	if f == nil {
		return a
	}
	a.Params = f.Map(a.Params)
	a.Target = f.String(a.Target)
	a.RequestedBy = f.String(a.RequestedBy)
	a.Reason = f.String(a.Reason)
	a.Outcome = f.String(a.Outcome)
	if a.Guards != nil {
		guards := make([]approval.GuardVerdict, len(a.Guards))
		for i, g := range a.Guards {
			g.Detail = f.String(g.Detail)
			g.Verdict = f.String(g.Verdict)
			guards[i] = g
		}
		a.Guards = guards
	}
	if a.Event != nil {
		a.Event = f.Event(a.Event)
	}
	return a
}

// Approvals redacts list into a new slice.
func (f Func) Approvals(list []approval.Approval) []approval.Approval {
	if f == nil || list == nil {
		return list
	}
	out := make([]approval.Approval, len(list))
	for i, a := range list {
		out[i] = f.Approval(a)
	}
	return out
}

// Breaker redacts a breaker's target and reason; its id stays as it is,
// since it names the breaker (a reset needs it).
func (f Func) Breaker(b guard.BreakerStatus) guard.BreakerStatus {
	b.Target, b.Reason = f.String(b.Target), f.String(b.Reason)
	return b
}

// Breakers redacts bs into a new slice.
func (f Func) Breakers(bs []guard.BreakerStatus) []guard.BreakerStatus {
	if f == nil || bs == nil {
		return bs
	}
	out := make([]guard.BreakerStatus, len(bs))
	for i, b := range bs {
		out[i] = f.Breaker(b)
	}
	return out
}

// Budgets redacts the targets of bs into a new slice.
func (f Func) Budgets(bs []guard.BudgetStatus) []guard.BudgetStatus {
	if f == nil || bs == nil {
		return bs
	}
	out := make([]guard.BudgetStatus, len(bs))
	for i, b := range bs {
		b.Target = f.String(b.Target)
		out[i] = b
	}
	return out
}

// Pause redacts the kill switch's reason and who set it.
func (f Func) Pause(p guard.PauseStatus) guard.PauseStatus {
	p.Reason, p.By = f.String(p.Reason), f.String(p.By)
	return p
}
