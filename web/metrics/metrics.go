package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/firebreak/firebreak/engine/audit"
)

const namespace = "firebreak"

// Breaker is one circuit breaker as the breaker gauge sees it: only its
// playbook and state become labels (targets are unbounded).
type Breaker struct {
	Playbook string
	// State is closed, open or half_open.
	State string
}

// BreakerStates are the states the breaker gauge always reports, so that a
// rule on state="open" sees 0 rather than nothing.
var BreakerStates = []string{"closed", "open", "half_open"}

// Config configures Metrics. Every function is optional and may also be
// set later with the Set methods (features wired after metrics).
type Config struct {
	// InboxDepth returns how many accepted events are not yet processed.
	InboxDepth func() int
	// AuditBytes returns the stored size of the kept audit records.
	AuditBytes func(context.Context) (int64, error)
	// Logger reports failures of the gauge functions.
	Logger *slog.Logger
	// ScrapeTimeout bounds each gauge function at scrape time (default 2s).
	ScrapeTimeout time.Duration
}

// Metrics holds Firebreak's collectors and their registry. It is safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger
	cfg Config

	received       *prometheus.CounterVec
	rejected       *prometheus.CounterVec
	ingestDuration *prometheus.HistogramVec
	processed      *prometheus.CounterVec
	processing     prometheus.Histogram
	matches        *prometheus.CounterVec
	stepRuns       *prometheus.CounterVec
	stepDuration   *prometheus.HistogramVec
	refusals       *prometheus.CounterVec
	auditRecords   *prometheus.CounterVec
	reloads        *prometheus.CounterVec
	approvals      *prometheus.CounterVec
	decisionTime   *prometheus.HistogramVec
	compacted      *prometheus.CounterVec

	breakers atomic.Pointer[func(context.Context) ([]Breaker, error)]
	pending  atomic.Pointer[func(context.Context) (int, error)]
	dlq      atomic.Pointer[func(context.Context) (int, error)]
}

// New builds the collectors and registers them, with the Go and process
// collectors, on a new registry.
func New(cfg Config) *Metrics {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ScrapeTimeout <= 0 {
		cfg.ScrapeTimeout = 2 * time.Second
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: cfg.Logger, cfg: cfg}
	m.received = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "events_received_total",
		Help: "Events received by source and result: accepted (stored for processing), duplicate (id seen before; acknowledged, not stored) or stale (stored, older than max_event_age; audited, not acted on).",
	}, []string{"source", "result"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "webhook_requests_rejected_total",
		Help: "Webhook requests refused before their events were stored, by source and reason (unknown_source, content_type, too_large, read_error, unauthorized, decode_error, store_error).",
	}, []string{"source", "reason"})
	m.ingestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "ingest_duration_seconds",
		Help:    "Time from a webhook request's arrival to its answer for requests whose events were stored (body read, authentication, decoding, durable append).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"source"})
	m.processed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "events_processed_total",
		Help: "Events the engine finished (matched, planned, guarded, executed), by source.",
	}, []string{"source"})
	m.processing = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "event_processing_duration_seconds",
		Help:    "Time the engine spent on one event, steps included.",
		Buckets: prometheus.ExponentialBuckets(.001, 4, 10),
	})
	m.matches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "playbook_matches_total",
		Help: "Events a playbook's rule matched, by playbook.",
	}, []string{"playbook"})
	m.stepRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "step_runs_total",
		Help: "Steps finished, by action and outcome (ok, failed, dry_run, when_false, render_error, invalid_params, unknown_action, when_error).",
	}, []string{"action", "outcome"})
	m.stepDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "step_duration_seconds",
		Help:    "Duration of executed steps (all attempts and retry waits), by action.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"action"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "guard_refusals_total",
		Help: "Steps a guard refused, by typed reason (protected, deduped, budget_exhausted, breaker_open, paused, …) and playbook.",
	}, []string{"reason", "playbook"})
	m.auditRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "audit_records_total",
		Help: "Audit records committed to the trail, by kind.",
	}, []string{"kind"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "playbook_reloads_total",
		Help: "Playbook reloads by result (ok: the new set is live; failed: validation failed and the old set stays).",
	}, []string{"result"})
	m.approvals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "approval_decisions_total",
		Help: "Approval outcomes by decision (approved, denied, expired, cancelled).",
	}, []string{"decision"})
	m.decisionTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "approval_decision_seconds",
		Help:    "Time from an approval request to its decision, by decision.",
		Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600},
	}, []string{"decision"})
	m.compacted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "retention_removed_total",
		Help: "Records removed by retention, by store (audit, inbox).",
	}, []string{"store"})
	m.reg.MustRegister(m.received, m.rejected, m.ingestDuration, m.processed, m.processing, m.matches,
		m.stepRuns, m.stepDuration, m.refusals, m.auditRecords, m.reloads, m.approvals, m.decisionTime, m.compacted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&stateCollector{m: m})
	for _, r := range []string{"ok", "failed"} {
		m.reloads.WithLabelValues(r)
	}
	return m
}

