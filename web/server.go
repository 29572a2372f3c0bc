package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/playbooks"
	"github.com/firebreak/firebreak/web/auth"
	"github.com/firebreak/firebreak/web/dashboard"
	"github.com/firebreak/firebreak/web/internal/redact"
	"github.com/firebreak/firebreak/web/sources"
)

// Inbox is what the receivers need of the store.
type Inbox interface {
	AppendEvents(ctx context.Context, events []event.Event) ([]uint64, error)
}

// AuditReader is what the audit API needs of the store.
type AuditReader interface {
	ListAudit(ctx context.Context, q audit.Query) ([]audit.Record, uint64, error)
	VerifyAudit(ctx context.Context) (int, error)
}

// Engine is what the handlers need of the engine.
type Engine interface {
	Notify()
	Playbooks() *playbooks.Set
}

// Metrics receives the ingest path's measurements. Implementations must be
// cheap and safe for concurrent use.
type Metrics interface {
	// Rejected counts a request refused before its events were stored;
	// reason is one of unknown_source, rate_limited, too_many_refusals,
	// content_type, too_large, read_error, decode_error, store_error or
	// an authentication refusal (auth.Reason).
	Rejected(source, reason string)
	// Received counts a request whose events were stored: how many were
	// new (stale ones included), duplicates and stale, and how long the
	// request took.
	Received(source string, accepted, duplicates, stale int, d time.Duration)
}

type nopMetrics struct{}

func (nopMetrics) Rejected(string, string)                       {}
func (nopMetrics) Received(string, int, int, int, time.Duration) {}

// Source is one configured receiver.
type Source struct {
	Decoder sources.Decoder
	// Auth checks the request; nil accepts everything (the source was
	// configured insecure).
	Auth auth.Authenticator
	// Limiter bounds the source's request rate; nil is unlimited. Requests
	// over it get 429 with Retry-After.
	Limiter *rate.Limiter
	// MaxBodyBytes overrides the server's limit when positive.
	MaxBodyBytes int64
}

// Config configures the HTTP server.
type Config struct {
	Inbox   Inbox
	Audit   AuditReader
	Engine  Engine
	Sources map[string]Source
	Logger  *slog.Logger
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
	// MaxEventAge marks older events stale (0: never).
	MaxEventAge time.Duration
	// Ready reports whether the store is writable.
	Ready func(ctx context.Context) error
	Now   func() time.Time
	// OnAuthFailure is given the auth.failed records to store: those of
	// the webhook sources, the API and the Slack interactions. Refusals
	// are aggregated per source, client and outcome: the first of an
	// interval is given at once, the rest as one record with their count
	// when the interval ends (see Run). Nil writes them to AuditLog.
	OnAuthFailure func(rec audit.Record)
	// RefusalInterval is that interval (default DefaultRefusalInterval).
	RefusalInterval time.Duration
	// HTTP says which peers' forwarded headers name the client (and
	// bounds connections, see LimitConnections).
	HTTP HTTPConfig
	// Tokens are the API's callers (api.tokens); see Role.
	Tokens []APIToken
	// OpenReads lets viewer routes answer loopback peers without a token,
	// when no token is configured; the app sets it only for a loopback
	// listen address. Operator and approver routes never open this way.
	OpenReads bool
	// AuditLog records API refusals; nil records nothing (tests).
	AuditLog AuditWriter
	// Metrics receives ingest measurements; nil discards them.
	Metrics Metrics
	// MetricsHandler serves GET /metrics; nil serves none.
	MetricsHandler http.Handler
	// Redact is the audit redactor's record function (the one the store
	// writes records through). Every answer that carries event-derived
	// strings (approvals, breakers, budgets, the kill switch, timelines,
	// dead letters) passes through it, as do the dashboard's pages when
	// Dashboard.Redact is nil. Nil redacts nothing, which only tests do.
	Redact func(audit.Record) audit.Record

	// The routes below are served only when their part is given.

	// Guards serves /api/v1/breakers, /budgets, /pause and /resume.
	Guards Guards
	// Approvals serves /api/v1/approvals.
	Approvals Approvals
	// Slack serves POST /slack/interactions.
	Slack *SlackConfig
	// Timeline serves /api/v1/audit/timeline/:event_id.
	Timeline TimelineSource
	// Replay serves POST /api/v1/replay.
	Replay *ReplayConfig
	// Reloader serves POST /api/v1/playbooks/reload.
	Reloader Reloader
	// DeadLetters serves /api/v1/dlq (viewer lists; operator retries and discards).
	DeadLetters DeadLetters
	// Dashboard serves the dashboard's pages (package dashboard) at /.
	// Its Auth is always the API's token table; a nil Approvals, Guards,
	// Redact, OnAuthFailure, Logger or Now is filled from this Config.
	Dashboard *dashboard.Deps
}

