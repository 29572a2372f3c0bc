package slackfake

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

	"github.com/slack-go/slack/slacktest"
)

// Token is the bot token the fake accepts.
const Token = "xoxb-4242-fake-SlackFakeBotToken"

// Call is one Web API request the fake received. Form holds a Web API
// call's form, without the token; JSON holds a response_url post, whose
// Method is "response_url".
type Call struct {
	Method string
	Form   url.Values
	JSON   map[string]any
}

// Blocks decodes the call's blocks.
func (c Call) Blocks() []map[string]any {
	var blocks []map[string]any
	_ = json.Unmarshal([]byte(c.Form.Get("blocks")), &blocks)
	return blocks
}

// Text joins every "text" string of the call's blocks and its fallback
// text, for content assertions.
func (c Call) Text() string {
	var blocks []any
	_ = json.Unmarshal([]byte(c.Form.Get("blocks")), &blocks)
	return c.Form.Get("text") + "\n" + TextOf(blocks)
}

// TextOf joins every "text" string found in v (decoded Block Kit JSON),
// recursively, one per line.
func TextOf(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "text" {
					b.WriteString(s)
					b.WriteString("\n")
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case []map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return b.String()
}

// ButtonValues returns the action_id → value of the call's buttons.
func (c Call) ButtonValues() map[string]string {
	out := map[string]string{}
	for _, b := range c.Blocks() {
		if b["type"] != "actions" {
			continue
		}
		elts, _ := b["elements"].([]any)
		for _, e := range elts {
			if m, ok := e.(map[string]any); ok && m["type"] == "button" {
				id, _ := m["action_id"].(string)
				v, _ := m["value"].(string)
				out[id] = v
			}
		}
	}
	return out
}

// Server is the fake Slack.
type Server struct {
	srv   *slacktest.Server
	mu    sync.Mutex
	calls []Call
	seq   int
	// Groups maps a user group id to its members; set before use.
	Groups map[string][]string
	// Intercept, when set (before use), sees every authorized chat call
	// first; if it answers the call it returns true and the call is not
	// recorded. Tests use it for Slack's failure modes: HTTP errors, rate
	// limits, calls that never answer.
	Intercept func(w http.ResponseWriter, r *http.Request, method string, form url.Values) bool
	fail      map[string]string
}

// Fail makes chat calls to channel answer with Slack's error code (such as
// internal_error); an empty code makes the channel work again.
func (s *Server) Fail(channel, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail == nil {
		s.fail = map[string]string{}
	}
	if code == "" {
		delete(s.fail, channel)
		return
	}
	s.fail[channel] = code
}

// New starts a fake Slack that stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{Groups: map[string][]string{}}
	s.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", s.chat("chat.postMessage"))
		c.Handle("/chat.update", s.chat("chat.update"))
		c.Handle("/chat.postEphemeral", s.chat("chat.postEphemeral"))
		c.Handle("/usergroups.users.list", s.userGroups)
		c.Handle("/response/", s.responseURL)
	})
	s.srv.Start()
	t.Cleanup(s.srv.Stop)
	return s
}

// APIURL is the base URL to configure the Slack client with.
func (s *Server) APIURL() string { return s.srv.GetAPIURL() }

// Calls returns the recorded calls to method.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls polls until at least n calls to method arrived, or fails the
// test after timeout.
func (s *Server) WaitCalls(t testing.TB, method string, n int, timeout time.Duration) []Call {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		calls := s.Calls(method)
		if len(calls) >= n {
			return calls
		}
		if time.Now().After(deadline) {
			t.Fatalf("slackfake: got %d %s calls after %s, want %d", len(calls), method, timeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ResponseURL is a response_url of the fake, as Slack puts in an
// interaction callback.
func (s *Server) ResponseURL() string {
	return s.srv.GetAPIURL() + "response/T01ZYXW9VUT/7123456789012/Zx9Yw8Vu"
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// APIError answers a call with Slack's error code, as the Web API does:
// HTTP 200 and ok false.
func APIError(w http.ResponseWriter, code string) {
	writeJSON(w, map[string]any{"ok": false, "error": code})
}

// authorized checks the token the way Slack does; slack-go sends it in the
// form body.
func authorized(w http.ResponseWriter, form url.Values) bool {
	switch form.Get("token") {
	case Token:
		return true
	case "":
		APIError(w, "not_authed")
	default:
		APIError(w, "invalid_auth")
	}
	return false
}

// withoutToken copies form, which the recorder keeps past the request,
// leaving the token out.
func withoutToken(form url.Values) url.Values {
	cp := url.Values{}
	for k, v := range form {
		if k != "token" {
			cp[k] = append([]string(nil), v...)
		}
	}
	return cp
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

func (s *Server) chat(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form := r.PostForm
		if !authorized(w, form) {
			return
		}
		if s.Intercept != nil && s.Intercept(w, r, method, form) {
			return
		}
		s.mu.Lock()
		code := s.fail[form.Get("channel")]
		s.mu.Unlock()
		if code != "" {
			APIError(w, code)
			return
		}
		s.mu.Lock()
		s.calls = append(s.calls, Call{Method: method, Form: withoutToken(form)})
		s.seq++
		ts := fmt.Sprintf("1741944420.%06d", s.seq)
		s.mu.Unlock()
		channel := form.Get("channel")
		if strings.HasPrefix(channel, "#") {
			channel = "C" + strings.ToUpper(strings.TrimPrefix(channel, "#"))
		}
		switch method {
		case "chat.update":
			writeJSON(w, map[string]any{"ok": true, "channel": channel, "ts": form.Get("ts"), "text": form.Get("text")})
		case "chat.postEphemeral":
			writeJSON(w, map[string]any{"ok": true, "message_ts": ts})
		default:
			writeJSON(w, map[string]any{"ok": true, "channel": channel, "ts": ts})
		}
	}
}

func (s *Server) userGroups(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !authorized(w, r.PostForm) {
		return
	}
	s.record(Call{Method: "usergroups.users.list", Form: withoutToken(r.PostForm)})
	s.mu.Lock()
	members, ok := s.Groups[r.PostForm.Get("usergroup")]
	s.mu.Unlock()
	if !ok {
		APIError(w, "no_such_subteam")
		return
	}
	writeJSON(w, map[string]any{"ok": true, "users": members})
}

// responseURL plays Slack's response_url endpoint: JSON in, "ok" out. It
// needs no token, and refuses a request that carries one.
func (s *Server) responseURL(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.Header.Get("Authorization") != "" || strings.Contains(string(body), Token) {
		http.Error(w, "token leaked to response_url", http.StatusBadRequest)
		return
	}
	s.record(Call{Method: "response_url", JSON: m})
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok")
}
