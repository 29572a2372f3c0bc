package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/store"
)

// ApprovalsConfig is the configuration file's `approvals:` section: where
// approval requests are posted, who may decide them and how long they wait.
// Each secret can be given literally, by environment variable (_env) or by
// file (_file); use one of the three.
type ApprovalsConfig struct {
	// SlackChannel is the channel approval requests are posted to.
	SlackChannel string `yaml:"slack_channel"`
	// SigningSecret is the Slack app's signing secret; without it every
	// call to /slack/interactions is refused.
	SigningSecret     string `yaml:"signing_secret"`
	SigningSecretEnv  string `yaml:"signing_secret_env"`
	SigningSecretFile string `yaml:"signing_secret_file"`
	// BotToken (xoxb-…) posts and updates the messages (scopes chat:write,
	// and usergroups:read for allowed_groups). Without it the slack.notify
	// client (actions.slack) is used when that one has a token.
	BotToken     string `yaml:"bot_token"`
	BotTokenEnv  string `yaml:"bot_token_env"`
	BotTokenFile string `yaml:"bot_token_file"`
	// SlackAPIURL overrides Slack's Web API base URL (tests, proxies).
	SlackAPIURL string `yaml:"slack_api_url"`
	// AllowedUsers are Slack user ids (U…, W…) that may approve and deny.
	AllowedUsers []string `yaml:"allowed_users"`
	// AllowedGroups are Slack user group ids (S…) whose members may.
	AllowedGroups []string `yaml:"allowed_groups"`
	// DefaultExpiry is how long an approval waits when the playbook does
	// not say (default 30m); undecided approvals are then denied.
	DefaultExpiry Duration `yaml:"default_expiry"`
	// Approvers is how many distinct people must approve when the playbook
	// does not say (default 1; 2 is the two-person rule).
	Approvers int `yaml:"approvers"`
	// SweepInterval is how often expiries are checked (default 5s).
	SweepInterval Duration `yaml:"sweep_interval"`
	// Retention is how long decided approvals are listed (default 720h).
	Retention Duration `yaml:"retention"`
	// APITokens authenticate /api/v1/approvals; the approver role decides,
	// the viewer role only lists.
	APITokens []ApprovalsAPIToken `yaml:"api_tokens"`
}

// ApprovalsAPIToken is one bearer token of the approvals API.
type ApprovalsAPIToken struct {
	// Name identifies the token in the audit trail (api:NAME).
	Name      string `yaml:"name"`
	Token     string `yaml:"token"`
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// Roles lists approver and/or viewer.
	Roles []string `yaml:"roles"`
}

// API token roles.
const (
	RoleApprover = "approver"
	RoleViewer   = "viewer"
)

// maxSlackBody bounds an interaction callback; Slack's carry the whole
// message, so they are larger than one might expect.
const maxSlackBody = 1 << 20

var (
	slackUserRE  = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
	slackGroupRE = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)
)

// approvalsFeature is the approval gate as wired into the app: the service
// (which the engine sees as its Approver) and what its routes need.
type approvalsFeature struct {
	*approval.Service
	db     *store.DB
	secret string
	tokens []approvalsToken
	// openRead guards reads when no approvals token is configured.
	openRead gin.HandlerFunc
	now      func() time.Time
	log      *slog.Logger
}

type approvalsToken struct {
	name  string
	hash  [sha256.Size]byte
	roles map[string]bool
}

