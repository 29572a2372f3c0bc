package auth

import "errors"

// Errors that Authenticate returns, wrapped with the check that failed.
// Compare them with errors.Is.
var (
	// ErrMissingCredentials means the request carried no credentials, or
	// not all the headers the mode needs.
	ErrMissingCredentials = errors.New("missing credentials")
	// ErrBadCredentials means the credentials or the signature were wrong or
	// malformed.
	ErrBadCredentials = errors.New("bad credentials")
	// ErrReplayed means a correctly signed request was seen before within
	// the replay window.
	ErrReplayed = errors.New("replayed request")
	// ErrExpired means a signed timestamp lies outside the tolerance window.
	ErrExpired = errors.New("request timestamp outside the allowed window")
	// ErrForbiddenAddress means the remote address is not in allow_cidrs.
	ErrForbiddenAddress = errors.New("remote address not allowed")

	// ErrConfig is wrapped by every error New returns.
	ErrConfig = errors.New("invalid auth config")
	// ErrUnresolvedSecret is wrapped (with ErrConfig) when New is given a
	// *_env or *_file spelling: secrets are resolved by the config loader,
	// and New takes only the values it read.
	ErrUnresolvedSecret = errors.New("secrets are resolved by the config loader")
)
