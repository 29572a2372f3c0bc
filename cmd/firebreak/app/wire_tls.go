package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/signal"
	"syscall"

	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/web"
)

// setupTLS builds the listener's TLS configuration when tls: is set: the
// certificate is served by a reloader that reads the files again when they
// change (looked at every Options.CertCheckInterval) and on SIGHUP, so new
// handshakes get a renewed certificate and open connections are not
// dropped. Without tls: on a non-loopback address it warns, at every
// start.
func setupTLS(a *App) error {
	cfg := a.Config
	if !cfg.TLS.Enabled() {
		if !config.LoopbackAddr(cfg.Listen) {
			a.log.Warn("listening on a non-loopback address without TLS: tokens, passwords and Slack callbacks cross the network in the clear; configure tls.cert_file and tls.key_file, or terminate TLS in front", "listen", cfg.Listen)
		}
		return nil
	}
	r, err := web.NewCertReloader(cfg.TLS.CertFile, cfg.TLS.KeyFile, a.log.With("component", "tls"))
	if err != nil {
		return err
	}
	a.tls = &tls.Config{MinVersion: a.res.TLSMinVersion, GetCertificate: r.GetCertificate}
	if len(a.res.ClientCAs) > 0 {
		// mtls sources: a client certificate is asked for and, when given,
		// must chain to one of their CAs; each source checks its own CA
		// and allowed names again.
		pool := x509.NewCertPool()
		for _, ca := range a.res.ClientCAs {
			pool.AddCert(ca)
		}
		a.tls.ClientCAs, a.tls.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	a.closers = append(a.closers, func() error { signal.Stop(hup); return nil })
	interval := a.opts.CertCheckInterval
	a.Go(func(ctx context.Context) { r.Run(ctx, interval, hup) })
	return nil
}