// InitSources creates the received-events series of every source at 0,
// so that rate() and increase() see the first event.
func (m *Metrics) InitSources(sources ...string) {
	for _, s := range sources {
		for _, r := range []string{"accepted", "duplicate", "stale"} {
			m.received.WithLabelValues(s, r)
		}
	}
}

// InitPlaybooks creates the match series of every loaded playbook at 0.
func (m *Metrics) InitPlaybooks(names ...string) {
	for _, n := range names {
		m.matches.WithLabelValues(n)
	}
}

// Registry returns the registry the collectors are registered on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorLog: slogErrorLog{m.log}})
}

// SetBreakers installs the function the breaker gauge reads at scrape time.
func (m *Metrics) SetBreakers(fn func(context.Context) ([]Breaker, error)) { m.breakers.Store(&fn) }

// SetPendingApprovals installs the function the pending-approvals gauge
// reads at scrape time.
func (m *Metrics) SetPendingApprovals(fn func(context.Context) (int, error)) { m.pending.Store(&fn) }

// SetDLQEntries installs the function the dead-letter gauge
// (firebreak_dlq_entries) reads at scrape time.
func (m *Metrics) SetDLQEntries(fn func(context.Context) (int, error)) { m.dlq.Store(&fn) }

// EventProcessed implements engine.Observer.
func (m *Metrics) EventProcessed(source string, _ int, d time.Duration) {
	m.processed.WithLabelValues(source).Inc()
	m.processing.Observe(d.Seconds())
}

// PlaybookMatched implements engine.Observer.
func (m *Metrics) PlaybookMatched(playbook string) { m.matches.WithLabelValues(playbook).Inc() }

// StepFinished implements engine.Observer. Only executed steps (ok or
// failed) feed the duration histogram.
func (m *Metrics) StepFinished(action, outcome string, d time.Duration) {
	m.stepRuns.WithLabelValues(action, outcome).Inc()
	if outcome == "ok" || outcome == "failed" {
		m.stepDuration.WithLabelValues(action).Observe(d.Seconds())
	}
}

// GuardRefused implements engine.Observer.
func (m *Metrics) GuardRefused(reason, playbook string) {
	m.refusals.WithLabelValues(reason, playbook).Inc()
}

// Rejected implements web.Metrics: a request refused before storing.
func (m *Metrics) Rejected(source, reason string) { m.rejected.WithLabelValues(source, reason).Inc() }

// Received implements web.Metrics: a request whose events were stored.
func (m *Metrics) Received(source string, accepted, duplicates, stale int, d time.Duration) {
	if n := accepted - stale; n > 0 {
		m.received.WithLabelValues(source, "accepted").Add(float64(n))
	}
	if stale > 0 {
		m.received.WithLabelValues(source, "stale").Add(float64(stale))
	}
	if duplicates > 0 {
		m.received.WithLabelValues(source, "duplicate").Add(float64(duplicates))
	}
	m.ingestDuration.WithLabelValues(source).Observe(d.Seconds())
}

// AuditWritten counts one committed audit record by kind; it implements
// store.AuditObserver. Reload records also feed the reloads counter, so
// reloading needs no wiring of its own.
func (m *Metrics) AuditWritten(r audit.Record) {
	m.auditRecords.WithLabelValues(string(r.Kind)).Inc()
	if r.Kind == audit.KindReload {
		result := "ok"
		if r.Outcome != "ok" && r.Outcome != "" {
			result = "failed"
		}
		m.reloads.WithLabelValues(result).Inc()
	}
}

