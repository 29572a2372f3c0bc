package web

import (
	"context"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
)

// maxSlackBody bounds an interaction callback; Slack's carry the whole
// message, so they are larger than one might expect.
const maxSlackBody = 1 << 20

// SlackDecider takes a verified Slack button click (the approval gate).
type SlackDecider interface {
	Submit(ctx context.Context, in approval.Click)
}

// SlackBreakers takes a verified click on a breaker-opened message's Reset
// button. It checks who clicked, resets, audits and answers in Slack.
type SlackBreakers interface {
	ResetFromSlack(ctx context.Context, in SlackClick)
}

// SlackConfig configures POST /slack/interactions.
type SlackConfig struct {
	// Decider receives verified clicks on approval buttons.
	Decider SlackDecider
	// Breakers receives verified clicks on Reset buttons; nil ignores them.
	Breakers SlackBreakers
	// SigningSecret is the Slack app's signing secret; empty refuses every
	// callback.
	SigningSecret string
}

// routesSlack adds POST /slack/interactions: it verifies Slack's signature
// on the raw body before anything else, answers at once and lets the gate
// (an approval button) or the breakers (a Reset button) act in the
// background. The signature check and the parsing are slackcallback.go's.
func (s *Server) routesSlack(sc SlackConfig) {
	s.router.POST("/slack/interactions", func(c *gin.Context) {
		ctx := c.Request.Context()
		peer := peerAddr(c.Request)
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxSlackBody))
		if err != nil {
			s.RecordRefusal("slack", peer, "unauthorized", "unreadable or oversized interaction body")
			jsonError(c, http.StatusUnauthorized, "", "unauthorized")
			return
		}
		if err := VerifySlackRequest(c.Request.Header, body, sc.SigningSecret, s.cfg.Now()); err != nil {
			s.RecordRefusal("slack", peer, "unauthorized", "slack interaction refused: "+err.Error())
			jsonError(c, http.StatusUnauthorized, "", "unauthorized")
			return
		}
		in, err := ParseSlackClick(body)
		if err != nil {
			s.auditRecord(ctx, audit.Record{Kind: audit.KindApproval, Source: "slack", Outcome: approval.OutcomeRefused, Message: err.Error(), Actor: peer})
			jsonError(c, http.StatusBadRequest, "", "not a block_actions callback")
			return
		}
		switch {
		case in.BreakerID != "" && sc.Breakers != nil:
			sc.Breakers.ResetFromSlack(ctx, in)
		case in.Decision != "" && sc.Decider != nil:
			sc.Decider.Submit(ctx, in.ApprovalClick())
		}
		c.Status(http.StatusOK)
	})
}
