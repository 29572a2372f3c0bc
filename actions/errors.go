package actions

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrUnknownAction is returned by Registry.Get for an id nobody registered.
	ErrUnknownAction = errors.New("unknown action")
	// ErrDuplicateAction is returned by Registry.Register for an id already taken.
	ErrDuplicateAction = errors.New("duplicate action id")
	// ErrPermanent marks a failure that retrying cannot fix (bad request,
	// not found, forbidden). The executor does not retry it.
	ErrPermanent = errors.New("permanent failure")
)

// ParamError is a problem with one parameter. Param is the parameter name,
// possibly with a sub-path ("body.text").
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string { return fmt.Sprintf("with.%s: %s", e.Param, e.Msg) }

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// Reasoner is an error with a typed reason (destination_refused, say).
type Reasoner interface {
	Reason() string
}

// FailureReason returns the reason of the first error in err's chain that
// has one, else "failed". The engine records it as a failed step's audit
// outcome and metric label.
func FailureReason(err error) string {
	var r Reasoner
	if errors.As(err, &r) {
		if s := r.Reason(); s != "" {
			return s
		}
	}
	return "failed"
}
