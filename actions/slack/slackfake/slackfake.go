// Package slackfake is a Slack Web API for tests in other packages: slack-go's
// slacktest server with recording handlers for chat.postMessage,
// chat.update, chat.postEphemeral and usergroups.users.list. It checks the
// bot token the way Slack does and never talks to the network beyond
// 127.0.0.1.
package slackfake

import (
	"encoding/json"
	"fmt"
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

// Call is one Web API request the fake received.
type Call struct {
	Method string
	Form   url.Values
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
	fail   map[string]string
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

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) chat(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form := r.PostForm
		if form.Get("token") != Token {
			writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		s.mu.Lock()
		code := s.fail[form.Get("channel")]
		s.mu.Unlock()
		if code != "" {
			writeJSON(w, map[string]any{"ok": false, "error": code})
			return
		}
		cp := url.Values{}
		for k, v := range form {
			if k != "token" {
				cp[k] = append([]string(nil), v...)
			}
		}
		s.mu.Lock()
		s.calls = append(s.calls, Call{Method: method, Form: cp})
		s.seq++
		ts := fmt.Sprintf("1741944420.%06d", s.seq)
		s.mu.Unlock()
		channel := form.Get("channel")
		if strings.HasPrefix(channel, "#") {
			channel = "C" + strings.ToUpper(strings.TrimPrefix(channel, "#"))
		}
		switch method {
		case "chat.update":
			writeJSON(w, map[string]any{"ok": true, "channel": channel, "ts": form.Get("ts")})
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
	if r.PostForm.Get("token") != Token {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: "usergroups.users.list", Form: url.Values{"usergroup": {r.PostForm.Get("usergroup")}}})
	members, ok := s.Groups[r.PostForm.Get("usergroup")]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, map[string]any{"ok": false, "error": "no_such_subteam"})
		return
	}
	writeJSON(w, map[string]any{"ok": true, "users": members})
}