// ApprovalDecided counts one committed approval decision (approved,
// denied, expired, cancelled) and observes how long it waited; it
// implements approval.Observer.
func (m *Metrics) ApprovalDecided(decision string, waited time.Duration) {
	m.approvals.WithLabelValues(decision).Inc()
	if waited >= 0 {
		m.decisionTime.WithLabelValues(decision).Observe(waited.Seconds())
	}
}

// Compacted counts records removed by retention.
func (m *Metrics) Compacted(audit, inbox int) {
	m.compacted.WithLabelValues("audit").Add(float64(audit))
	m.compacted.WithLabelValues("inbox").Add(float64(inbox))
}

// stateCollector reads gauges at scrape time: inbox depth, breakers by
// playbook and state, pending approvals.
type stateCollector struct{ m *Metrics }

var (
	descInbox = prometheus.NewDesc(namespace+"_inbox_pending_events",
		"Accepted events not yet processed (the inbox backlog).", nil, nil)
	descBreakers = prometheus.NewDesc(namespace+"_breakers",
		"Circuit breakers (one per playbook × target) by playbook and state (closed, open, half_open).", []string{"playbook", "state"}, nil)
	descAuditBytes = prometheus.NewDesc(namespace+"_audit_stored_bytes",
		"Stored size of the audit records the trail keeps (what audit.retention.max_bytes bounds).", nil, nil)
	descPending = prometheus.NewDesc(namespace+"_approvals_pending",
		"Steps parked waiting for a human decision.", nil, nil)
	descDLQ = prometheus.NewDesc(namespace+"_dlq_entries",
		"Steps in the dead-letter queue: failed for good, waiting for an operator to retry or discard them.", nil, nil)
	descUp = prometheus.NewDesc(namespace+"_metric_source_up",
		"Whether a scrape-time metric source answered (1) or failed (0), by source (inbox, audit, breakers, approvals).", []string{"source"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descInbox
	ch <- descBreakers
	ch <- descPending
	ch <- descDLQ
	ch <- descAuditBytes
	ch <- descUp
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	up := func(source string, ok bool) {
		v := 0.0
		if ok {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, v, source)
	}
	if m.cfg.InboxDepth != nil {
		ch <- prometheus.MustNewConstMetric(descInbox, prometheus.GaugeValue, float64(m.cfg.InboxDepth()))
		up("inbox", true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ScrapeTimeout)
	defer cancel()
	if m.cfg.AuditBytes != nil {
		n, err := m.cfg.AuditBytes(ctx)
		if err == nil {
			ch <- prometheus.MustNewConstMetric(descAuditBytes, prometheus.GaugeValue, float64(n))
		}
		up("audit", err == nil)
	}
	if fn := m.breakers.Load(); fn != nil {
		list, err := (*fn)(ctx)
		if err != nil {
			m.log.Warn("reading breakers for /metrics failed", "error", err)
		} else {
			counts := map[[2]string]int{}
			playbooks := map[string]bool{}
			for _, b := range list {
				counts[[2]string{b.Playbook, b.State}]++
				playbooks[b.Playbook] = true
			}
			for pb := range playbooks {
				for _, st := range BreakerStates {
					counts[[2]string{pb, st}] += 0
				}
			}
			for k, n := range counts {
				ch <- prometheus.MustNewConstMetric(descBreakers, prometheus.GaugeValue, float64(n), k[0], k[1])
			}
		}
		up("breakers", err == nil)
	}
	if fn := m.pending.Load(); fn != nil {
		n, err := (*fn)(ctx)
		if err != nil {
			m.log.Warn("reading pending approvals for /metrics failed", "error", err)
		} else {
			ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(n))
		}
		up("approvals", err == nil)
	}
	if fn := m.dlq.Load(); fn != nil {
		n, err := (*fn)(ctx)
		if err != nil {
			m.log.Warn("reading the dead-letter queue for /metrics failed", "error", err)
		} else {
			ch <- prometheus.MustNewConstMetric(descDLQ, prometheus.GaugeValue, float64(n))
		}
		up("dlq", err == nil)
	}
}

// slogErrorLog adapts a slog.Logger to promhttp's error logger.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Error("serving /metrics failed", "error", v) }
