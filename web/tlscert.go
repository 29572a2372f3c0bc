package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCertCheckInterval is how often CertReloader.Run looks at the
// certificate files.
const DefaultCertCheckInterval = 10 * time.Second

// CertReloader serves the listener's certificate from a pair of PEM files
// and replaces it when they change: new handshakes get the new
// certificate, open connections keep theirs, so cert-manager or a renewal
// timer can rotate the files under a running Firebreak. It is safe for
// concurrent use.
type CertReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	cert atomic.Pointer[tls.Certificate]
	mu   sync.Mutex
	// seen is the files' content when last loaded (or refused), so an
	// unchanged pair is not parsed again and a bad one is logged once.
	seen []byte
}

// NewCertReloader loads the pair once; an error names the files, never
// their content.
func NewCertReloader(certFile, keyFile string, log *slog.Logger) (*CertReloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &CertReloader{certFile: certFile, keyFile: keyFile, log: log}
	if _, err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// GetCertificate implements tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// Reload reads the files and, when they changed, installs the new pair.
// It reports whether a new certificate was installed. A pair that does not
// load (a half-written renewal, a key that does not match) is an error and
// leaves the current certificate in place.
func (r *CertReloader) Reload() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return false, fmt.Errorf("tls.cert_file: %w", err)
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return false, fmt.Errorf("tls.key_file: %w", err)
	}
	both := append(append(append([]byte(nil), certPEM...), 0), keyPEM...)
	if r.seen != nil && bytes.Equal(both, r.seen) {
		return false, nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls's messages name the problem, not the key material.
		return false, fmt.Errorf("tls: %s and %s: %w", r.certFile, r.keyFile, err)
	}
	r.seen = both
	r.cert.Store(&cert)
	return true, nil
}

// Run reloads the pair every interval (DefaultCertCheckInterval when zero)
// and whenever trigger receives (SIGHUP), until ctx ends.
func (r *CertReloader) Run(ctx context.Context, interval time.Duration, trigger <-chan os.Signal) {
	if interval <= 0 {
		interval = DefaultCertCheckInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-trigger:
		}
		changed, err := r.Reload()
		switch {
		case err != nil && err.Error() != lastErr:
			r.log.Error("reloading the TLS certificate failed; serving the previous one", "error", err)
		case changed:
			leaf := r.cert.Load().Leaf
			if leaf != nil {
				r.log.Info("TLS certificate reloaded", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
			} else {
				r.log.Info("TLS certificate reloaded")
			}
		}
		lastErr = ""
		if err != nil {
			lastErr = err.Error()
		}
	}
}
