package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/playbooks"
)

// GuardsConfig is the `guards:` section: protected targets, parameter
// bounds, global caps, the kill switch, who is told when a breaker opens,
// and the token that protects the guard API.
type GuardsConfig struct {
	// Paused stops all execution while set; the API cannot resume it.
	Paused bool `yaml:"paused"`
	// Protected lists what no playbook may touch.
	Protected struct {
		// Namespaces are names or patterns ("kube-*").
		Namespaces []string `yaml:"namespaces"`
		// Labels are selectors matched against the event's labels
		// ("firebreak.io/protected=true", "tier=db,env!=dev").
		Labels []string `yaml:"labels"`
		// CIDRs are address ranges or single addresses.
		CIDRs []string `yaml:"cidrs"`
	} `yaml:"protected"`
	// Bounds limits integer parameters per action and parameter:
	// {kubernetes.scale: {replicas: {min: 1, max: 20}}}.
	Bounds map[string]map[string]BoundConfig `yaml:"bounds"`
	// MaxActions caps acting runs across all playbooks ("30/1m").
	MaxActions string `yaml:"max_actions"`
	// MaxTargets caps distinct targets acted on across all playbooks
	// ("10/10m").
	MaxTargets string `yaml:"max_targets"`
	// Notify runs an action when a breaker opens (webhook.notify,
	// slack.notify); the message fills its text or body unless set.
	Notify *GuardNotifyConfig `yaml:"notify"`
	// APIToken, APITokenEnv or APITokenFile set the bearer token that
	// POST /api/v1/breakers/{id}/reset, /pause and /resume require.
	// Without one those endpoints answer loopback clients only.
	APIToken     string `yaml:"api_token"`
	APITokenEnv  string `yaml:"api_token_env"`
	APITokenFile string `yaml:"api_token_file"`
}

// BoundConfig bounds one integer parameter; an absent end is open.
type BoundConfig struct {
	Min *int `yaml:"min"`
	Max *int `yaml:"max"`
}

// GuardNotifyConfig names the action that tells humans a breaker opened.
type GuardNotifyConfig struct {
	Action string         `yaml:"action"`
	With   map[string]any `yaml:"with"`
}

// setupGuards builds the guard from the configuration and hands it to the
// engine; it starts the breaker notifier and the state sweeper.
func setupGuards(a *App) error {
	gc := a.Config.Guards
	cfg := guard.Config{
		Store: a.DB, Registry: a.Registry, Paused: gc.Paused,
		ProtectedNamespaces: gc.Protected.Namespaces, ProtectedLabels: gc.Protected.Labels, ProtectedCIDRs: gc.Protected.CIDRs,
		Logger: a.log.With("component", "guard"),
	}
	var err error
	if cfg.MaxActions, err = parseRate(gc.MaxActions); err != nil {
		return fmt.Errorf("guards.max_actions: %w", err)
	}
	if cfg.MaxTargets, err = parseRate(gc.MaxTargets); err != nil {
		return fmt.Errorf("guards.max_targets: %w", err)
	}
	if len(gc.Bounds) > 0 {
		cfg.Bounds = map[string]map[string]guard.Bound{}
		for id, params := range gc.Bounds {
			if _, err := a.Registry.Get(id); err != nil {
				return fmt.Errorf("guards.bounds: %w", err)
			}
			cfg.Bounds[id] = map[string]guard.Bound{}
			for name, b := range params {
				cfg.Bounds[id][name] = guard.Bound{Min: b.Min, Max: b.Max}
			}
		}
	}
	if gc.Notify != nil {
		n, err := newActionNotifier(a.Registry, *gc.Notify)
		if err != nil {
			return fmt.Errorf("guards.notify: %w", err)
		}
		cfg.Notifier = n
	}
	if _, err := guardToken(gc); err != nil {
		return err
	}
	g, err := guard.New(cfg)
	if err != nil {
		return fmt.Errorf("guards: %w", err)
	}
	if gc.Paused {
		a.log.Warn("execution is paused by the configuration (guards.paused): events are accepted and audited, nothing runs")
	}
	a.guard = g
	a.Go(func(ctx context.Context) { g.RunNotifier(ctx, 30*time.Second) })
	a.Go(func(ctx context.Context) { g.RunSweeper(ctx, 10*time.Minute) })
	return nil
}

