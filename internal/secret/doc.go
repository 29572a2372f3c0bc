// Package secret is the one secret resolver of Firebreak: every part that
// takes a secret (the configuration's *_env and *_file keys, a playbook
// step's url_env, url_file and secret_env) reads it here, by the same rules
// and with the same messages. A secret is given exactly one way: a
// literal, the name of an environment variable, or the path of a file;
// an unset or empty variable and a missing, unreadable or empty file are
// errors naming the key, never the value.
//
// It is a leaf: it imports only the standard library, and every layer may
// import it. It must not grow a project import, must not read the
// environment or the file system except through the functions its caller
// passes, and must never put a secret's value in an error.
package secret
