// Package tlstest makes a private PKI for tests: a CA generated in the
// test, server and client certificates it signs, and the PEM files a
// configuration names. Nothing here is for production use.
package tlstest
