package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/web/internal/apierr"
	"github.com/firebreak/firebreak/web/internal/redact"
)

// Approvals is what the approvals API needs of the approval gate.
type Approvals interface {
	List(ctx context.Context, f approval.Filter) ([]approval.Approval, error)
	Get(ctx context.Context, id string) (approval.Approval, error)
	Decide(ctx context.Context, id, planHash string, d approval.Decision, actor approval.Actor, via string) (approval.Approval, error)
}

// routesApprovals adds the approvals API:
//
//	GET  /api/v1/approvals               list (?status=…) (viewer)
//	GET  /api/v1/approvals/{id}          one approval (viewer)
//	POST /api/v1/approvals/{id}/approve  {"plan_hash": "…"} (approver)
//	POST /api/v1/approvals/{id}/deny     (approver)
func (s *Server) routesApprovals(ap Approvals) {
	// Approvals carry the event's rendered parameters and target: they are
	// answered through the audit redactor, as the dashboard shows them.
	r := s.router
	read, decide := s.auth.require(RoleViewer), s.auth.require(RoleApprover)
	r.GET("/api/v1/approvals", read, func(c *gin.Context) { listApprovals(c, ap, s.red) })
	r.GET("/api/v1/approvals/:id", read, func(c *gin.Context) { getApproval(c, ap, s.red) })
	r.POST("/api/v1/approvals/:id/approve", decide, func(c *gin.Context) { decideApproval(c, ap, approval.Approve, s.red) })
	r.POST("/api/v1/approvals/:id/deny", decide, func(c *gin.Context) { decideApproval(c, ap, approval.Deny, s.red) })
}

func listApprovals(c *gin.Context, ap Approvals, red redact.Func) {
	st, err := approval.ParseStatusFilter(c.DefaultQuery("status", "all"))
	if err != nil {
		jsonError(c, http.StatusBadRequest, "status", err.Error())
		return
	}
	filter := approval.Filter{Status: st}
	list, err := ap.List(c.Request.Context(), filter)
	if err != nil {
		jsonError(c, http.StatusInternalServerError, "", "reading approvals failed")
		return
	}
	if list == nil {
		list = []approval.Approval{}
	}
	c.JSON(http.StatusOK, gin.H{"approvals": red.Approvals(list)})
}

func getApproval(c *gin.Context, ap Approvals, red redact.Func) {
	a, err := ap.Get(c.Request.Context(), c.Param("id"))
	if errors.Is(err, approval.ErrNotFound) {
		jsonError(c, http.StatusNotFound, "", "no such approval")
		return
	}
	if err != nil {
		jsonError(c, http.StatusInternalServerError, "", "reading the approval failed")
		return
	}
	c.JSON(http.StatusOK, gin.H{"approval": red.Approval(a)})
}

// decideApproval is POST /api/v1/approvals/{id}/approve|deny with body
// {"plan_hash": "…"}; approving requires the plan hash. The actor is the
// token's name (api:NAME).
func decideApproval(c *gin.Context, ap Approvals, d approval.Decision, red redact.Func) {
	ctx := c.Request.Context()
	id := c.Param("id")
	var body struct {
		PlanHash string `json:"plan_hash"`
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10))
	if err != nil {
		jsonError(c, http.StatusRequestEntityTooLarge, "", "body too large")
		return
	}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			jsonError(c, http.StatusBadRequest, "", "body must be JSON such as {\"plan_hash\": \"…\"}")
			return
		}
	}
	if body.PlanHash == "" {
		body.PlanHash = c.Query("plan_hash")
	}
	if body.PlanHash == "" && d == approval.Deny {
		// Denying never runs anything: it may name the approval alone.
		if cur, err := ap.Get(ctx, id); err == nil {
			body.PlanHash = cur.PlanHash
		}
	}
	if body.PlanHash == "" {
		jsonError(c, http.StatusBadRequest, "plan_hash", "plan_hash is required: an approval binds to the exact plan (see GET /api/v1/approvals)")
		return
	}
	name := callerName(c)
	a, err := ap.Decide(ctx, id, body.PlanHash, d, approval.Actor{ID: "api:" + name, Name: name}, approval.ViaAPI)
	if err != nil {
		out := gin.H{"error": err.Error()}
		if a.ID != "" {
			out["approval"] = red.Approval(a)
		}
		c.AbortWithStatusJSON(apierr.Decision(err), out)
		return
	}
	c.JSON(http.StatusOK, gin.H{"approval": red.Approval(a)})
}
