package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/engine/replay"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/web/metrics"
)

// AuditConfig is the configuration file's `audit:` section: retention and
// redaction of the audit trail (and of the inbox the replay reads).
type AuditConfig struct {
	Retention RetentionConfig `yaml:"retention"`
	Redaction RedactionConfig `yaml:"redaction"`
	// SigningKeyFile is the ed25519 key that signs checkpoints of the
	// chain (wire_anchor.go): PEM PKCS#8, or a raw 32-byte seed.
	SigningKeyFile string `yaml:"signing_key_file"`
	// CheckpointEvery is how many records may follow a signed checkpoint
	// (default 1000).
	CheckpointEvery int `yaml:"checkpoint_every"`
	// CheckpointInterval is how often new records are signed (default 1m).
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// Witness says where signed checkpoints are kept outside the database.
	Witness WitnessConfig `yaml:"witness"`
}

// RetentionConfig says how long the audit trail and the inbox keep data.
// Zero values keep everything.
type RetentionConfig struct {
	// MaxAge removes audit records older than this (e.g. 2160h = 90 days).
	MaxAge Duration `yaml:"max_age"`
	// MaxRecords keeps at most this many audit records, the newest.
	MaxRecords int `yaml:"max_records"`
	// MaxBytes keeps the stored audit records within this many bytes,
	// removing the oldest.
	MaxBytes int64 `yaml:"max_bytes"`
	// InboxMaxAge removes processed inbox events (their raw payloads, which
	// replay reads) and their idempotency keys received longer ago than
	// this; pending events are never removed. Default: MaxAge.
	InboxMaxAge Duration `yaml:"inbox_max_age"`
	// Interval is how often retention runs (default 1h).
	Interval Duration `yaml:"interval"`
}

// RedactionConfig says what is removed from audit records before they are
// written.
type RedactionConfig struct {
	// Keys are extra data keys whose values are always redacted
	// (case-insensitive), in addition to the built-in sensitive keys.
	Keys []string `yaml:"keys"`
	// Patterns are extra regular expressions; every match in any string of
	// a record is replaced by [redacted].
	Patterns []string `yaml:"patterns"`
	// NoDefaults turns off the built-in keys and patterns.
	NoDefaults bool `yaml:"no_defaults"`
}

// retention returns the store policy; ok is false when nothing expires.
func (c RetentionConfig) retention() (store.Retention, bool) {
	r := store.Retention{MaxAge: time.Duration(c.MaxAge), MaxRecords: c.MaxRecords, MaxBytes: c.MaxBytes, InboxMaxAge: time.Duration(c.InboxMaxAge),
		ForgetEvent: forgetEvent, Sweep: engine.SweepForgotten}
	if r.InboxMaxAge == 0 {
		r.InboxMaxAge = r.MaxAge
	}
	return r, r.MaxAge > 0 || r.MaxRecords > 0 || r.MaxBytes > 0 || r.InboxMaxAge > 0
}

// forgetEvent drops what the engine and the dead-letter queue keep about
// an event retention removes.
func forgetEvent(tx state.Tx, eventID string) error {
	if err := engine.ForgetEvent(tx, eventID); err != nil {
		return err
	}
	return store.ForgetDLQ(tx, eventID)
}

// approvalDecided carries an approval id from the audit hook (which must
// not read the store) to the goroutine that measures the decision time.
type approvalDecided struct{ id string }

// setupMetrics wires the metrics feature before the engine is built: the
// Prometheus registry and engine observer, the audit redactor, the
// records-written hook, and the retention job.
func setupMetrics(a *App) error {
	red, err := audit.NewRedactor(audit.RedactConfig{
		Keys: a.Config.Audit.Redaction.Keys, Patterns: a.Config.Audit.Redaction.Patterns, NoDefaults: a.Config.Audit.Redaction.NoDefaults,
	})
	if err != nil {
		return fmt.Errorf("audit.redaction: %w", err)
	}
	a.DB.SetRedactor(red.Record)
	if err := setupAnchor(a); err != nil {
		return err
	}

	m := metrics.New(metrics.Config{InboxDepth: a.DB.PendingCount, AuditBytes: a.DB.AuditBytes, Logger: a.log.With("component", "metrics")})
	a.observer = m

	decided := make(chan approvalDecided, 256)
	a.DB.OnAuditWritten(func(r audit.Record) {
		m.AuditWritten(r)
		if r.Kind != audit.KindApproval {
			return
		}
		switch r.Outcome {
		case approval.OutcomeApproved, approval.OutcomeDenied, approval.OutcomeExpired, approval.OutcomeCancelled:
			if id, ok := r.Data["approval_id"].(string); ok {
				select {
				case decided <- approvalDecided{id: id}:
				default: // a burst of decisions: drop the measurement, never block commits
				}
			}
		}
	})
	a.Go(func(ctx context.Context) { measureDecisions(ctx, a, m, decided) })
	m.SetPendingApprovals(func(ctx context.Context) (int, error) { return countPendingApprovals(ctx, a.DB) })
	m.SetDLQEntries(a.DB.DLQCount)

	if pol, ok := a.Config.Audit.Retention.retention(); ok {
		every := time.Duration(a.Config.Audit.Retention.Interval)
		if every <= 0 {
			every = time.Hour
		}
		a.Go(func(ctx context.Context) { runRetention(ctx, a, m, pol, every) })
	}
	return nil
}

