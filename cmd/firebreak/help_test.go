package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelpOfValidateAndRBAC: asking a subcommand for its usage is not an error,
// so --help and -h exit 0 and print the usage (to stderr, like a flag
// error's). An unknown flag still exits 2.
func TestHelpOfValidateAndRBAC(t *testing.T) {
	for _, sub := range []string{"validate", "rbac"} {
		for _, flag := range []string{"--help", "-h"} {
			var stdout, stderr bytes.Buffer
			if code := run([]string{sub, flag}, &stdout, &stderr); code != 0 {
				t.Errorf("firebreak %s %s = %d, want 0; stderr: %s", sub, flag, code, stderr.String())
			}
			if !strings.Contains(stderr.String(), "usage: firebreak "+sub) {
				t.Errorf("firebreak %s %s printed no usage: %q", sub, flag, stderr.String())
			}
		}
		var stdout, stderr bytes.Buffer
		if code := run([]string{sub, "--no-such-flag"}, &stdout, &stderr); code != 2 {
			t.Errorf("firebreak %s --no-such-flag = %d, want 2", sub, code)
		}
	}
}
