package apierr_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/firebreak/firebreak/engine/approval"
	"github.com/firebreak/firebreak/web/internal/apierr"
)

func TestDecision(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{approval.ErrNotFound, http.StatusNotFound},
		{approval.ErrRequester, http.StatusForbidden},
		{approval.ErrNotAllowed, http.StatusForbidden},
		{approval.ErrPlanMismatch, http.StatusConflict},
		{approval.ErrDecided, http.StatusConflict},
		{approval.ErrAlreadyApproved, http.StatusConflict},
		{approval.ErrExpired, http.StatusConflict},
		{errors.New("disk full"), http.StatusInternalServerError},
	} {
		// The gate returns its sentinels wrapped.
		if got := apierr.Decision(fmt.Errorf("approve a1: %w", tt.err)); got != tt.want {
			t.Errorf("Decision(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