// routesMetrics serves GET /metrics, the incident timeline and replay, and
// reads breakers from the guard once every feature is wired.
func routesMetrics(a *App) {
	m, ok := a.observer.(*metrics.Metrics)
	if !ok {
		a.log.Error("the engine observer is not the metrics collector (another feature replaced it): /metrics is not served")
		return
	}
	a.Web.SetMetrics(m)
	var names []string
	for name := range a.Config.Sources {
		names = append(names, name)
	}
	m.InitSources(append(names, "alertmanager")...)
	if set := a.Engine.Playbooks(); set != nil {
		for _, p := range set.Playbooks {
			m.InitPlaybooks(p.Name)
		}
	}
	if g, ok := a.guard.(interface {
		Breakers(context.Context) ([]guard.BreakerStatus, error)
	}); ok {
		m.SetBreakers(func(ctx context.Context) ([]metrics.Breaker, error) {
			list, err := g.Breakers(ctx)
			out := make([]metrics.Breaker, len(list))
			for i, b := range list {
				out[i] = metrics.Breaker{Playbook: b.Playbook, State: b.State}
			}
			return out, err
		})
	}
	r := a.Web.Router()
	r.GET("/metrics", gin.WrapH(m.Handler()))
	r.GET("/api/v1/audit/timeline/:event_id", a.readAuth(), func(c *gin.Context) { timelineHandler(c, a) })
	r.POST("/api/v1/replay", a.operatorAuth(), func(c *gin.Context) { replayHandler(c, a) })
}

// measureDecisions observes how long each decided approval waited.
func measureDecisions(ctx context.Context, a *App, m *metrics.Metrics, ch <-chan approvalDecided) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-ch:
			ap, err := approval.Get(ctx, a.DB, d.id)
			if err != nil || ap.RequestedAt.IsZero() || ap.DecidedAt.IsZero() {
				continue
			}
			m.ApprovalDecided(string(ap.Status), ap.DecidedAt.Sub(ap.RequestedAt))
		}
	}
}

func countPendingApprovals(ctx context.Context, db *store.DB) (int, error) {
	list, err := approval.List(ctx, db, approval.Filter{PendingOnly: true})
	return len(list), err
}

// runRetention applies the retention policy now and then every interval.
func runRetention(ctx context.Context, a *App, m *metrics.Metrics, pol store.Retention, every time.Duration) {
	log := a.log.With("component", "retention")
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := a.DB.Compact(ctx, pol)
		m.Compacted(res.AuditRemoved, res.InboxRemoved)
		switch {
		case err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, store.ErrClosed):
			log.Error("retention failed", "error", err)
		case res.AuditRemoved > 0 || res.InboxRemoved > 0 || res.Swept > 0:
			log.Info("retention removed old data", "audit_records", res.AuditRemoved, "inbox_events", res.InboxRemoved, "resolve_marks", res.Swept)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Timeline is an incident's history: the answer of GET
// /api/v1/audit/timeline/:event_id and what `firebreak audit show` prints.
type Timeline struct {
	// Records are every audit record of the event, in order.
	Records []audit.Record `json:"records"`
	// Event is the stored event, absent when retention removed it.
	Event *TimelineEvent `json:"event,omitempty"`
	// Approvals are the approvals its steps waited for, with the guard
	// verdicts at request time and every vote.
	Approvals []approval.Approval `json:"approvals,omitempty"`
}

// TimelineEvent is the stored event with its inbox sequence.
type TimelineEvent struct {
	Seq   uint64      `json:"seq"`
	Event event.Event `json:"event"`
}

// TimelineOf reads the timeline of the event id from db (the server's
// store, or one the CLI opened read-only). It returns store.ErrNotFound
// when neither the trail nor the inbox knows the event.
func TimelineOf(ctx context.Context, db *store.DB, id string) (Timeline, error) {
	recs, err := db.AuditForEvent(ctx, id)
	if err != nil {
		return Timeline{}, err
	}
	tl := Timeline{Records: recs}
	if tl.Records == nil {
		tl.Records = []audit.Record{}
	}
	if seq, ev, err := db.EventByID(ctx, id); err == nil {
		ev.Raw = nil
		tl.Event = &TimelineEvent{Seq: seq, Event: ev}
	}
	if len(recs) == 0 && tl.Event == nil {
		return tl, fmt.Errorf("event %s: %w", id, store.ErrNotFound)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Kind != audit.KindApproval {
			continue
		}
		apID, _ := r.Data["approval_id"].(string)
		if apID == "" {
			apID, _ = strings.CutPrefix(r.Message, "waiting for approval ")
			if apID == r.Message {
				apID = ""
			}
		}
		if apID == "" || seen[apID] {
			continue
		}
		seen[apID] = true
		if ap, err := approval.Get(ctx, db, apID); err == nil {
			ap.Event = nil
			tl.Approvals = append(tl.Approvals, ap)
		}
	}
	return tl, nil
}

func timelineHandler(c *gin.Context, a *App) {
	id := c.Param("event_id")
	tl, err := TimelineOf(c.Request.Context(), a.DB, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "no event " + id + " in the inbox or the audit trail"})
		return
	case err != nil:
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "reading the audit trail failed"})
		return
	}
	c.JSON(http.StatusOK, tl)
}

