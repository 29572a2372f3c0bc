package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Errors a DeadLetters implementation wraps so the API answers with the
// right status.
var (
	// ErrDLQNotFound: no entry with that id (404).
	ErrDLQNotFound = errors.New("no such dead-letter entry")
	// ErrDLQStale: the entry's event is older than max_event_age; a retry
	// needs force (409).
	ErrDLQStale = errors.New("the event is stale")
	// ErrDLQGone: the entry's event or playbook is no longer there (410).
	ErrDLQGone = errors.New("the step can no longer run")
)

// DeadLetter is one entry of the dead-letter queue as the API shows it.
type DeadLetter struct {
	ID       string    `json:"id"`
	EventID  string    `json:"event_id"`
	Playbook string    `json:"playbook"`
	Phase    string    `json:"phase"`
	Step     int       `json:"step"`
	Action   string    `json:"action"`
	Target   string    `json:"target,omitempty"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	FailedAt time.Time `json:"failed_at"`
	Failures int       `json:"failures"`
	// Stale is set when the event is older than max_event_age: a retry
	// needs force.
	Stale bool `json:"stale"`
}

// DeadLetters is what the dead-letter API needs: the queue, and a way to
// run a step again (through every guard, with a fresh claim) or drop it.
// actor is who asked, for the audit trail.
type DeadLetters interface {
	ListDLQ(ctx context.Context) ([]DeadLetter, error)
	RetryDLQ(ctx context.Context, id string, force bool, actor string) (DeadLetter, error)
	DiscardDLQ(ctx context.Context, id, reason, actor string) (DeadLetter, error)
}

// routesDLQ serves the dead-letter API:
//
//	GET  /api/v1/dlq                → {"entries":[…]} (viewer)
//	POST /api/v1/dlq/:id/retry      {"force":false} → 202 {"retrying":{…}} (operator)
//	POST /api/v1/dlq/:id/discard    {"reason":"…"}  → 200 {"discarded":{…}} (operator)
//
// The audit records of a retry or discard name the token (api:NAME).
func (s *Server) routesDLQ(dl DeadLetters) {
	r := s.router
	read, operate := s.auth.require(RoleViewer), s.auth.require(RoleOperator)
	r.GET("/api/v1/dlq", read, func(c *gin.Context) {
		list, err := dl.ListDLQ(c.Request.Context())
		if err != nil {
			jsonError(c, http.StatusInternalServerError, "", "reading the dead-letter queue failed")
			return
		}
		out := make([]DeadLetter, len(list))
		for i, e := range list {
			// Written redacted; passed through the redactor again so a
			// configuration that adds patterns covers older entries too.
			e.Target, e.Error = s.red.String(e.Target), s.red.String(e.Error)
			out[i] = e
		}
		c.JSON(http.StatusOK, gin.H{"entries": out})
	})
	r.POST("/api/v1/dlq/:id/retry", operate, func(c *gin.Context) {
		var body struct {
			Force bool `json:"force"`
		}
		if !bindOptional(c, &body) {
			return
		}
		e, err := dl.RetryDLQ(c.Request.Context(), c.Param("id"), body.Force, apiActor(c))
		if dlqError(c, err) {
			return
		}
		c.JSON(http.StatusAccepted, gin.H{"retrying": e})
	})
	r.POST("/api/v1/dlq/:id/discard", operate, func(c *gin.Context) {
		var body struct {
			Reason string `json:"reason"`
		}
		if !bindOptional(c, &body) {
			return
		}
		if strings.TrimSpace(body.Reason) == "" {
			jsonError(c, http.StatusBadRequest, "reason", "a discard needs a reason")
			return
		}
		e, err := dl.DiscardDLQ(c.Request.Context(), c.Param("id"), body.Reason, apiActor(c))
		if dlqError(c, err) {
			return
		}
		c.JSON(http.StatusOK, gin.H{"discarded": e})
	})
}

// bindOptional decodes a JSON body when there is one.
func bindOptional(c *gin.Context, dst any) bool {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
	if c.Request.ContentLength == 0 {
		return true
	}
	if err := c.ShouldBindJSON(dst); err != nil {
		jsonError(c, http.StatusBadRequest, "", "body must be JSON: "+err.Error())
		return false
	}
	return true
}

// dlqError answers err and reports whether there was one.
func dlqError(c *gin.Context, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrDLQNotFound):
		jsonError(c, http.StatusNotFound, "id", err.Error())
	case errors.Is(err, ErrDLQStale):
		jsonError(c, http.StatusConflict, "force", err.Error())
	case errors.Is(err, ErrDLQGone):
		jsonError(c, http.StatusGone, "id", err.Error())
	default:
		jsonError(c, http.StatusInternalServerError, "", "the dead-letter queue failed")
	}
	return true
}
