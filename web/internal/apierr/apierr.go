package apierr

import (
	"errors"
	"net/http"

	"github.com/firebreak/firebreak/engine/approval"
)

// Decision returns the HTTP status of an approval decision's error: 404 for
// an unknown approval, 403 for a decider who may not decide it, 409 for a
// decision the approval's state refuses (another plan, already decided or
// approved by this person, expired), and 500 for a failure to record it.
func Decision(err error) int {
	switch {
	case errors.Is(err, approval.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, approval.ErrRequester), errors.Is(err, approval.ErrNotAllowed):
		return http.StatusForbidden
	case errors.Is(err, approval.ErrPlanMismatch), errors.Is(err, approval.ErrDecided),
		errors.Is(err, approval.ErrAlreadyApproved), errors.Is(err, approval.ErrExpired):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}