// ReplayRequest is the body of POST /api/v1/replay.
type ReplayRequest struct {
	// Since is RFC 3339 or a duration ago ("24h"); default 24h.
	Since string `json:"since"`
	// Until is RFC 3339 or a duration ago; default now.
	Until string `json:"until"`
	// Playbooks is a candidate set: file name → YAML text. Empty replays
	// against the playbooks the server runs.
	Playbooks map[string]string `json:"playbooks"`
}

func replayHandler(c *gin.Context, a *App) {
	var req ReplayRequest
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 4<<20) // candidate playbooks, not payloads
	if err := c.ShouldBindJSON(&req); err != nil && c.Request.ContentLength != 0 {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "body must be JSON: " + err.Error()})
		return
	}
	nowT := a.opts.Now()
	opts := replay.Options{Catalog: a.Registry, ActOnStale: a.Config.ActOnStale, Redact: a.redactor()}
	var err error
	if opts.Since, err = ParseSince(req.Since, nowT, 24*time.Hour); err != nil {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "since: " + err.Error(), "field": "since"})
		return
	}
	if req.Until != "" {
		if opts.Until, err = ParseSince(req.Until, nowT, 0); err != nil {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "until: " + err.Error(), "field": "until"})
			return
		}
	}
	opts.Playbooks = a.Engine.Playbooks()
	if len(req.Playbooks) > 0 {
		set, err := ParseCandidate(a.Registry, req.Playbooks)
		if err != nil {
			c.AbortWithStatusJSON(http.StatusUnprocessableEntity, gin.H{"error": err.Error()})
			return
		}
		opts.Playbooks = set
	}
	rep, err := replay.Run(c.Request.Context(), a.DB, opts)
	if err != nil {
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
		return
	}
	c.JSON(http.StatusOK, rep)
}

// redactor returns the configured audit redactor's record function.
func (a *App) redactor() func(audit.Record) audit.Record {
	red, err := audit.NewRedactor(audit.RedactConfig{
		Keys: a.Config.Audit.Redaction.Keys, Patterns: a.Config.Audit.Redaction.Patterns, NoDefaults: a.Config.Audit.Redaction.NoDefaults,
	})
	if err != nil {
		return nil
	}
	return red.Record
}

// ParseSince reads RFC 3339 or a duration meaning "that long before now";
// an empty value is def before now.
func ParseSince(v string, now time.Time, def time.Duration) (time.Time, error) {
	if v == "" {
		return now.Add(-def), nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor a duration such as 24h", v)
	}
	return t, nil
}

// ParseCandidate loads a candidate playbook set from file name → YAML text;
// every file must parse and the names must be unique across files.
func ParseCandidate(cat playbooks.Catalog, files map[string]string) (*playbooks.Set, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) == 1 {
		return playbooks.Parse(cat, names[0], []byte(files[names[0]]))
	}
	// Several files are loaded as one stream, in name order, so that
	// duplicate names across files are reported.
	var all []byte
	for _, name := range names {
		all = append(all, "---\n# "+name+"\n"...)
		all = append(all, files[name]...)
		all = append(all, '\n')
	}
	return playbooks.Parse(cat, "candidate.yaml", all)
}
