package web

import "errors"

// Sentinel errors of Slack's interaction callback (POST /slack/interactions).
var (
	// ErrSlackNoSecret is returned by VerifySlackRequest when the signing
	// secret is empty.
	ErrSlackNoSecret = errors.New("slack signing secret not configured")
	// ErrSlackMissingHeaders is returned by VerifySlackRequest when the
	// request lacks X-Slack-Signature or X-Slack-Request-Timestamp.
	ErrSlackMissingHeaders = errors.New("missing slack signature headers")
	// ErrSlackInvalidSignature is returned by VerifySlackRequest when the
	// signature is malformed or does not match the body.
	ErrSlackInvalidSignature = errors.New("invalid slack signature")
	// ErrSlackStaleRequest is returned by VerifySlackRequest when the request
	// timestamp is more than five minutes away from now.
	ErrSlackStaleRequest = errors.New("slack request timestamp outside the 5 minute window")
	// ErrSlackMalformedCallback is returned by ParseSlackClick for a body
	// that is not a usable block_actions callback.
	ErrSlackMalformedCallback = errors.New("malformed slack interaction")
)