// setupApprovals builds the approval gate before the engine exists; the
// engine is bound late, when an approval completes.
func setupApprovals(a *App) error {
	cfg := a.Config.Approvals
	secret, err := approvalsSecret("approvals.signing_secret", cfg.SigningSecret, cfg.SigningSecretEnv, cfg.SigningSecretFile)
	if err != nil {
		return err
	}
	botToken, err := approvalsSecret("approvals.bot_token", cfg.BotToken, cfg.BotTokenEnv, cfg.BotTokenFile)
	if err != nil {
		return err
	}
	for _, u := range cfg.AllowedUsers {
		if !slackUserRE.MatchString(u) {
			return fmt.Errorf("approvals.allowed_users: %q is not a slack user id such as U024BE7LH", u)
		}
	}
	for _, g := range cfg.AllowedGroups {
		if !slackGroupRE.MatchString(g) {
			return fmt.Errorf("approvals.allowed_groups: %q is not a slack user group id such as S0614TZR7", g)
		}
	}
	if botToken != "" && cfg.SlackChannel == "" {
		return errors.New("approvals.slack_channel is required when a bot token is configured")
	}
	if cfg.Approvers < 0 {
		return errors.New("approvals.approvers must be at least 1")
	}
	tokens, err := approvalsTokens(cfg.APITokens)
	if err != nil {
		return err
	}
	log := a.log.With("component", "approvals")
	now := a.opts.Now
	var sc approval.Notifier
	if botToken != "" {
		sc = slack.NewApprovalNotifier(slack.New(slack.Config{Token: botToken, APIURL: cfg.SlackAPIURL, DefaultChannel: cfg.SlackChannel, Logger: log}))
	} else if a.Actions != nil && a.Actions.Slack != nil && a.Actions.Slack.Available() == nil {
		// Reuse the slack.notify client (actions.slack); its default
		// channel applies when approvals.slack_channel is not set.
		sc = slack.NewApprovalNotifier(a.Actions.Slack)
	}
	if sc != nil {
		if secret == "" {
			log.Warn("approval messages are posted to slack but no signing secret is configured: every button click will be refused")
		}
		if len(cfg.AllowedUsers) == 0 && len(cfg.AllowedGroups) == 0 {
			log.Warn("nobody is allowed to decide approvals in slack: set approvals.allowed_users or allowed_groups")
		}
	}
	db := a.DB
	svc := approval.New(approval.Config{
		Store: db, Notifier: sc, Channel: cfg.SlackChannel,
		AllowedUsers: cfg.AllowedUsers, AllowedGroups: cfg.AllowedGroups,
		DefaultExpiry: time.Duration(cfg.DefaultExpiry), DefaultApprovers: cfg.Approvers,
		Requester: func(p *engine.Plan) string {
			who, err := p.Playbook.RequestedBy(p.Event)
			if err != nil {
				// The request still goes out; under a two-person rule it
				// needs that many approvers, none of them exempted.
				log.Warn("approval requester could not be evaluated", "playbook", p.Playbook.Name, "event", p.Event.ID, "error", err)
			}
			return who
		},
		Continue: func(ctx context.Context, seq uint64, playbook, phase string, from int, approvedBy string) error {
			if a.Engine == nil {
				return errors.New("the engine is not running")
			}
			return a.Engine.Continue(ctx, seq, playbook, phase, from, approvedBy)
		},
		Trail: func(ctx context.Context, eventID, playbook string, since time.Time) ([]audit.Record, error) {
			var out []audit.Record
			q := audit.Query{EventID: eventID, Playbook: playbook, Since: since, Limit: 1000}
			for {
				recs, next, err := db.ListAudit(ctx, q)
				if err != nil {
					return nil, err
				}
				out = append(out, recs...)
				if next == 0 {
					return out, nil
				}
				q.After = next
			}
		},
		Now: now, Logger: log,
		SweepInterval: time.Duration(cfg.SweepInterval), Retention: time.Duration(cfg.Retention),
	})
	f := &approvalsFeature{Service: svc, db: db, secret: secret, tokens: tokens, now: now, log: log}
	a.approver = f
	a.Go(svc.Run)
	a.closers = append(a.closers, svc.Close)
	return nil
}

// approvalsSecret resolves a secret given literally, by environment
// variable or by file. Errors name the key, never the value.
func approvalsSecret(key, literal, env, file string) (string, error) {
	n := 0
	for _, v := range []string{literal, env, file} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return "", fmt.Errorf("%s: set only one of %s, %s_env and %s_file", key, key, key, key)
	}
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("%s_env: environment variable %s is not set", key, env)
		}
		return strings.TrimSpace(v), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", key, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s_file: %s is empty", key, file)
		}
		return v, nil
	}
	return strings.TrimSpace(literal), nil
}

