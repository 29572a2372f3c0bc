package slack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions/slack/slackfake"

	"github.com/slack-go/slack/slacktest"
)

const (
	testToken = "xoxb-1111-2222-TopSecretTokenValue"
	badToken  = "xoxb-9999-8888-RevokedTokenValue"
)

// call is one request the fake Slack received.
type call struct {
	Method string
	Form   url.Values
	JSON   map[string]any // for response_url posts
}

// fakeSlack is slacktest's server with the handlers it lacks (chat.update,
// usergroups.users.list, a response_url) and recording versions of
// chat.postMessage and chat.postEphemeral. Some channels answer with errors:
// #missing → channel_not_found, #slow → HTTP 429 with Retry-After: 7,
// #broken → HTTP 500, #flaky → internal_error, #hang → never answers.
// A request made with badToken gets invalid_auth.
type fakeSlack struct {
	srv   *slacktest.Server
	mu    sync.Mutex
	calls []call
	seq   int
	// groups maps a user group id to its members.
	groups map[string][]string
}

func newFakeSlack(t *testing.T) *fakeSlack {
	t.Helper()
	f := &fakeSlack{groups: map[string][]string{
		"S0ONCALL": {"U0ALICE", "U0BOB"},
		"S0SRE":    {"U0CAROL"},
	}}
	f.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", f.chat("chat.postMessage"))
		c.Handle("/chat.update", f.chat("chat.update"))
		c.Handle("/chat.postEphemeral", f.chat("chat.postEphemeral"))
		c.Handle("/usergroups.users.list", f.userGroups)
		c.Handle("/response/", f.responseURL)
	})
	f.srv.Start()
	t.Cleanup(f.srv.Stop)
	return f
}

// client returns a Client pointed at the fake with the good token.
func (f *fakeSlack) client(cfg Config) *Client {
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	cfg.APIURL = f.srv.GetAPIURL()
	return New(cfg)
}

func (f *fakeSlack) record(c call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

// Calls returns the recorded calls to method.
func (f *fakeSlack) Calls(method string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, code string) {
	writeJSON(w, map[string]any{"ok": false, "error": code})
}

// authorized checks the token the way Slack does; slack-go sends it in the
// form body.
func authorized(w http.ResponseWriter, form url.Values) bool {
	switch form.Get("token") {
	case testToken:
		return true
	case "":
		apiError(w, "not_authed")
	default:
		apiError(w, "invalid_auth")
	}
	return false
}

func (f *fakeSlack) chat(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form := r.PostForm
		if !authorized(w, form) {
			return
		}
		channel := form.Get("channel")
		switch channel {
		case "#missing":
			apiError(w, "channel_not_found")
			return
		case "#slow":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		case "#broken":
			http.Error(w, "<html>oops</html>", http.StatusInternalServerError)
			return
		case "#flaky":
			apiError(w, "internal_error")
			return
		case "#hang":
			<-r.Context().Done()
			return
		}
		if method == "chat.update" && form.Get("ts") == "404.000000" {
			apiError(w, "message_not_found")
			return
		}
		// Form values are copied: the recorder outlives the request.
		f.record(call{Method: method, Form: cloneValues(form)})
		f.mu.Lock()
		f.seq++
		ts := fmt.Sprintf("1741944420.%06d", f.seq)
		f.mu.Unlock()
		id := channel
		if strings.HasPrefix(id, "#") {
			id = "C" + strings.ToUpper(strings.TrimPrefix(id, "#"))
		}
		switch method {
		case "chat.update":
			writeJSON(w, map[string]any{"ok": true, "channel": id, "ts": form.Get("ts"), "text": form.Get("text")})
		case "chat.postEphemeral":
			writeJSON(w, map[string]any{"ok": true, "message_ts": ts})
		default:
			writeJSON(w, map[string]any{"ok": true, "channel": id, "ts": ts})
		}
	}
}

func (f *fakeSlack) userGroups(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !authorized(w, r.PostForm) {
		return
	}
	f.record(call{Method: "usergroups.users.list", Form: cloneValues(r.PostForm)})
	members, ok := f.groups[r.PostForm.Get("usergroup")]
	if !ok {
		apiError(w, "no_such_subteam")
		return
	}
	writeJSON(w, map[string]any{"ok": true, "users": members})
}

// responseURL plays Slack's response_url endpoint: JSON in, "ok" out.
func (f *fakeSlack) responseURL(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.Header.Get("Authorization") != "" || strings.Contains(string(body), testToken) {
		http.Error(w, "token leaked to response_url", http.StatusBadRequest)
		return
	}
	f.record(call{Method: "response_url", JSON: m})
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok")
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
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

var fixedNow = time.Date(2026, 11, 29, 19, 0, 0, 0, time.UTC)
