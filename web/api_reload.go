package web

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/playbooks"
)

// TriggerAPI is the reload trigger (and audit actor) of the API.
const TriggerAPI = "api"

// Reloader swaps in a freshly loaded playbook set when all of it validates.
type Reloader interface {
	Reload(ctx context.Context, trigger string) ReloadResult
}

// ReloadResult says what a reload did.
type ReloadResult struct {
	OK        bool                `json:"ok"`
	Trigger   string              `json:"trigger"`
	Playbooks int                 `json:"playbooks"`
	Added     []string            `json:"added"`
	Removed   []string            `json:"removed"`
	Changed   []string            `json:"changed"`
	Error     string              `json:"error,omitempty"`
	Problems  []playbooks.Problem `json:"problems,omitempty"`
}

// Unchanged reports whether a successful reload found the same playbooks.
func (r ReloadResult) Unchanged() bool {
	return r.OK && len(r.Added)+len(r.Removed)+len(r.Changed) == 0
}

// routesReload adds POST /api/v1/playbooks/reload (operator). It answers
// 200 with what changed, or 422 with every problem when the new set does
// not validate (the old set stays).
func (s *Server) routesReload(rl Reloader) {
	s.router.POST("/api/v1/playbooks/reload", s.auth.require(RoleOperator), func(c *gin.Context) {
		res := rl.Reload(c.Request.Context(), TriggerAPI)
		if !res.OK {
			c.JSON(http.StatusUnprocessableEntity, res)
			return
		}
		c.JSON(http.StatusOK, res)
	})
}