func approvalsTokens(cfg []ApprovalsAPIToken) ([]approvalsToken, error) {
	var out []approvalsToken
	seen := map[string]bool{}
	for i, t := range cfg {
		key := fmt.Sprintf("approvals.api_tokens[%d]", i)
		if t.Name == "" {
			return nil, fmt.Errorf("%s.name is required", key)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("%s.name: %q is used twice", key, t.Name)
		}
		seen[t.Name] = true
		v, err := approvalsSecret(key+".token", t.Token, t.TokenEnv, t.TokenFile)
		if err != nil {
			return nil, err
		}
		if len(v) < 16 {
			return nil, fmt.Errorf("%s.token: must be at least 16 characters", key)
		}
		if len(t.Roles) == 0 {
			return nil, fmt.Errorf("%s.roles: list approver and/or viewer", key)
		}
		roles := map[string]bool{}
		for _, r := range t.Roles {
			if r != RoleApprover && r != RoleViewer {
				return nil, fmt.Errorf("%s.roles: %q must be approver or viewer", key, r)
			}
			roles[r] = true
		}
		out = append(out, approvalsToken{name: t.Name, hash: sha256.Sum256([]byte(v)), roles: roles})
	}
	return out, nil
}

// routesApprovals adds the Slack callback and the approvals API.
func routesApprovals(a *App) {
	f, ok := a.approver.(*approvalsFeature)
	if !ok {
		return
	}
	f.openRead = a.readAuth()
	r := a.Web.Router()
	r.POST("/slack/interactions", f.slackInteraction)
	r.GET("/api/v1/approvals", f.list)
	r.GET("/api/v1/approvals/:id", f.get)
	r.POST("/api/v1/approvals/:id/approve", f.decide(approval.Approve))
	r.POST("/api/v1/approvals/:id/deny", f.decide(approval.Deny))
}

func (f *approvalsFeature) audit(ctx context.Context, r audit.Record) {
	if err := f.db.Audit(context.WithoutCancel(ctx), r); err != nil {
		f.log.Error("writing an audit record failed", "kind", r.Kind, "error", err)
	}
}

// slackInteraction verifies Slack's signature on the raw body before
// anything else, answers at once and decides in the background.
func (f *approvalsFeature) slackInteraction(c *gin.Context) {
	ctx := c.Request.Context()
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxSlackBody))
	if err != nil {
		f.audit(ctx, audit.Record{Kind: audit.KindAuthFailed, Source: "slack", Outcome: "unauthorized", Message: "unreadable or oversized interaction body", Actor: c.ClientIP()})
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "unauthorized"})
		return
	}
	if err := slack.VerifyRequest(c.Request.Header, body, f.secret, f.now()); err != nil {
		f.audit(ctx, audit.Record{Kind: audit.KindAuthFailed, Source: "slack", Outcome: "unauthorized", Message: "slack interaction refused: " + err.Error(), Actor: c.ClientIP()})
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "unauthorized"})
		return
	}
	in, err := slack.ParseInteraction(body)
	if err != nil {
		f.audit(ctx, audit.Record{Kind: audit.KindApproval, Source: "slack", Outcome: approval.OutcomeRefused, Message: err.Error(), Actor: c.ClientIP()})
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "not a block_actions callback"})
		return
	}
	if in.Decision != slack.DecisionNone {
		f.Submit(ctx, in.Click())
	}
	c.Status(http.StatusOK)
}

// authorize checks the bearer token against the configured tokens in
// constant time and returns the token's name when it has one of roles.
func (f *approvalsFeature) authorize(c *gin.Context, roles ...string) (string, bool) {
	given, found := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	sum := sha256.Sum256([]byte(strings.TrimSpace(given)))
	var match *approvalsToken
	for i := range f.tokens {
		if subtle.ConstantTimeCompare(sum[:], f.tokens[i].hash[:]) == 1 {
			match = &f.tokens[i]
		}
	}
	if !found || given == "" || match == nil {
		f.audit(c.Request.Context(), audit.Record{Kind: audit.KindAuthFailed, Source: "api", Outcome: "unauthorized", Message: c.Request.Method + " " + c.FullPath() + ": missing or unknown bearer token", Actor: c.ClientIP()})
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "unauthorized: a bearer token is required"})
		return "", false
	}
	for _, r := range roles {
		if match.roles[r] {
			return match.name, true
		}
	}
	f.audit(c.Request.Context(), audit.Record{Kind: audit.KindAuthFailed, Source: "api", Outcome: "forbidden", Message: c.Request.Method + " " + c.FullPath() + ": token lacks the " + strings.Join(roles, " or ") + " role", Actor: "api:" + match.name})
	c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "forbidden: the token lacks the " + strings.Join(roles, " or ") + " role"})
	return "", false
}