// Guard returns the guard the engine runs, for the API and metrics.
func (a *App) Guard() *guard.Guard {
	g, _ := a.guard.(*guard.Guard)
	return g
}

func parseRate(s string) (guard.Rate, error) {
	if strings.TrimSpace(s) == "" {
		return guard.Rate{}, nil
	}
	b, err := playbooks.ParseBudget(s)
	if err != nil {
		return guard.Rate{}, err
	}
	return guard.Rate{Count: b.Count, Window: b.Window}, nil
}

// actionNotifier tells humans through a registered action.
type actionNotifier struct {
	act  actions.Action
	with map[string]any
}

func newActionNotifier(reg *actions.Registry, nc GuardNotifyConfig) (*actionNotifier, error) {
	act, err := reg.Get(nc.Action)
	if err != nil {
		return nil, err
	}
	n := &actionNotifier{act: act, with: nc.With}
	sample := guard.Notification{Kind: guard.KindBreakerOpened, BreakerID: "0000000000000000", Playbook: "example", Target: "Deployment/shop/cart", Reason: "3 runs failed in the last 30m0s"}
	if err := act.Validate(n.params(sample), true); err != nil {
		return nil, fmt.Errorf("%s: %w", nc.Action, err)
	}
	return n, nil
}

// params fills the action's text or body parameter with the notification,
// unless the configuration sets it.
func (n *actionNotifier) params(note guard.Notification) map[string]any {
	p := make(map[string]any, len(n.with)+1)
	for k, v := range n.with {
		p[k] = v
	}
	for _, prm := range n.act.Spec().Params {
		if _, set := p[prm.Name]; set {
			continue
		}
		switch prm.Name {
		case "text":
			// The text names the target, which comes from event data: it is
			// escaped like a template value (slack.notify: no mentions).
			text := note.Text()
			if prm.Escape != nil {
				text = prm.Escape(text)
			}
			p["text"] = text
		case "body":
			var body map[string]any
			b, _ := json.Marshal(note)
			_ = json.Unmarshal(b, &body)
			body["text"] = note.Text()
			p["body"] = body
		}
	}
	return p
}

// Notify implements guard.Notifier.
func (n *actionNotifier) Notify(ctx context.Context, note guard.Notification) error {
	_, err := n.act.Run(ctx, actions.Request{Params: n.params(note), Playbook: note.Playbook, Attempt: 1})
	return err
}