// Server is the HTTP handler.
type Server struct {
	cfg      Config
	router   *gin.Engine
	log      *slog.Logger
	auth     *apiAuth
	refusals *refusals
	// red is Config.Redact.
	red redact.Func
	// dash is the dashboard, nil when it is not served.
	dash *dashboard.Dashboard
}

// New builds the router.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// gin believes X-Forwarded-For from every peer unless told otherwise;
	// an unproxied attacker would then choose the actor of its own
	// auth.failed records. Only the configured proxies are believed.
	var proxies []string
	for _, p := range cfg.HTTP.trusted() {
		proxies = append(proxies, p.String())
	}
	if err := r.SetTrustedProxies(proxies); err != nil {
		cfg.Logger.Error("trusted proxies refused; forwarded headers are ignored", "error", err)
		_ = r.SetTrustedProxies(nil)
	}
	r.Use(gin.Recovery())
	s := &Server{cfg: cfg, router: r, log: cfg.Logger, red: redact.Func(cfg.Redact)}
	emit := cfg.OnAuthFailure
	if emit == nil && cfg.AuditLog != nil {
		emit = func(rec audit.Record) { s.auditRecord(context.Background(), rec) }
	}
	s.refusals = newRefusals(cfg.RefusalInterval, cfg.Now, emit)
	s.auth = newAPIAuth(cfg.Tokens, cfg.OpenReads, s.refuseAPI)
	r.NoRoute(func(c *gin.Context) {
		jsonError(c, http.StatusNotFound, "", "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path)
	})
	r.HandleMethodNotAllowed = true
	r.NoMethod(func(c *gin.Context) { jsonError(c, http.StatusMethodNotAllowed, "", "method not allowed") })
	r.POST("/hooks/:source", s.ingest)
	// The second segment is the name of a generic source
	// (/hooks/generic/NAME) or a token for senders that cannot set headers
	// (/hooks/splunk/TOKEN).
	r.POST("/hooks/:source/:sub", s.ingest)
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.ready)
	read := s.auth.require(RoleViewer)
	r.GET("/api/v1/audit", read, s.listAudit)
	r.GET("/api/v1/audit/verify", read, s.verifyAudit)
	r.GET("/api/v1/playbooks", read, s.listPlaybooks)
	if cfg.MetricsHandler != nil {
		r.GET("/metrics", gin.WrapH(cfg.MetricsHandler))
	}
	if cfg.Timeline != nil {
		s.routesTimeline(cfg.Timeline)
	}
	if cfg.Guards != nil {
		s.routesGuards(cfg.Guards)
	}
	if cfg.Approvals != nil {
		s.routesApprovals(cfg.Approvals)
	}
	if cfg.Slack != nil && (cfg.Slack.Decider != nil || cfg.Slack.Breakers != nil) {
		s.routesSlack(*cfg.Slack)
	}
	if cfg.Replay != nil {
		s.routesReplay(*cfg.Replay)
	}
	if cfg.Reloader != nil {
		s.routesReload(cfg.Reloader)
	}
	if cfg.DeadLetters != nil {
		s.routesDLQ(cfg.DeadLetters)
	}
	if cfg.Dashboard != nil {
		s.mountDashboard(*cfg.Dashboard)
	}
	return s
}

func (s *Server) auditRecord(ctx context.Context, r audit.Record) {
	if s.cfg.AuditLog == nil {
		return
	}
	if err := s.cfg.AuditLog.Audit(ctx, r); err != nil {
		s.log.Error("writing an audit record failed", "kind", r.Kind, "error", err)
	}
}

// Run records the aggregated refusals of each ended interval until ctx
// ends, then those still counted, and keeps the dashboard's last-hour
// counters current and its session table pruned (dashboard.Dashboard.Run);
// run it for as long as the server serves.
func (s *Server) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if s.dash != nil {
			s.dash.Run(ctx) // the overview's last-hour counters, the session prune
		}
	}()
	s.refusals.run(ctx)
	<-done
}

// FlushRefusals records every refusal count still held, as if each
// aggregation interval had ended now.
func (s *Server) FlushRefusals() { s.refusals.flush(true) }

// RecordRefusal counts a request refused by another handler into the same
// aggregated auth.failed records as the webhook sources' (the API's and
// the Slack interactions' refusals are counted this way). actor is the
// client's address or another name of the caller; outcome is the
// record's (unauthorized, forbidden). It spends nothing of the address's
// refusal budget: only the webhook routes answer 429 on it.
func (s *Server) RecordRefusal(source, actor, outcome, message string) {
	s.refusals.refuseAs(refusalKey{source: source, actor: actor, outcome: outcome}, "", outcome, message, false)
}

