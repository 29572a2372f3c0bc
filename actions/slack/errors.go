package slack

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrNotConfigured is returned when a call needs the Slack API but no bot
	// token was configured.
	ErrNotConfigured = errors.New("slack bot token not configured")
	// ErrNoChannel is returned when a message has no channel and no default
	// channel is configured.
	ErrNoChannel = errors.New("no slack channel")
	// ErrRateLimited marks a call Slack refused because of its rate limits; it
	// is worth retrying after the delay Slack asked for.
	ErrRateLimited = errors.New("slack rate limited")
	// ErrInvalidApproval is returned by PostApproval and UpdateApproval for an
	// approval message that cannot be rendered (no id, no plan hash, …).
	ErrInvalidApproval = errors.New("invalid approval message")
	// ErrInvalidBreaker is returned by PostBreakerOpened and
	// UpdateBreakerReset for a message that names no breaker.
	ErrInvalidBreaker = errors.New("invalid breaker message")
)

// APIError is an error Slack's Web API answered with ("ok": false). Code is
// Slack's error code, such as channel_not_found or invalid_auth.
type APIError struct {
	// Method is the Web API method, such as chat.postMessage.
	Method string
	// Code is Slack's error string.
	Code string
	// Needed and Provided are Slack's scope diagnostics for missing_scope.
	Needed   string
	Provided string
}

// Error returns the method, Slack's code and, for known codes, a hint.
func (e *APIError) Error() string {
	msg := fmt.Sprintf("slack %s: %s", e.Method, e.Code)
	if hint := apiErrorHints[e.Code]; hint != "" {
		msg += ": " + hint
	}
	if e.Needed != "" {
		msg += fmt.Sprintf(" (needed %s, token has %s)", e.Needed, e.Provided)
	}
	return msg
}

// Temporary reports whether retrying the same call later may succeed.
func (e *APIError) Temporary() bool { return transientCodes[e.Code] }

// transientCodes are the Slack error codes a retry can fix. Every other code
// is a permanent failure: a wrong channel, a bad token or a bad message will
// be just as wrong on the next attempt.
var transientCodes = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"ratelimited":         true,
	"rate_limited":        true,
	"team_added_to_org":   true,
}

var apiErrorHints = map[string]string{
	"channel_not_found":     "the channel does not exist or the bot cannot see it",
	"not_in_channel":        "invite the bot to the channel",
	"is_archived":           "the channel is archived",
	"invalid_auth":          "check the slack bot token",
	"not_authed":            "check the slack bot token",
	"account_inactive":      "check the slack bot token",
	"token_revoked":         "check the slack bot token",
	"token_expired":         "check the slack bot token",
	"missing_scope":         "the bot token lacks a scope",
	"message_not_found":     "the message was deleted",
	"cant_update_message":   "the message was not posted by this bot",
	"no_such_subteam":       "the user group does not exist",
	"subteam_not_found":     "the user group does not exist",
	"invalid_blocks":        "slack rejected the message blocks",
	"invalid_blocks_format": "slack rejected the message blocks",
}
