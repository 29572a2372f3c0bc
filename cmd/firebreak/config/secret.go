package config

import (
	"errors"
	"os"

	"github.com/firebreak/firebreak/internal/secret"
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

// resolveSecret resolves s by the one secret resolver every part of
// Firebreak uses (internal/secret): "" when no spelling is set (the caller
// decides whether the secret is required); two spellings set, an unset or
// empty variable, and a missing, unreadable or empty file are errors,
// reported at the key that names them. Errors never contain the value.
func resolveSecret(s Secret, lookupEnv func(string) (string, bool), readFile func(string) ([]byte, error)) (string, *secret.Error) {
	v, err := secret.Resolve(s.Key, s.Literal, s.Env, s.FileKey, lookupEnv, readFile)
	if err != nil {
		var se *secret.Error
		if errors.As(err, &se) {
			return "", se
		}
		return "", &secret.Error{Key: s.Key, Msg: err.Error()}
	}
	return v, nil
}

// ResolveSecret resolves s from the process environment and file system;
// see the package's rules for secrets.
func ResolveSecret(s Secret) (string, error) {
	v, err := resolveSecret(s, os.LookupEnv, os.ReadFile)
	if err != nil {
		return "", Problem{Path: err.Key, Msg: err.Msg}
	}
	return v, nil
}
