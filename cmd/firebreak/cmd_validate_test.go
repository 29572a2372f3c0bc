package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateConfig: `firebreak validate --config FILE [PLAYBOOKS…]`
// reports the problems of the config and of its playbooks together, each
// positioned, and passes a good pair.
func TestValidateConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "name: n\nmatch: event.name == \"A\"\nsteps: [{action: webhook.notify, with: {url: \"http://h/\"}}]\n")
	broken := write("broken.yaml", "name: b\nmatch: 'event.nam == 1'\nsteps: [{action: webhook.notify, with: {url: \"http://h/\"}}]\n")
	okCfg := write("ok.yaml", "playbooks: ["+good+"]\napi:\n  tokens: [{name: ops, role: operator, token: operator-token-0123456789}]\n")
	badCfg := write("bad.yaml", "workers: many\nguards:\n  api_token: s3cret-do-not-print\napi:\n  tokens: [{name: ops, role: admin, token: operator-token-0123456789}]\n")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err []string
	}{
		{"good config and its playbooks", []string{"validate", "--config", okCfg}, 0, []string{"ok: " + okCfg + ", 1 playbook(s), 1 step(s) in " + good}, nil},
		{"good config, playbooks given", []string{"validate", "--config", okCfg, broken}, 1, nil, []string{broken + ":2:15: playbook \"b\": match:", "1 problem(s)"}},
		{"bad config and bad playbooks at once", []string{"validate", "--config", badCfg, broken}, 1, nil, []string{
			badCfg + ":1:10: workers: must be an integer",
			badCfg + ":3:3: guards.api_token: moved to api.tokens",
			badCfg + ":5:30: api.tokens[0].role: \"admin\" must be viewer, approver or operator",
			broken + ":2:15: playbook \"b\"",
			"4 problem(s)",
		}},
		{"missing file", []string{"validate", "--config", filepath.Join(dir, "nope.yaml")}, 1, nil, []string{"no such file"}},
		{"help", []string{"validate", "--help"}, 0, nil, []string{"usage: firebreak validate [--config FILE]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, w := range tc.out {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout %q lacks %q", stdout.String(), w)
				}
			}
			for _, w := range tc.err {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q lacks %q", stderr.String(), w)
				}
			}
			if strings.Contains(stdout.String()+stderr.String(), "do-not-print") {
				t.Error("a secret was printed")
			}
		})
	}
}
