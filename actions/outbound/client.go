package outbound

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client makes HTTP requests under a Policy. Connections dialled for each
// Trust live in separate pools, so a
// connection allowed for the author's own relay is never reused for a
// request whose host came from event data or a redirect. It is safe for
// concurrent use.
type Client struct {
	p       *Policy
	clients [FromRedirect + 1]*http.Client // by Trust
}

// Options are per request.
type Options struct {
	// Trust is how far the URL's host is trusted.
	Trust Trust
	// FollowRedirects follows up to the policy's MaxRedirects hops, each
	// checked as FromRedirect. Without it a 3xx answer is returned as is.
	FollowRedirects bool
}

// NewClient returns a client whose every connection is checked by p. tlsCfg
// may be nil.
func NewClient(p *Policy, tlsCfg *tls.Config) *Client {
	c := &Client{p: p}
	for t := range c.clients {
		c.clients[t] = p.HTTPClient(Trust(t), tlsCfg)
	}
	return c
}

// HTTPClient returns a plain *http.Client for hosts of trust t (for
// libraries that want one, such as Slack's). It ignores proxy environment
// variables and never follows redirects: a 3xx is returned to the caller.
func (p *Policy) HTTPClient(t Trust, tlsCfg *tls.Config) *http.Client {
	tr := &http.Transport{
		Proxy:             nil,
		DialContext:       p.DialContext(t),
		TLSClientConfig:   tlsCfg,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      100,
		// net/http keeps 2 idle connections per host by default: the
		// engine's workers calling one receiver at once then closed every
		// other connection after its request and dialled it again for the
		// next (a dial, a close and their syscalls per action).
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Do sends req, following redirects only when o asks. Errors from the
// policy satisfy errors.Is(err, ErrDestinationRefused) and errors.As to
// *RefusedError; they are never *url.Error, so they do not quote the URL.
func (c *Client) Do(req *http.Request, o Options) (*http.Response, error) {
	trust := o.Trust
	if trust < Literal || trust > FromRedirect {
		trust = FromEvent
	}
	for hop := 0; ; hop++ {
		resp, err := c.clients[trust].Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, err
		}
		loc := resp.Header.Get("Location")
		if !o.FollowRedirects || !isRedirect(resp.StatusCode) || loc == "" {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if hop >= c.p.maxRedirects {
			return nil, fmt.Errorf("%w: stopped after %d", ErrTooManyRedirects, hop)
		}
		next, err := req.URL.Parse(loc)
		if err != nil || (next.Scheme != "http" && next.Scheme != "https") || next.Host == "" {
			return nil, errors.New("redirect to an invalid or non-HTTP location")
		}
		if req, err = redirected(req, next, resp.StatusCode); err != nil {
			return nil, err
		}
		trust = FromRedirect
	}
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// keptAcrossHosts are the headers a redirect to another host keeps; the
// rest (Authorization, cookies, headers a step set, which may carry keys)
// stay with the host they were meant for.
var keptAcrossHosts = []string{"Content-Type", "User-Agent", "Accept", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}

// redirected builds the next hop's request the way browsers and net/http
// do: 301, 302 and 303 turn a POST into a GET without a body; 307 and 308
// keep the method and the body.
func redirected(prev *http.Request, next *url.URL, code int) (*http.Request, error) {
	method := prev.Method
	keepBody := code == http.StatusTemporaryRedirect || code == http.StatusPermanentRedirect
	if !keepBody && method != http.MethodHead {
		method = http.MethodGet
	}
	var body io.ReadCloser
	if keepBody && prev.GetBody != nil {
		b, err := prev.GetBody()
		if err != nil {
			return nil, fmt.Errorf("redirect: rewind the body: %w", err)
		}
		body = b
	} else if keepBody && prev.ContentLength > 0 {
		return nil, errors.New("redirect: the body cannot be sent again")
	}
	req, err := http.NewRequestWithContext(prev.Context(), method, next.String(), body)
	if err != nil {
		return nil, fmt.Errorf("redirect: %w", err)
	}
	if keepBody {
		req.ContentLength = prev.ContentLength
		req.GetBody = prev.GetBody
	}
	if strings.EqualFold(next.Host, prev.URL.Host) {
		req.Header = prev.Header.Clone()
	} else {
		for _, h := range keptAcrossHosts {
			if v := prev.Header.Values(h); len(v) > 0 {
				req.Header[http.CanonicalHeaderKey(h)] = append([]string(nil), v...)
			}
		}
	}
	if !keepBody {
		req.Header.Del("Content-Type")
		req.Header.Del("Content-Length")
	}
	return req, nil
}

// URLTrust says how far the host of rawURL is trusted, given how its
// parameter was written: templated false means the whole value was written
// literally; otherwise written is the literal text before the first
// template expression. The host is Literal only when that text already
// holds the whole scheme://authority, ended by '/', '?' or '#', and the
// rendered URL kept it; anything a template could have changed is
// FromEvent.
func URLTrust(rawURL, written string, templated bool) Trust {
	if !templated {
		return Literal
	}
	i := strings.Index(written, "://")
	if i < 0 {
		return FromEvent
	}
	j := strings.IndexAny(written[i+3:], "/?#")
	if j < 0 {
		return FromEvent
	}
	fixed, err := url.Parse(written[:i+3+j])
	if err != nil || fixed.Host == "" {
		return FromEvent
	}
	got, err := url.Parse(rawURL)
	if err != nil || !strings.EqualFold(got.Scheme, fixed.Scheme) || !strings.EqualFold(got.Host, fixed.Host) {
		return FromEvent
	}
	return Literal
}
