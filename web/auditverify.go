package web

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/engine/audit"
)

// AuditVerifier is the anchored verification of the trail. When the
// configured AuditReader implements it, GET /api/v1/audit/verify takes
// the caller's public key and a witness checkpoint.
type AuditVerifier interface {
	VerifyAuditWith(ctx context.Context, opts audit.VerifyOptions) (audit.VerifyReport, error)
}

// verifyAudit serves GET /api/v1/audit/verify. Optional query parameters:
// public_key, the base64 of the raw 32-byte ed25519 public key, and
// witness, the base64url of a signed checkpoint's JSON (needs public_key).
// It answers 200 {"ok":true,"records":N,"report":{…}}, or 409 with ok
// false and the error naming the first thing found wrong.
func (s *Server) verifyAudit(c *gin.Context) {
	var opts audit.VerifyOptions
	if v := c.Query("public_key"); v != "" {
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			raw, err = base64.URLEncoding.DecodeString(v)
		}
		if err != nil || len(raw) != ed25519.PublicKeySize {
			jsonError(c, http.StatusBadRequest, "public_key", "public_key must be the base64 of a raw 32-byte ed25519 public key")
			return
		}
		opts.PublicKey = ed25519.PublicKey(raw)
	}
	if v := c.Query("witness"); v != "" {
		var cp audit.SignedCheckpoint
		raw, err := base64.URLEncoding.DecodeString(v)
		if err != nil || json.Unmarshal(raw, &cp) != nil {
			jsonError(c, http.StatusBadRequest, "witness", "witness must be the base64url of a signed checkpoint's JSON")
			return
		}
		if opts.PublicKey == nil {
			jsonError(c, http.StatusBadRequest, "witness", "witness needs public_key")
			return
		}
		opts.Witness = []audit.SignedCheckpoint{cp}
	}
	var rep audit.VerifyReport
	var err error
	if av, ok := s.cfg.Audit.(AuditVerifier); ok {
		rep, err = av.VerifyAuditWith(c.Request.Context(), opts)
	} else if opts.PublicKey != nil {
		jsonError(c, http.StatusNotImplemented, "public_key", "this store cannot verify with a key")
		return
	} else {
		rep.Records, err = s.cfg.Audit.VerifyAudit(c.Request.Context())
	}
	if errors.Is(err, audit.ErrChainBroken) {
		c.JSON(http.StatusConflict, gin.H{"ok": false, "records": rep.Records, "error": err.Error(), "report": rep})
		return
	}
	if err != nil {
		jsonError(c, http.StatusInternalServerError, "", "verifying the audit trail failed")
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true, "records": rep.Records, "report": rep})
}