func (f *approvalsFeature) canRead(c *gin.Context) bool {
	if len(f.tokens) == 0 {
		// No approvals tokens: the rule of the rest of the read API
		// (guards.api_token, or loopback peers only).
		f.openRead(c)
		return !c.IsAborted()
	}
	_, ok := f.authorize(c, RoleApprover, RoleViewer)
	return ok
}

func (f *approvalsFeature) list(c *gin.Context) {
	if !f.canRead(c) {
		return
	}
	filter := approval.Filter{}
	switch st := c.DefaultQuery("status", "all"); st {
	case "all", "":
	case string(approval.StatusPending), string(approval.StatusApproved), string(approval.StatusDenied), string(approval.StatusExpired), string(approval.StatusCancelled):
		filter.Status = approval.Status(st)
	default:
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "status must be all, pending, approved, denied, expired or cancelled", "field": "status"})
		return
	}
	list, err := approval.List(c.Request.Context(), f.db, filter)
	if err != nil {
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "reading approvals failed"})
		return
	}
	if list == nil {
		list = []approval.Approval{}
	}
	c.JSON(http.StatusOK, gin.H{"approvals": list})
}

func (f *approvalsFeature) get(c *gin.Context) {
	if !f.canRead(c) {
		return
	}
	a, err := approval.Get(c.Request.Context(), f.db, c.Param("id"))
	if errors.Is(err, approval.ErrNotFound) {
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "no such approval"})
		return
	}
	if err != nil {
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "reading the approval failed"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"approval": a})
}

// decide is POST /api/v1/approvals/{id}/approve|deny with body
// {"plan_hash": "…"}; approving requires the plan hash.
func (f *approvalsFeature) decide(d approval.Decision) gin.HandlerFunc {
	return func(c *gin.Context) {
		name, ok := f.authorize(c, RoleApprover)
		if !ok {
			return
		}
		ctx := c.Request.Context()
		id := c.Param("id")
		var body struct {
			PlanHash string `json:"plan_hash"`
		}
		raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10))
		if err != nil {
			c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, gin.H{"error": "body too large"})
			return
		}
		if len(strings.TrimSpace(string(raw))) > 0 {
			if err := json.Unmarshal(raw, &body); err != nil {
				c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "body must be JSON such as {\"plan_hash\": \"…\"}"})
				return
			}
		}
		if body.PlanHash == "" {
			body.PlanHash = c.Query("plan_hash")
		}
		if body.PlanHash == "" && d == approval.Deny {
			// Denying never runs anything: it may name the approval alone.
			if cur, err := approval.Get(ctx, f.db, id); err == nil {
				body.PlanHash = cur.PlanHash
			}
		}
		if body.PlanHash == "" {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "plan_hash is required: an approval binds to the exact plan (see GET /api/v1/approvals)", "field": "plan_hash"})
			return
		}
		a, err := f.Decide(ctx, id, body.PlanHash, d, approval.Actor{ID: "api:" + name, Name: name}, approval.ViaAPI)
		if err != nil {
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, approval.ErrNotFound):
				code = http.StatusNotFound
			case errors.Is(err, approval.ErrRequester), errors.Is(err, approval.ErrNotAllowed):
				code = http.StatusForbidden
			case errors.Is(err, approval.ErrPlanMismatch), errors.Is(err, approval.ErrDecided),
				errors.Is(err, approval.ErrAlreadyApproved), errors.Is(err, approval.ErrExpired):
				code = http.StatusConflict
			}
			out := gin.H{"error": err.Error()}
			if a.ID != "" {
				out["approval"] = a
			}
			c.AbortWithStatusJSON(code, out)
			return
		}
		c.JSON(http.StatusOK, gin.H{"approval": a})
	}
}

var _ engine.ApprovalChecker = (*approvalsFeature)(nil)
