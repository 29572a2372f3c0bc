package secret_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak/firebreak/internal/secret"
)

// TestResolve: each spelling, and each way a spelling fails, with the key
// and message every caller (config, webhook.notify) reports; no message
// holds the value.
func TestResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(file, []byte(" from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SET": " from-env ", "EMPTY": "", "BLANK": "  "}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tc := range []struct {
		name                 string
		key, lit, envN, file string
		want, wantErr        string
	}{
		{name: "none", key: "a.token"},
		{name: "literal", key: "a.token", lit: " lit ", want: "lit"},
		{name: "env", key: "a.token", envN: "SET", want: "from-env"},
		{name: "file", key: "a.token", file: file, want: "from-file"},
		{name: "two", key: "a.token", lit: "from-literal", envN: "SET", wantErr: "a.token: set only one of token, token_env and token_file"},
		{name: "unset env", key: "url", envN: "NOPE", wantErr: "url_env: environment variable NOPE is not set (or is empty)"},
		{name: "empty env", key: "a.token", envN: "EMPTY", wantErr: "a.token_env: environment variable EMPTY is not set (or is empty)"},
		{name: "blank env", key: "secret", envN: "BLANK", wantErr: "secret_env: environment variable BLANK is not set (or is empty)"},
		{name: "missing file", key: "url", file: filepath.Join(dir, "nope"), wantErr: "url_file: open " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{name: "empty file", key: "a.token", file: empty, wantErr: "a.token_file: " + empty + " is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := secret.Resolve(tc.key, tc.lit, tc.envN, tc.file, lookup, os.ReadFile)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("= %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			var se *secret.Error
			if !errors.As(err, &se) || err.Error() != tc.wantErr {
				t.Fatalf("error = %v (%T), want *secret.Error %q", err, err, tc.wantErr)
			}
			if got != "" || strings.Contains(err.Error(), "from-") {
				t.Errorf("a failed resolve shows a secret: %q, %v", got, err)
			}
		})
	}
}
