package slack

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/firebreak/firebreak/actions/slack/slackfake"
)

const (
	testToken = slackfake.Token
	badToken  = "xoxb-9999-8888-RevokedTokenValue"
)

// call is one request the fake Slack received.
type call = slackfake.Call

// fakeSlack is slackfake's server with two user groups and Slack's failure
// modes on some channels: #missing → channel_not_found, #slow → HTTP 429
// with Retry-After: 7, #broken → HTTP 500, #flaky → internal_error,
// #hang → never answers; chat.update of ts 404.000000 → message_not_found.
// A request made with badToken gets invalid_auth.
type fakeSlack struct {
	*slackfake.Server
}

func newFakeSlack(t *testing.T) *fakeSlack {
	t.Helper()
	s := slackfake.New(t)
	s.Groups = map[string][]string{
		"S0ONCALL": {"U0ALICE", "U0BOB"},
		"S0SRE":    {"U0CAROL"},
	}
	s.Intercept = failureModes
	return &fakeSlack{s}
}

func failureModes(w http.ResponseWriter, r *http.Request, method string, form url.Values) bool {
	switch form.Get("channel") {
	case "#missing":
		slackfake.APIError(w, "channel_not_found")
	case "#slow":
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	case "#broken":
		http.Error(w, "<html>oops</html>", http.StatusInternalServerError)
	case "#flaky":
		slackfake.APIError(w, "internal_error")
	case "#hang":
		<-r.Context().Done()
	default:
		if method != "chat.update" || form.Get("ts") != "404.000000" {
			return false
		}
		slackfake.APIError(w, "message_not_found")
	}
	return true
}

// client returns a Client pointed at the fake with the good token.
func (f *fakeSlack) client(cfg Config) *Client {
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	cfg.APIURL = f.APIURL()
	return New(cfg)
}

// blocksOf decodes the blocks a call posted.
func blocksOf(t *testing.T, c call) []map[string]any {
	t.Helper()
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(c.Form.Get("blocks")), &blocks); err != nil {
		t.Fatalf("blocks of %s are not json: %v\n%s", c.Method, err, c.Form.Get("blocks"))
	}
	return blocks
}

// allText joins every "text" string found in v, recursively.
func allText(v any) string { return slackfake.TextOf(v) }

// buttons returns the button elements in blocks.
func buttons(blocks []map[string]any) []map[string]any {
	var out []map[string]any
	for _, b := range blocks {
		if b["type"] != "actions" {
			continue
		}
		elts, _ := b["elements"].([]any)
		for _, e := range elts {
			if m, ok := e.(map[string]any); ok && m["type"] == "button" {
				out = append(out, m)
			}
		}
	}
	return out
}
