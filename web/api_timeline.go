package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
)

// ErrNotFound is returned by TimelineOf when neither the trail nor the
// inbox knows the event; it wraps the store's own not-found error.
var ErrNotFound = errors.New("not found")

// TimelineSource is what a timeline reads: the trail, the inbox and the
// approvals (the server's store, or one the CLI opened read-only).
type TimelineSource interface {
	AuditForEvent(ctx context.Context, eventID string) ([]audit.Record, error)
	EventByID(ctx context.Context, id string) (uint64, event.Event, error)
	approval.Viewer
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

// TimelineOf reads the timeline of the event id. notFound is the source's
// not-found error, wrapped when neither the trail nor the inbox knows the
// event.
func TimelineOf(ctx context.Context, src TimelineSource, id string, notFound error) (Timeline, error) {
	recs, err := src.AuditForEvent(ctx, id)
	if err != nil {
		return Timeline{}, err
	}
	tl := Timeline{Records: recs}
	if tl.Records == nil {
		tl.Records = []audit.Record{}
	}
	if seq, ev, err := src.EventByID(ctx, id); err == nil {
		ev.Raw = nil
		tl.Event = &TimelineEvent{Seq: seq, Event: ev}
	}
	if len(recs) == 0 && tl.Event == nil {
		if notFound == nil {
			notFound = ErrNotFound
		}
		return tl, fmt.Errorf("event %s: %w", id, notFound)
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
		if ap, err := approval.Get(ctx, src, apID); err == nil {
			ap.Event = nil
			tl.Approvals = append(tl.Approvals, ap)
		}
	}
	return tl, nil
}

// routesTimeline adds GET /api/v1/audit/timeline/:event_id (viewer).
func (s *Server) routesTimeline(src TimelineSource) {
	s.router.GET("/api/v1/audit/timeline/:event_id", s.auth.require(RoleViewer), func(c *gin.Context) {
		id := c.Param("event_id")
		tl, err := TimelineOf(c.Request.Context(), src, id, nil)
		switch {
		case errors.Is(err, ErrNotFound):
			jsonError(c, http.StatusNotFound, "", "no event "+id+" in the inbox or the audit trail")
			return
		case err != nil:
			jsonError(c, http.StatusInternalServerError, "", "reading the audit trail failed")
			return
		}
		c.JSON(http.StatusOK, s.redactTimeline(tl))
	})
}

// redactTimeline passes what a timeline answers through the audit
// redactor: the records (already redacted when written), the event and
// the approvals.
func (s *Server) redactTimeline(tl Timeline) Timeline {
	tl.Records = s.red.Records(tl.Records)
	if tl.Event != nil {
		tl.Event = &TimelineEvent{Seq: tl.Event.Seq, Event: *s.red.Event(&tl.Event.Event)}
	}
	tl.Approvals = s.red.Approvals(tl.Approvals)
	return tl
}
