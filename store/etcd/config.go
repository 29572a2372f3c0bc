package etcd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/tlsutil"
	"go.etcd.io/etcd/client/pkg/v3/transport"
)

// DefaultPrefix is the key prefix when store.etcd.prefix is not set.
const DefaultPrefix = "/firebreak"

// Config is the configuration file's store.etcd section.
type Config struct {
	// Endpoints are the etcd client URLs (http:// or https://).
	Endpoints []string `yaml:"endpoints"`
	// Prefix is put before every key (default /firebreak); two Firebreak
	// clusters may share one etcd under different prefixes.
	Prefix string `yaml:"prefix"`
	// TLS, when set, authenticates the server (ca_file) and this client
	// (cert_file and key_file).
	TLS *TLSConfig `yaml:"tls"`
	// Username and the environment variable holding its password, for
	// etcd's role-based access control; both or neither.
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`

	// DialTimeout bounds connecting (default 5s); RequestTimeout bounds
	// each transaction (default 5s), so that a lost quorum is an error and
	// not a hang.
	DialTimeout    time.Duration `yaml:"-"`
	RequestTimeout time.Duration `yaml:"-"`
	// Logger receives what went wrong outside a caller's reach.
	Logger *slog.Logger `yaml:"-"`

	// Node is this replica's name (the config's cluster.node; default the
	// hostname). Two live replicas cannot share one: Open waits for the
	// other's session to end.
	Node string `yaml:"-"`
	// SessionTTL is the lease of this replica's session (default 10s): a
	// replica that stops renewing it for this long loses its events to a
	// takeover and can commit nothing more (fencing).
	SessionTTL time.Duration `yaml:"-"`
	// TakeoverInterval is how often the pending events of dead replicas
	// are looked for, besides when a member's key is seen to go (default
	// 5s).
	TakeoverInterval time.Duration `yaml:"-"`
	// Now is the clock (default time.Now).
	Now func() time.Time `yaml:"-"`
}

// TLSConfig is store.etcd.tls.
type TLSConfig struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// check validates cfg and returns every problem at once, each naming its
// key. It resolves nothing and reads no file.
func (cfg *Config) check() error {
	var errs []error
	if len(cfg.Endpoints) == 0 {
		errs = append(errs, errors.New("store.etcd.endpoints: at least one endpoint is required"))
	}
	for i, ep := range cfg.Endpoints {
		u, err := url.Parse(ep)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("store.etcd.endpoints[%d]: %w", i, err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("store.etcd.endpoints[%d]: %q is not an http:// or https:// URL", i, ep))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("store.etcd.endpoints[%d]: %q has no host", i, ep))
		case cfg.TLS != nil && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("store.etcd.endpoints[%d]: %q is plain http but store.etcd.tls is set", i, ep))
		}
	}
	if cfg.Prefix != "" && (!strings.HasPrefix(cfg.Prefix, "/") || strings.HasSuffix(cfg.Prefix, "/")) {
		errs = append(errs, fmt.Errorf("store.etcd.prefix: %q must start with / and not end with one", cfg.Prefix))
	}
	if strings.ContainsAny(cfg.Node, "/ \x00") {
		errs = append(errs, fmt.Errorf("cluster.node: %q must not contain /, a space or NUL", cfg.Node))
	}
	if cfg.SessionTTL != 0 && cfg.SessionTTL < 2*time.Second {
		errs = append(errs, fmt.Errorf("store.etcd session TTL %s: at least 2s", cfg.SessionTTL))
	}
	if (cfg.Username == "") != (cfg.PasswordEnv == "") {
		errs = append(errs, errors.New("store.etcd.username and store.etcd.password_env go together"))
	}
	if t := cfg.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			errs = append(errs, errors.New("store.etcd.tls.cert_file and store.etcd.tls.key_file go together"))
		}
	}
	return errors.Join(errs...)
}

// password reads the password from its environment variable; an unset or
// empty variable is an error naming the key, never the value.
func (cfg *Config) password() (string, error) {
	if cfg.PasswordEnv == "" {
		return "", nil
	}
	pw := os.Getenv(cfg.PasswordEnv)
	if pw == "" {
		return "", fmt.Errorf("store.etcd.password_env: environment variable %s is unset or empty", cfg.PasswordEnv)
	}
	return pw, nil
}

// tlsConfig loads the TLS files, or returns nil without TLS.
func (cfg *Config) tlsConfig() (*tls.Config, error) {
	if cfg.TLS == nil {
		return nil, nil
	}
	info := transport.TLSInfo{TrustedCAFile: cfg.TLS.CAFile, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile}
	if info.CertFile == "" {
		// A CA alone authenticates the server; TLSInfo wants a pair, so
		// build the config by hand.
		c := &tls.Config{MinVersion: tls.VersionTLS12}
		if info.TrustedCAFile != "" {
			pool, err := tlsutil.NewCertPool([]string{info.TrustedCAFile})
			if err != nil {
				return nil, fmt.Errorf("store.etcd.tls.ca_file: %w", err)
			}
			c.RootCAs = pool
		}
		return c, nil
	}
	c, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("store.etcd.tls: %w", err)
	}
	return c, nil
}
