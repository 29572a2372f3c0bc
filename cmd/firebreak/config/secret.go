package config

import (
	"fmt"
	"os"
	"strings"
)

// Secret is one secret of the configuration in its three spellings: KEY
// (a literal), KEY_env (an environment variable's name) and KEY_file (a
// file's path). Exactly one may be set.
type Secret struct {
	// Key is the literal's key path, such as approvals.signing_secret; the
	// others are Key+"_env" and Key+"_file".
	Key                   string
	Literal, Env, FileKey string
}

// Set reports whether any spelling is given.
func (s Secret) Set() bool { return s.Literal != "" || s.Env != "" || s.FileKey != "" }

// resolveSecret is the one secret resolver every part of Firebreak uses. It
// returns "" when no spelling is set (the caller decides whether the secret
// is required). Two spellings set, an unset or empty variable, and a
// missing, unreadable or empty file are errors, reported at the key that
// names them. Surrounding whitespace is trimmed. Errors never contain the
// value.
func resolveSecret(s Secret, lookupEnv func(string) (string, bool), readFile func(string) ([]byte, error)) (string, *secretError) {
	n := 0
	for _, v := range []string{s.Literal, s.Env, s.FileKey} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return "", &secretError{path: s.Key, msg: fmt.Sprintf("set only one of %s, %s_env and %s_file", last(s.Key), last(s.Key), last(s.Key))}
	}
	switch {
	case s.Env != "":
		v, ok := lookupEnv(s.Env)
		if !ok || strings.TrimSpace(v) == "" {
			return "", &secretError{path: s.Key + "_env", msg: fmt.Sprintf("environment variable %s is not set (or is empty)", s.Env)}
		}
		return strings.TrimSpace(v), nil
	case s.FileKey != "":
		b, err := readFile(s.FileKey)
		if err != nil {
			// The *PathError names the path and the cause, not the content.
			return "", &secretError{path: s.Key + "_file", msg: err.Error()}
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", &secretError{path: s.Key + "_file", msg: fmt.Sprintf("%s is empty", s.FileKey)}
		}
		return v, nil
	}
	return strings.TrimSpace(s.Literal), nil
}

// ResolveSecret resolves s from the process environment and file system;
// see the package's rules for secrets.
func ResolveSecret(s Secret) (string, error) {
	v, err := resolveSecret(s, os.LookupEnv, os.ReadFile)
	if err != nil {
		return "", Problem{Path: err.path, Msg: err.msg}
	}
	return v, nil
}

type secretError struct{ path, msg string }

// last returns the last segment of a key path.
func last(path string) string {
	if i := strings.LastIndexAny(path, ".]"); i >= 0 {
		return path[i+1:]
	}
	return path
}
