package auth

import (
	"errors"
	"net/http"
)

// Reason names the refusal in err for audit records and metric labels:
// missing_credentials, bad_credentials, replayed, expired or
// forbidden_address; "" for nil and "error" for anything else.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMissingCredentials):
		return "missing_credentials"
	case errors.Is(err, ErrBadCredentials):
		return "bad_credentials"
	case errors.Is(err, ErrReplayed):
		return "replayed"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrForbiddenAddress):
		return "forbidden_address"
	default:
		return "error"
	}
}

// HTTPStatus is the status to answer a refusal with: 403 for a forbidden
// address, 401 for every credential problem (missing, wrong, replayed,
// expired), 200 for nil.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrForbiddenAddress):
		return http.StatusForbidden
	default:
		return http.StatusUnauthorized
	}
}
