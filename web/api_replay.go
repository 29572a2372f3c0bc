package web

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/replay"
	"github.com/firebreak/firebreak/playbooks"
)

// ReplayConfig configures POST /api/v1/replay.
type ReplayConfig struct {
	// Source is the inbox and trail replayed.
	Source replay.Source
	// Catalog validates candidate playbooks and rendered parameters.
	Catalog playbooks.Catalog
	// ActOnStale mirrors the engine's setting.
	ActOnStale bool
	// Redact is the audit redactor's record function; nil redacts nothing.
	Redact func(audit.Record) audit.Record
}

// ReplayRequest is the body of POST /api/v1/replay.
type ReplayRequest struct {
	// Since is RFC 3339 or a duration ago ("24h"); default 24h.
	Since string `json:"since"`
	// Until is RFC 3339 or a duration ago; default now.
	Until string `json:"until"`
	// Playbooks is a candidate set: file name → YAML text. Empty replays
	// against the playbooks the server runs.
	Playbooks map[string]string `json:"playbooks"`
}

// routesReplay adds POST /api/v1/replay (operator): what the stored events
// would do under the current or a candidate playbook set.
func (s *Server) routesReplay(rc ReplayConfig) {
	s.router.POST("/api/v1/replay", s.auth.require(RoleOperator), func(c *gin.Context) {
		var req ReplayRequest
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 4<<20) // candidate playbooks, not payloads
		if err := c.ShouldBindJSON(&req); err != nil && c.Request.ContentLength != 0 {
			jsonError(c, http.StatusBadRequest, "", "body must be JSON: "+err.Error())
			return
		}
		nowT := s.cfg.Now()
		opts := replay.Options{Catalog: rc.Catalog, ActOnStale: rc.ActOnStale, Redact: rc.Redact}
		var err error
		if opts.Since, err = ParseSince(req.Since, nowT, 24*time.Hour); err != nil {
			jsonError(c, http.StatusBadRequest, "since", "since: "+err.Error())
			return
		}
		if req.Until != "" {
			if opts.Until, err = ParseSince(req.Until, nowT, 0); err != nil {
				jsonError(c, http.StatusBadRequest, "until", "until: "+err.Error())
				return
			}
		}
		opts.Playbooks = s.cfg.Engine.Playbooks()
		if len(req.Playbooks) > 0 {
			set, err := ParseCandidate(rc.Catalog, req.Playbooks)
			if err != nil {
				c.AbortWithStatusJSON(http.StatusUnprocessableEntity, gin.H{"error": err.Error()})
				return
			}
			opts.Playbooks = set
		}
		rep, err := replay.Run(c.Request.Context(), rc.Source, opts)
		if err != nil {
			jsonError(c, http.StatusInternalServerError, "", err.Error())
			return
		}
		c.JSON(http.StatusOK, rep)
	})
}

// ParseSince reads RFC 3339 or a duration meaning "that long before now";
// an empty value is def before now.
func ParseSince(v string, now time.Time, def time.Duration) (time.Time, error) {
	if v == "" {
		return now.Add(-def), nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor a duration such as 24h", v)
	}
	return t, nil
}

// ParseCandidate loads a candidate playbook set from file name → YAML text;
// every file must parse and the names must be unique across files.
func ParseCandidate(cat playbooks.Catalog, files map[string]string) (*playbooks.Set, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) == 1 {
		return playbooks.Parse(cat, names[0], []byte(files[names[0]]))
	}
	// Several files are loaded as one stream, in name order, so that
	// duplicate names across files are reported.
	var all []byte
	for _, name := range names {
		all = append(all, "---\n# "+name+"\n"...)
		all = append(all, files[name]...)
		all = append(all, '\n')
	}
	return playbooks.Parse(cat, "candidate.yaml", all)
}