// routesGuards adds the guard API:
//
//	GET  /api/v1/breakers             every breaker, open ones first
//	POST /api/v1/breakers/{id}/reset  close a breaker and forget its history
//	GET  /api/v1/pause                the kill switch
//	POST /api/v1/pause                stop all execution ({"reason": "…"})
//	POST /api/v1/resume               resume execution
//
// The POST endpoints need the configured bearer token; without one they
// answer loopback clients only.
func routesGuards(a *App) {
	g := a.Guard()
	if g == nil {
		return
	}
	token, err := guardToken(a.Config.Guards)
	if err != nil {
		// setupGuards validated the token; an error here means the
		// environment changed in between.
		a.log.Error("guard API token unavailable; mutating guard endpoints refuse every request", "error", err)
		token = ""
	}
	if token == "" && err == nil {
		a.log.Warn("no guards.api_token configured: breaker reset, pause and resume accept loopback clients only")
	}
	mutate := apiAuth(token, err != nil)
	read := a.readAuth()
	r := a.Web.Router()
	r.GET("/api/v1/breakers", read, func(c *gin.Context) {
		bs, err := g.Breakers(c.Request.Context())
		if err != nil {
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "reading breakers failed"})
			return
		}
		c.JSON(http.StatusOK, gin.H{"breakers": bs})
	})
	r.POST("/api/v1/breakers/:id/reset", mutate, func(c *gin.Context) {
		st, err := g.ResetBreaker(c.Request.Context(), c.Param("id"), actor(c))
		switch {
		case errors.Is(err, guard.ErrUnknownBreaker):
			c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "no breaker with id " + c.Param("id")})
		case err != nil:
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "resetting the breaker failed"})
		default:
			c.JSON(http.StatusOK, gin.H{"breaker": st})
		}
	})
	r.GET("/api/v1/pause", read, func(c *gin.Context) {
		st, err := g.PauseStatus(c.Request.Context())
		if err != nil {
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "reading the kill switch failed"})
			return
		}
		c.JSON(http.StatusOK, st)
	})
	r.POST("/api/v1/pause", mutate, func(c *gin.Context) {
		var body struct {
			Reason string `json:"reason"`
		}
		if c.Request.ContentLength != 0 {
			if err := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, 4096)).Decode(&body); err != nil {
				c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": `body must be JSON such as {"reason": "incident 42"}`})
				return
			}
		}
		st, err := g.Pause(c.Request.Context(), actor(c), body.Reason)
		if err != nil {
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "pausing failed"})
			return
		}
		c.JSON(http.StatusOK, st)
	})
	r.POST("/api/v1/resume", mutate, func(c *gin.Context) {
		st, err := g.Resume(c.Request.Context(), actor(c))
		switch {
		case errors.Is(err, guard.ErrPausedByConfig):
			c.AbortWithStatusJSON(http.StatusConflict, gin.H{"error": "execution is paused by the configuration file (guards.paused); edit it and restart", "status": st})
		case err != nil:
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "resuming failed"})
		default:
			c.JSON(http.StatusOK, st)
		}
	})
}

// guardToken resolves the API token: a literal, an environment variable
// or a file, first one set wins. Errors never contain the token.
func guardToken(gc GuardsConfig) (string, error) {
	switch {
	case gc.APIToken != "":
		return gc.APIToken, nil
	case gc.APITokenEnv != "":
		v, ok := os.LookupEnv(gc.APITokenEnv)
		if !ok || v == "" {
			return "", fmt.Errorf("guards.api_token_env: environment variable %s is not set", gc.APITokenEnv)
		}
		return v, nil
	case gc.APITokenFile != "":
		b, err := os.ReadFile(gc.APITokenFile)
		if err != nil {
			return "", fmt.Errorf("guards.api_token_file: %w", err)
		}
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("guards.api_token_file %s is empty", gc.APITokenFile)
	}
	return "", nil
}

// operatorAuth is the middleware of every operator endpoint (breaker
// reset, pause, resume, playbook reload, replay): the guards API token, or
// loopback peers only when none is configured.
func (a *App) operatorAuth() gin.HandlerFunc {
	token, err := guardToken(a.Config.Guards)
	return apiAuth(token, err != nil)
}

// apiAuth protects mutating endpoints: with a token, an Authorization
// bearer header must match it (compared in constant time over SHA-256
// digests, so neither content nor length leaks); without one, only
// loopback clients pass. broken refuses everything.
func apiAuth(token string, broken bool) gin.HandlerFunc {
	want := sha256.Sum256([]byte(token))
	return func(c *gin.Context) {
		if broken {
			c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": "the guard API token is not available"})
			return
		}
		if token == "" {
			if !loopbackAddr(c.Request.RemoteAddr) { // the TCP peer, not a forwarded header
				c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "configure guards.api_token to use this endpoint from another host"})
				return
			}
			c.Next()
			return
		}
		got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="firebreak"`)
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "a valid bearer token is required"})
			return
		}
		c.Next()
	}
}

// actor names who called the API for the audit trail: the X-Firebreak-Actor
// header when given (trusted only as far as the token is), and the peer.
func actor(c *gin.Context) string {
	peer, _, _ := net.SplitHostPort(c.Request.RemoteAddr)
	name := strings.TrimSpace(c.GetHeader("X-Firebreak-Actor"))
	if len(name) > 64 {
		name = name[:64]
	}
	if name == "" {
		return "api@" + peer
	}
	return name + " (api@" + peer + ")"
}
