package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/outbound"
	"github.com/firebreak/firebreak/internal/secret"
)

// ID is the action id.
const ID = "webhook.notify"

// Config configures the action.
type Config struct {
	// Outbound makes the requests under the outbound policy (see
	// actions/outbound); nil is a client under the default policy. It has
	// no overall timeout, since each run's context carries the step's.
	Outbound *outbound.Client
	// Client, when set, replaces Outbound and bypasses the policy: only for
	// tests that route requests themselves.
	Client *http.Client
	// Now is the clock used for signature timestamps.
	Now func() time.Time
	// LookupEnv resolves secret_env and url_env (by internal/secret, the
	// rules of the configuration's *_env keys); the default is os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ReadFile reads url_file (as a *_file key); the default is os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

// Action is webhook.notify.
type Action struct {
	out       *outbound.Client
	client    *http.Client
	now       func() time.Time
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
}

// New returns the action.
func New(cfg Config) *Action {
	a := &Action{out: cfg.Outbound, client: cfg.Client, now: cfg.Now, lookupEnv: cfg.LookupEnv, readFile: cfg.ReadFile}
	if a.readFile == nil {
		a.readFile = os.ReadFile
	}
	if a.out == nil && a.client == nil {
		a.out = outbound.NewClient(outbound.Default(), nil)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.lookupEnv == nil {
		a.lookupEnv = os.LookupEnv
	}
	return a
}

// Spec implements actions.Action.
func (a *Action) Spec() actions.Spec { return webhookSpec() }

// webhookSpec is built once: Spec is called for every planned step.
var webhookSpec = sync.OnceValue(func() actions.Spec {
	return actions.Spec{
		ID:          ID,
		Description: "POST a JSON body to a URL; signs it (Standard Webhooks) when a secret is set; 5xx, 429 and timeouts are retried by the step's retries, honouring Retry-After.",
		Params: []actions.Param{
			{Name: "url", Type: actions.String, Doc: "http or https URL to POST to; exactly one of url, url_env and url_file is required. Its user-info and query values (except a few harmless names) are redacted in the audit trail"},
			{Name: "url_env", Type: actions.String, Doc: "name of an environment variable holding the URL, for URLs that are secrets themselves (Slack incoming webhooks); written literally, never rendered into the audit trail"},
			{Name: "url_file", Type: actions.String, Doc: "path of a file holding the URL (surrounding whitespace trimmed); as url_env"},
			{Name: "body", Type: actions.Any, Doc: "JSON body (templates allowed); default: the event's id, source, name, status, severity, labels and annotations"},
			{Name: "headers", Type: actions.Map, Doc: "extra request headers"},
			{Name: "secret_env", Type: actions.String, Doc: "name of an environment variable holding the signing secret: base64, optionally prefixed whsec_ (the rule the receivers use); during a rotation the new and the old secret separated by a space, each signing the request"},
			{Name: "follow_redirects", Type: actions.Bool, Default: false, Doc: "follow 3xx redirects (up to 10), each hop checked by the outbound policy as a host from a redirect; without it a 3xx fails the step"},
		},
		OneOf: [][]string{urlParams},
		Example: map[string]any{
			"url":  "https://hooks.example.com/firebreak",
			"body": map[string]any{"text": "{{ event.name }} on {{ event.labels.namespace }}"},
		},
		Destructive: false,
		Reversible:  false,
	}
})

// Validate implements actions.Action.
func (a *Action) Validate(params map[string]any, final bool) error {
	err := actions.CheckParams(a.Spec(), params, final)
	var given []string
	for _, k := range urlParams {
		if _, ok := params[k]; ok {
			given = append(given, k)
		}
	}
	// The loader checks the group at load time (Spec.OneOf), templated
	// values included; here only the rendered parameters.
	switch {
	case len(given) > 1 && final:
		err = errors.Join(err, &actions.ParamError{Param: given[1], Msg: "url, url_env, url_file are exclusive: give one"})
	case len(given) == 0 && final:
		err = errors.Join(err, &actions.ParamError{Param: "url", Msg: "is required (or url_env, or url_file)"})
	}
	if s, ok := params["url"].(string); ok {
		if !validURL(s) {
			err = errors.Join(err, &actions.ParamError{Param: "url", Msg: fmt.Sprintf("must be an http or https URL, got %q", redactURL(s))})
		}
	}
	// url_env, url_file and secret_env are read here at load time too (the
	// loader passes the literal parameters), so that an unset variable or
	// an empty file stops start-up, `firebreak validate` and a reload
	// rather than the step at run time; Run reads them again, so that a
	// rotated value is used.
	if len(given) == 1 && given[0] != "url" {
		// A value of the wrong type is reported by CheckParams.
		if _, ok := params[given[0]].(string); ok {
			if _, _, uerr := a.resolveURL(params); uerr != nil {
				err = errors.Join(err, uerr)
			}
		}
	}
	if _, serr := a.signingSecret(params); serr != nil {
		err = errors.Join(err, serr)
	}
	if h, ok := params["headers"].(map[string]any); ok {
		for k, v := range h {
			if _, ok := v.(string); !ok {
				err = errors.Join(err, &actions.ParamError{Param: "headers." + k, Msg: "must be a string"})
			}
		}
	}
	return err
}

// urlParams are the exclusive ways to give the URL.
var urlParams = []string{"url", "url_env", "url_file"}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// resolveURL returns the URL to POST to and how to show it: the url
// parameter itself, or the value of url_env or url_file, which is shown as
// its scheme and host only (its path may be the secret). Errors never hold
// the URL.
func (a *Action) resolveURL(params map[string]any) (target, shown string, err error) {
	if s, ok := params["url"].(string); ok {
		return s, redactURL(s), nil
	}
	var from, envName, fileName string
	switch {
	case params["url_env"] != nil:
		envName, _ = params["url_env"].(string)
		if envName == "" {
			return "", "", &actions.ParamError{Param: "url_env", Msg: "must name an environment variable"}
		}
		from = "url_env " + envName
	case params["url_file"] != nil:
		fileName, _ = params["url_file"].(string)
		if fileName == "" {
			return "", "", &actions.ParamError{Param: "url_file", Msg: "must name a file"}
		}
		from = "url_file " + fileName
	default:
		return "", "", &actions.ParamError{Param: "url", Msg: "is required (or url_env, or url_file)"}
	}
	target, err = secret.Resolve("url", "", envName, fileName, a.lookupEnv, a.readFile)
	if err != nil {
		return "", "", secretParamError(err)
	}
	if !validURL(target) {
		return "", "", &actions.ParamError{Param: from[:strings.IndexByte(from, ' ')], Msg: "does not hold an http or https URL"}
	}
	u, _ := url.Parse(target)
	return target, u.Scheme + "://" + u.Host + " (" + from + ")", nil
}

// signingSecret returns the value of secret_env, or "" when the step signs
// nothing. An unset or empty variable is an error at secret_env; errors
// never hold the value.
func (a *Action) signingSecret(params map[string]any) (string, error) {
	name, _ := params["secret_env"].(string)
	if name == "" {
		return "", nil
	}
	v, err := secret.Resolve("secret", "", name, "", a.lookupEnv, a.readFile)
	if err != nil {
		return "", secretParamError(err)
	}
	return v, nil
}

// secretParamError turns the resolver's error, at url_env, url_file or
// secret_env, into the parameter error the loader positions.
func secretParamError(err error) error {
	var se *secret.Error
	if errors.As(err, &se) {
		return &actions.ParamError{Param: se.Key, Msg: se.Msg}
	}
	return err
}

// Target implements actions.Action: the URL's host.
func (a *Action) Target(params map[string]any) actions.Target {
	s, _, err := a.resolveURL(params)
	if err != nil {
		return actions.Target{Kind: "webhook"}
	}
	u, err := url.Parse(s)
	if err != nil {
		return actions.Target{Kind: "webhook"}
	}
	return actions.Target{Kind: "webhook", Name: u.Host}
}

// Run implements actions.Action.
func (a *Action) Run(ctx context.Context, req actions.Request) (actions.Result, error) {
	for _, k := range []string{"url_env", "url_file", "secret_env"} {
		if _, templated := req.LiteralPrefix(k); templated {
			return actions.Result{}, actions.Permanent(&actions.ParamError{Param: k, Msg: "must be written literally, not templated"})
		}
	}
	target, shown, err := a.resolveURL(req.Params)
	if err != nil {
		return actions.Result{}, actions.Permanent(err)
	}
	body := req.Params["body"]
	if body == nil && req.Event != nil {
		ev := req.Event
		body = map[string]any{
			"id": ev.ID, "source": ev.Source, "name": ev.Name, "status": ev.Status,
			"severity": ev.Severity, "labels": ev.Labels, "annotations": ev.Annotations,
			"playbook": req.Playbook,
		}
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return actions.Result{}, actions.Permanent(fmt.Errorf("encode body: %w", err))
	}
	if req.DryRun {
		return actions.Result{
			Summary: fmt.Sprintf("would POST %d bytes to %s", len(payload), shown),
			// The body as a value, which encodes to payload: the record
			// shows what would be posted, and the redactor walks it as
			// it is rather than decoding raw JSON into float64s.
			Output: map[string]any{"body": body},
		}, nil
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return actions.Result{}, actions.Permanent(fmt.Errorf("request to %s: invalid", shown))
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", "firebreak")
	if h, ok := req.Params["headers"].(map[string]any); ok {
		for k, v := range h {
			if s, ok := v.(string); ok {
				hr.Header.Set(k, s)
			}
		}
	}
	key, err := a.signingSecret(req.Params)
	if err != nil {
		return actions.Result{}, actions.Permanent(err)
	}
	if key != "" {
		id := fmt.Sprintf("msg_%x", sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d", eventID(req), req.Playbook, req.Step))))[:36]
		ts := a.now().Unix()
		// During a rotation the variable holds the new secret and the old
		// one, separated by a space: the request carries a signature of
		// each, the first secret's first, so receivers on either verify.
		var sigs []string
		for _, one := range strings.Fields(key) {
			sig, err := Sign(one, id, ts, payload)
			if err != nil {
				return actions.Result{}, actions.Permanent(err)
			}
			sigs = append(sigs, sig)
		}
		sig := strings.Join(sigs, " ")
		hr.Header.Set("webhook-id", id)
		hr.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		hr.Header.Set("webhook-signature", sig)
	}
	follow, _ := req.Params["follow_redirects"].(bool)
	resp, err := a.do(hr, outbound.Options{Trust: hostTrust(req, target), FollowRedirects: follow})
	if err != nil {
		// Transport errors and timeouts are worth retrying; the URL is not
		// repeated since it may carry a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, outbound.ErrDestinationRefused) || errors.Is(err, outbound.ErrTooManyRedirects) {
			return actions.Result{}, actions.Permanent(fmt.Errorf("POST %s: %w", shown, err))
		}
		return actions.Result{}, fmt.Errorf("POST %s: %w", shown, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	res := actions.Result{
		Summary: fmt.Sprintf("POST %s: %s", shown, resp.Status),
		After:   map[string]any{"status": resp.StatusCode},
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return res, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		res.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), a.now())
		return res, fmt.Errorf("POST %s: %s: %s", shown, resp.Status, strings.TrimSpace(string(snippet)))
	case resp.StatusCode >= 300 && resp.StatusCode < 400 && !follow:
		return res, actions.Permanent(fmt.Errorf("POST %s: %s: redirects are not followed unless the step sets follow_redirects: true", shown, resp.Status))
	default:
		return res, actions.Permanent(fmt.Errorf("POST %s: %s: %s", shown, resp.Status, strings.TrimSpace(string(snippet))))
	}
}

// do sends hr through the outbound client, or the test client when one
// was configured.
func (a *Action) do(hr *http.Request, o outbound.Options) (*http.Response, error) {
	if a.client != nil {
		return a.client.Do(hr)
	}
	return a.out.Do(hr, o)
}

// hostTrust says whether the URL's host was written by the playbook
// author (or the operator, through url_env or url_file) or rendered from
// event data.
func hostTrust(req actions.Request, target string) outbound.Trust {
	if _, ok := req.Params["url"]; !ok {
		return outbound.Literal
	}
	prefix, templated := req.LiteralPrefix("url")
	return outbound.URLTrust(target, prefix, templated)
}

func eventID(req actions.Request) string {
	if req.Event == nil {
		return ""
	}
	return req.Event.ID
}

// Sign returns the Standard Webhooks signature header value ("v1,<base64>")
// of id.timestamp.body. The secret is base64, optionally prefixed whsec_,
// exactly as Firebreak's receivers read it (web/auth), so what one
// Firebreak signs another verifies; anything else is an error.
func Sign(secret, id string, ts int64, body []byte) (string, error) {
	rest := strings.TrimPrefix(strings.TrimSpace(secret), "whsec_")
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return "", errors.New("signing secret: must be base64, optionally prefixed whsec_")
	}
	if len(key) == 0 {
		return "", errors.New("signing secret: decodes to an empty key")
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, ts)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redactURL drops the query and user info, which may carry tokens.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.Scheme + "://" + u.Host + u.Path
}
