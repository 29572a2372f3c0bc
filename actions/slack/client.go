package slack

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/outbound"
	"github.com/firebreak/firebreak/engine/keylock"
)

// Config configures a Client.
type Config struct {
	// Token is the bot token (xoxb-…). Without it the client is not
	// Available and slack.notify can only dry-run.
	Token string
	// APIURL overrides Slack's Web API base URL (with a trailing slash);
	// tests point it at a slacktest server.
	APIURL string
	// DefaultChannel is where approval messages go when the message names
	// no channel.
	DefaultChannel string
	// LinkBaseURL is Firebreak's own base URL (the dashboard). When set,
	// messages link to LinkBaseURL + "/events/" + the event id.
	LinkBaseURL string
	// Threads remembers the first message of each incident so follow-ups
	// reply in its thread. Nil means an in-memory store.
	Threads ThreadStore
	// HTTPClient is used for every call to Slack; nil means a client under
	// the default outbound policy (actions/outbound) with a 30 second
	// timeout. The step's context still bounds each call.
	HTTPClient *http.Client
	// Logger receives warnings that do not fail a run (a thread store that
	// cannot be read or written). Nil discards them.
	Logger *slog.Logger
}

// Client talks to Slack's Web API. It is safe for concurrent use.
type Client struct {
	api         *slack.Client
	token       string
	defaultChan string
	linkBase    string
	threads     ThreadStore
	log         *slog.Logger
	locks       keylock.Map
}

// New returns a Client for cfg. It does not call Slack; a missing token is
// reported by Available, not here.
func New(cfg Config) *Client {
	opts := []slack.Option{}
	if cfg.APIURL != "" {
		u := cfg.APIURL
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		opts = append(opts, slack.OptionAPIURL(u))
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = outbound.Default().HTTPClient(outbound.Literal, nil)
		hc.Timeout = 30 * time.Second
	}
	opts = append(opts, slack.OptionHTTPClient(hc))
	threads := cfg.Threads
	if threads == nil {
		threads = NewMemoryThreads(0)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		api:         slack.New(cfg.Token, opts...),
		token:       cfg.Token,
		defaultChan: cfg.DefaultChannel,
		linkBase:    strings.TrimRight(cfg.LinkBaseURL, "/"),
		threads:     threads,
		log:         logger,
	}
}

// Available returns nil when the client can call Slack, or an error saying
// what is missing; its message is suitable as the reason passed to
// actions.Registry.RegisterDryRun.
func (c *Client) Available() error {
	if strings.TrimSpace(c.token) == "" {
		return ErrNotConfigured
	}
	return nil
}

// callError turns an error from slack-go into a clean error: Slack's error
// code as an *APIError, permanent failures wrapped with actions.Permanent,
// rate limits as ErrRateLimited with the delay Slack asked for. The token
// never appears in the result.
func (c *Client) callError(method string, err error) (time.Duration, error) {
	if err == nil {
		return 0, nil
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter, fmt.Errorf("slack %s: %w, retry after %s", method, ErrRateLimited, rl.RetryAfter)
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		ae := &APIError{Method: method, Code: c.redact(se.Err), Needed: se.Needed, Provided: se.Provided}
		if ae.Code == "ratelimited" || ae.Code == "rate_limited" {
			return 0, fmt.Errorf("%w: %w", ErrRateLimited, ae)
		}
		if ae.Temporary() {
			return 0, ae
		}
		return 0, actions.Permanent(ae)
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		e := fmt.Errorf("slack %s: http status %d", method, sc.Code)
		if sc.Code >= 500 || sc.Code == http.StatusTooManyRequests || sc.Code == http.StatusRequestTimeout {
			return 0, e
		}
		return 0, actions.Permanent(e)
	}
	return 0, &redactedError{msg: fmt.Sprintf("slack %s: %s", method, c.redact(err.Error())), err: err}
}

// redact removes the token from s, in case a transport error quotes it.
func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}

// redactedError keeps the chain of a transport error (so errors.Is finds
// context.DeadlineExceeded) while its message is scrubbed of the token.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