// refuseAPI is the API authentication's refusal hook.
func (s *Server) refuseAPI(_ context.Context, r audit.Record) {
	s.RecordRefusal(r.Source, r.Actor, r.Outcome, r.Message)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

func jsonError(c *gin.Context, code int, field, msg string) {
	body := gin.H{"error": msg}
	if field != "" {
		body["field"] = field
	}
	c.AbortWithStatusJSON(code, body)
}

func jsonContentType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// ingest serves /hooks/SOURCE and /hooks/SOURCE/SUB. Generic sources are
// stored under "generic/NAME" and reached at /hooks/generic/NAME; for every
// other source the second segment is a URL token (Splunk cannot send
// headers), handed to the authenticator with auth.SetPathToken.
func (s *Server) ingest(c *gin.Context) {
	name, sub := c.Param("source"), c.Param("sub")
	if name == "generic" && sub != "" {
		name, sub = "generic/"+sub, ""
	}
	src, ok := s.cfg.Sources[name]
	if !ok {
		s.cfg.Metrics.Rejected("unknown", "unknown_source")
		jsonError(c, http.StatusNotFound, "", "unknown source "+strconv.Quote(name))
		return
	}
	if sub != "" {
		auth.SetPathToken(c.Request, sub)
	}
	s.receive(c, name, src)
}

// receive is the ingest path shared by every source: content type, size
// limit, authentication, decoding, then a durable append before the 2xx.
func (s *Server) receive(c *gin.Context, name string, src Source) {
	r := c.Request
	start := time.Now()
	reject := func(reason string) { s.cfg.Metrics.Rejected(name, reason) }
	addr := c.ClientIP()
	if src.Auth != nil {
		// An address refused too often is answered before its body is
		// read or its credentials checked. The budget is spent only by
		// refusals, so a legitimate sender elsewhere is not affected.
		if blocked, d := s.refusals.blocked(addr); blocked {
			reject(ReasonTooManyRefusals)
			s.refusals.refuse(name, addr, ReasonTooManyRefusals, "too many refused requests from this address", false)
			secs := int(d/time.Second) + 1
			c.Header("Retry-After", strconv.Itoa(secs))
			jsonError(c, http.StatusTooManyRequests, "", "too many refused requests from this address; retry after "+strconv.Itoa(secs)+"s")
			return
		}
	}
	limit := s.cfg.MaxBodyBytes
	if src.MaxBodyBytes > 0 {
		limit = src.MaxBodyBytes
	}
	if !jsonContentType(r.Header.Get("Content-Type")) {
		reject("content_type")
		jsonError(c, http.StatusUnsupportedMediaType, "", "content type must be application/json, got "+strconv.Quote(r.Header.Get("Content-Type")))
		return
	}
	if r.ContentLength > limit {
		reject("too_large")
		jsonError(c, http.StatusRequestEntityTooLarge, "", "body exceeds the limit of "+strconv.FormatInt(limit, 10)+" bytes")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			reject("too_large")
			jsonError(c, http.StatusRequestEntityTooLarge, "", "body exceeds the limit of "+strconv.FormatInt(limit, 10)+" bytes")
			return
		}
		reject("read_error")
		jsonError(c, http.StatusBadRequest, "", "reading the body failed")
		return
	}
	if src.Auth != nil {
		if err := src.Auth.Authenticate(r, body, s.cfg.Now()); err != nil {
			reason := auth.Reason(err)
			reject(reason)
			s.refusals.refuse(name, addr, reason, err.Error(), true)
			code := auth.HTTPStatus(err)
			msg := "unauthorized: " + strings.ReplaceAll(reason, "_", " ")
			if code == http.StatusForbidden {
				msg = "forbidden: the sender's address is not allowed"
			}
			jsonError(c, code, "", msg)
			return
		}
	}
	// The source's rate is spent only by authenticated requests: an
	// unauthenticated flood cannot use up the real sender's budget.
	if src.Limiter != nil {
		res := src.Limiter.Reserve()
		if d := res.Delay(); !res.OK() || d > 0 {
			res.Cancel()
			if rel, ok := src.Auth.(auth.Releaser); ok {
				rel.Release(r) // the sender retries this very request
			}
			reject("rate_limited")
			secs := int(d/time.Second) + 1
			c.Header("Retry-After", strconv.Itoa(secs))
			jsonError(c, http.StatusTooManyRequests, "", "source "+name+" is over its rate limit; retry after "+strconv.Itoa(secs)+"s")
			return
		}
	}
	now := s.cfg.Now().UTC()
	events, err := src.Decoder.Decode(body, now)
	if err != nil {
		reject("decode_error")
		var de *sources.DecodeError
		if errors.As(err, &de) {
			jsonError(c, http.StatusBadRequest, de.Field, de.Error())
			return
		}
		jsonError(c, http.StatusBadRequest, "", err.Error())
		return
	}
	var sender string
	if cs, ok := src.Auth.(auth.ClientCertSource); ok {
		sender = cs.Sender(r) // the verified client certificate's subject
	}
	for i := range events {
		ev := &events[i]
		ev.Raw = body
		ev.Sender = sender
		if ev.ReceivedAt.IsZero() {
			ev.ReceivedAt = now
		}
		if s.cfg.MaxEventAge > 0 && !ev.StartsAt.IsZero() && now.Sub(ev.StartsAt) > s.cfg.MaxEventAge && ev.Status == event.StatusFiring {
			ev.Stale = true
		}
	}
	seqs, err := s.cfg.Inbox.AppendEvents(r.Context(), events)
	if err != nil {
		reject("store_error")
		if rel, ok := src.Auth.(auth.Releaser); ok {
			// The sender will retry the identical request: it must not be
			// refused as a replay.
			rel.Release(r)
		}
		s.log.Error("storing events failed", "source", name, "error", err)
		c.Header("Retry-After", "5")
		jsonError(c, http.StatusServiceUnavailable, "", "events could not be stored; retry")
		return
	}
	accepted, stale := 0, 0
	for i, seq := range seqs {
		if seq != 0 {
			accepted++
			if events[i].Stale {
				stale++
			}
		}
	}
	s.cfg.Metrics.Received(name, accepted, len(seqs)-accepted, stale, time.Since(start))
	if accepted > 0 {
		s.cfg.Engine.Notify()
	}
	c.JSON(http.StatusAccepted, gin.H{"accepted": accepted, "duplicates": len(seqs) - accepted})
}

