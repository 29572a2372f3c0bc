package app_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/app/apptest"
)

// TestSlackSecretSpellingsAtStart: actions.slack's bot token is read by the
// one secret resolver, so an empty or missing token_file and an unset
// token_env stop start-up with an error naming the key, instead of
// slack.notify quietly loading as a dry run; the error never shows a value.
func TestSlackSecretSpellingsAtStart(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*app.Config)
		want string
	}{
		{"empty token_file", func(c *app.Config) { c.Actions.Slack.TokenFile = empty }, "actions.slack.token_file: " + empty + " is empty"},
		{"missing token_file", func(c *app.Config) { c.Actions.Slack.TokenFile = filepath.Join(dir, "nope") }, "actions.slack.token_file: open " + filepath.Join(dir, "nope")},
		{"unset token_env", func(c *app.Config) { c.Actions.Slack.TokenEnv = "FB_TEST_UNSET_SLACK_TOKEN" }, "actions.slack.token_env: environment variable FB_TEST_UNSET_SLACK_TOKEN is not set"},
		{"two spellings", func(c *app.Config) {
			c.Actions.Slack.Token = "xoxb-do-not-print"
			c.Actions.Slack.TokenFile = empty
		}, "actions.slack.token: set only one of token, token_env and token_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := apptest.Config(t, "")
			tc.set(&cfg)
			a, err := app.Start(context.Background(), cfg, slog.New(slog.DiscardHandler), app.Options{})
			if err == nil {
				_ = a.Close()
				t.Fatal("start-up accepted the slack token; slack.notify would be a dry run")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("start-up error = %v, want it to hold %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "do-not-print") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}
