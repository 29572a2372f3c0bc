package approval_test

import (
	"errors"
	"testing"

	"github.com/firebreak/firebreak/engine/approval"
)

func TestParseStatusFilter(t *testing.T) {
	for in, want := range map[string]approval.Status{
		"": "", "all": "", "pending": approval.StatusPending, "approved": approval.StatusApproved,
		"denied": approval.StatusDenied, "expired": approval.StatusExpired, "cancelled": approval.StatusCancelled,
	} {
		got, err := approval.ParseStatusFilter(in)
		if err != nil || got != want {
			t.Errorf("ParseStatusFilter(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Pending", "ALL", "open", " pending"} {
		if got, err := approval.ParseStatusFilter(in); !errors.Is(err, approval.ErrBadStatus) || got != "" {
			t.Errorf("ParseStatusFilter(%q) = %q, %v; want ErrBadStatus", in, got, err)
		}
	}
}