func (s *Server) ready(c *gin.Context) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(c.Request.Context()); err != nil {
			jsonError(c, http.StatusServiceUnavailable, "", "store not writable: "+err.Error())
			return
		}
	}
	set := s.cfg.Engine.Playbooks()
	if set == nil {
		jsonError(c, http.StatusServiceUnavailable, "", "no playbooks loaded")
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "playbooks": set.Len()})
}

func (s *Server) listAudit(c *gin.Context) {
	q := audit.Query{
		EventID:  c.Query("event_id"),
		Playbook: c.Query("playbook"),
		Action:   c.Query("action"),
		Kind:     audit.Kind(c.Query("kind")),
		Outcome:  c.Query("outcome"),
	}
	if q.Outcome == "" {
		q.Outcome = c.Query("reason") // a refusal's reason is its outcome
	}
	var err error
	if v := c.Query("cursor"); v != "" {
		if q.After, err = strconv.ParseUint(v, 10, 64); err != nil {
			jsonError(c, http.StatusBadRequest, "cursor", "cursor must be a record sequence number")
			return
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			jsonError(c, http.StatusBadRequest, "limit", "limit must be between 1 and 1000")
			return
		}
		q.Limit = n
	}
	for _, tf := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if v := c.Query(tf.name); v != "" {
			t, err := parseTime(v, s.cfg.Now())
			if err != nil {
				jsonError(c, http.StatusBadRequest, tf.name, tf.name+" must be RFC 3339 or a duration ago such as 24h")
				return
			}
			*tf.dst = t
		}
	}
	recs, next, err := s.cfg.Audit.ListAudit(c.Request.Context(), q)
	if err != nil {
		jsonError(c, http.StatusInternalServerError, "", "reading the audit trail failed")
		return
	}
	if recs == nil {
		recs = []audit.Record{}
	}
	// Records are redacted when written; passing them through the redactor
	// again hides what a pattern added since then matches, as the
	// dashboard's /audit page and export do.
	out := gin.H{"records": s.red.Records(recs)}
	if next != 0 {
		out["next_cursor"] = strconv.FormatUint(next, 10)
	}
	c.JSON(http.StatusOK, out)
}

// parseTime accepts RFC 3339 or a duration meaning "that long ago".
func parseTime(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339, v)
}

func (s *Server) listPlaybooks(c *gin.Context) {
	set := s.cfg.Engine.Playbooks()
	out := []gin.H{}
	if set != nil {
		for _, p := range set.Playbooks {
			out = append(out, gin.H{"name": p.Name, "description": p.Description, "mode": p.Mode, "file": p.File, "line": p.Line, "hash": p.Hash, "steps": len(p.Steps)})
		}
	}
	c.JSON(http.StatusOK, gin.H{"playbooks": out})
}
