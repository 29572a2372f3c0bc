package secret

import (
	"fmt"
	"strings"
)

// Error is a problem with one secret, reported at the key that names it:
// the literal's key when two spellings are set, otherwise the key of the
// spelling that failed (Key+"_env", Key+"_file"). It never holds the value.
type Error struct {
	// Key is the key path of the offending spelling, such as
	// approvals.signing_secret_env or url_env.
	Key string
	// Msg says what is wrong, without the key.
	Msg string
}

// Error returns "key: message".
func (e *Error) Error() string { return e.Key + ": " + e.Msg }

// Resolve returns the secret key gives in one of its three spellings: the
// literal (key itself), envName (key_env: a variable's name, looked up with
// lookupEnv) or fileName (key_file: a path, read with readFile). It returns
// "" and no error when no spelling is set; whether the secret is required
// is the caller's decision. Two spellings set, an unset or empty variable,
// and a missing, unreadable or empty file are an *Error. Surrounding
// whitespace is trimmed. key is a path such as approvals.signing_secret;
// only its last segment is shown in the message about two spellings.
func Resolve(key, literal, envName, fileName string, lookupEnv func(string) (string, bool), readFile func(string) ([]byte, error)) (string, error) {
	n := 0
	for _, v := range []string{literal, envName, fileName} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		l := last(key)
		return "", &Error{Key: key, Msg: fmt.Sprintf("set only one of %s, %s_env and %s_file", l, l, l)}
	}
	switch {
	case envName != "":
		v, ok := lookupEnv(envName)
		if !ok || strings.TrimSpace(v) == "" {
			return "", &Error{Key: key + "_env", Msg: fmt.Sprintf("environment variable %s is not set (or is empty)", envName)}
		}
		return strings.TrimSpace(v), nil
	case fileName != "":
		b, err := readFile(fileName)
		if err != nil {
			// An *os.PathError names the path and the cause, not the content.
			return "", &Error{Key: key + "_file", Msg: err.Error()}
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", &Error{Key: key + "_file", Msg: fmt.Sprintf("%s is empty", fileName)}
		}
		return v, nil
	}
	return strings.TrimSpace(literal), nil
}

// last returns the last segment of a key path.
func last(path string) string {
	if i := strings.LastIndexAny(path, ".]"); i >= 0 {
		return path[i+1:]
	}
	return path
}
