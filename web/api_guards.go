package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/engine/guard"
	"github.com/firebreak/firebreak/playbooks"
)

// Guards is what the guard API needs of the guard.
type Guards interface {
	Breakers(ctx context.Context) ([]guard.BreakerStatus, error)
	// Budgets reads the global caps and the budgets of set's playbooks
	// with what each window has left.
	Budgets(ctx context.Context, set *playbooks.Set) ([]guard.BudgetStatus, error)
	ResetBreaker(ctx context.Context, id, actor string) (guard.BreakerStatus, error)
	PauseStatus(ctx context.Context) (guard.PauseStatus, error)
	Pause(ctx context.Context, actor, reason string) (guard.PauseStatus, error)
	Resume(ctx context.Context, actor string) (guard.PauseStatus, error)
}

// routesGuards adds the guard API:
//
//	GET  /api/v1/breakers             every breaker, open ones first (viewer)
//	POST /api/v1/breakers/{id}/reset  close a breaker and forget its history (operator)
//	GET  /api/v1/budgets              the global caps and playbook budgets, with what is left (viewer)
//	GET  /api/v1/pause                the kill switch (viewer)
//	POST /api/v1/pause                stop all execution ({"reason": "…"}) (operator)
//	POST /api/v1/resume               resume execution (operator)
//
// Targets and reasons come from events: every answer passes through the
// audit redactor, as the dashboard shows them.
func (s *Server) routesGuards(g Guards) {
	r := s.router
	read, operate := s.auth.require(RoleViewer), s.auth.require(RoleOperator)
	r.GET("/api/v1/breakers", read, func(c *gin.Context) {
		bs, err := g.Breakers(c.Request.Context())
		if err != nil {
			jsonError(c, http.StatusInternalServerError, "", "reading breakers failed")
			return
		}
		c.JSON(http.StatusOK, gin.H{"breakers": s.red.Breakers(bs)})
	})
	r.GET("/api/v1/budgets", read, func(c *gin.Context) {
		bs, err := g.Budgets(c.Request.Context(), s.cfg.Engine.Playbooks())
		if err != nil {
			jsonError(c, http.StatusInternalServerError, "", "reading budgets failed")
			return
		}
		c.JSON(http.StatusOK, gin.H{"budgets": s.red.Budgets(bs)})
	})
	r.POST("/api/v1/breakers/:id/reset", operate, func(c *gin.Context) {
		st, err := g.ResetBreaker(c.Request.Context(), c.Param("id"), apiActor(c))
		switch {
		case errors.Is(err, guard.ErrUnknownBreaker):
			jsonError(c, http.StatusNotFound, "", "no breaker with id "+c.Param("id"))
		case err != nil:
			jsonError(c, http.StatusInternalServerError, "", "resetting the breaker failed")
		default:
			c.JSON(http.StatusOK, gin.H{"breaker": s.red.Breaker(st)})
		}
	})
	r.GET("/api/v1/pause", read, func(c *gin.Context) {
		st, err := g.PauseStatus(c.Request.Context())
		if err != nil {
			jsonError(c, http.StatusInternalServerError, "", "reading the kill switch failed")
			return
		}
		c.JSON(http.StatusOK, s.red.Pause(st))
	})
	r.POST("/api/v1/pause", operate, func(c *gin.Context) {
		var body struct {
			Reason string `json:"reason"`
		}
		if c.Request.ContentLength != 0 {
			if err := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, 4096)).Decode(&body); err != nil {
				jsonError(c, http.StatusBadRequest, "", `body must be JSON such as {"reason": "incident 42"}`)
				return
			}
		}
		st, err := g.Pause(c.Request.Context(), apiActor(c), body.Reason)
		if err != nil {
			jsonError(c, http.StatusInternalServerError, "", "pausing failed")
			return
		}
		c.JSON(http.StatusOK, s.red.Pause(st))
	})
	r.POST("/api/v1/resume", operate, func(c *gin.Context) {
		st, err := g.Resume(c.Request.Context(), apiActor(c))
		switch {
		case errors.Is(err, guard.ErrPausedByConfig):
			c.AbortWithStatusJSON(http.StatusConflict, gin.H{"error": "execution is paused by the configuration file (guards.paused); edit it and restart", "status": s.red.Pause(st)})
		case err != nil:
			jsonError(c, http.StatusInternalServerError, "", "resuming failed")
		default:
			s.cfg.Engine.Notify() // steps held while paused (guards.on_pause: hold) run now
			c.JSON(http.StatusOK, s.red.Pause(st))
		}
	})
}
