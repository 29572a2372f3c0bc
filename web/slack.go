package web

import (
	"context"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/actions/slack"
	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
)

// maxSlackBody bounds an interaction callback; Slack's carry the whole
// message, so they are larger than one might expect.
const maxSlackBody = 1 << 20

// SlackDecider takes a verified Slack button click (the approval gate).
type SlackDecider interface {
	Submit(ctx context.Context, in slack.Interaction)
}

// SlackConfig configures POST /slack/interactions.
type SlackConfig struct {
	// Decider receives verified clicks.
	Decider SlackDecider
	// SigningSecret is the Slack app's signing secret; empty refuses every
	// callback.
	SigningSecret string
}

// routesSlack adds POST /slack/interactions: it verifies Slack's signature
// on the raw body before anything else, answers at once and lets the gate
// decide in the background.
func (s *Server) routesSlack(sc SlackConfig) {
	s.router.POST("/slack/interactions", func(c *gin.Context) {
		ctx := c.Request.Context()
		peer := peerAddr(c.Request)
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxSlackBody))
		if err != nil {
			s.auditRecord(ctx, audit.Record{Kind: audit.KindAuthFailed, Source: "slack", Outcome: "unauthorized", Message: "unreadable or oversized interaction body", Actor: peer})
			jsonError(c, http.StatusUnauthorized, "", "unauthorized")
			return
		}
		if err := slack.VerifyRequest(c.Request.Header, body, sc.SigningSecret, s.cfg.Now()); err != nil {
			s.auditRecord(ctx, audit.Record{Kind: audit.KindAuthFailed, Source: "slack", Outcome: "unauthorized", Message: "slack interaction refused: " + err.Error(), Actor: peer})
			jsonError(c, http.StatusUnauthorized, "", "unauthorized")
			return
		}
		in, err := slack.ParseInteraction(body)
		if err != nil {
			s.auditRecord(ctx, audit.Record{Kind: audit.KindApproval, Source: "slack", Outcome: approval.OutcomeRefused, Message: err.Error(), Actor: peer})
			jsonError(c, http.StatusBadRequest, "", "not a block_actions callback")
			return
		}
		if in.Decision != slack.DecisionNone {
			sc.Decider.Submit(ctx, in)
		}
		c.Status(http.StatusOK)
	})
}
