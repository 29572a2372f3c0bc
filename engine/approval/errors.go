package approval

import "errors"

// Sentinel errors of the approval gate. Decide returns them, wrapped, for
// every refused decision; the refusal has been audited when they are
// returned.
var (
	// ErrNotFound is returned for an approval id that does not exist.
	ErrNotFound = errors.New("approval not found")
	// ErrPlanMismatch is returned when a decision names a plan hash other
	// than the approval's: the click was for a different plan.
	ErrPlanMismatch = errors.New("plan hash does not match the approval")
	// ErrNotAllowed is returned when the decider is not allow-listed.
	ErrNotAllowed = errors.New("not allowed to decide approvals")
	// ErrDecided is returned for a decision on an approval that is no longer
	// pending (approved, denied, expired or cancelled); it changes nothing.
	ErrDecided = errors.New("approval already decided")
	// ErrAlreadyApproved is returned when the same person approves twice
	// while the two-person rule waits for someone else; it changes nothing.
	ErrAlreadyApproved = errors.New("already approved by this person")
	// ErrExpired is returned for a decision that arrives after the expiry.
	ErrExpired = errors.New("approval expired")
	// ErrRequester is returned when, under the two-person rule, the person
	// who requested the action tries to approve it.
	ErrRequester = errors.New("the requester cannot approve their own request")
	// ErrBadDecision is returned for a decision other than approve or deny.
	ErrBadDecision = errors.New("decision must be approve or deny")
	// ErrBadStatus is returned by ParseStatusFilter for a name that is no
	// status; its text is what the API and the dashboard answer.
	ErrBadStatus = errors.New("status must be all, pending, approved, denied, expired or cancelled")
)
