package outbound_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/firebreak/firebreak/actions/outbound"
)

// sink is a real HTTP server on 127.0.0.1 that counts what reaches it.
type sink struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	path []string
}

func newSink(t *testing.T, h http.HandlerFunc) *sink {
	t.Helper()
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		s.path = append(s.path, r.URL.Path)
		s.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

func policy(t *testing.T, cfg outbound.Config) *outbound.Policy {
	t.Helper()
	p, err := outbound.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func post(t *testing.T, c *outbound.Client, u string, o outbound.Options) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req, o)
	if resp != nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func wantRefused(t *testing.T, err error, why string) {
	t.Helper()
	if !errors.Is(err, outbound.ErrDestinationRefused) {
		t.Fatalf("err = %v, want destination refused", err)
	}
	var re *outbound.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("err %v is not a *RefusedError", err)
	}
	if re.Reason() != "destination_refused" {
		t.Fatalf("reason %q", re.Reason())
	}
	if why != "" && !strings.Contains(re.Why, why) {
		t.Fatalf("refused because %q, want %q", re.Why, why)
	}
}

func TestCheck(t *testing.T) {
	p := policy(t, outbound.Config{InterfaceAddrs: func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("203.0.113.9")}, nil
	}})
	const ok = ""
	for _, tc := range []struct {
		addr             string
		literal, fromEvt string // "" allowed, else a substring of why
	}{
		{"169.254.169.254", "link-local", "link-local"},
		{"::ffff:169.254.169.254", "link-local", "link-local"},
		{"fe80::1", "link-local", "link-local"},
		{"fe80::1%eth0", "link-local", "link-local"},
		{"0.0.0.0", "unspecified", "unspecified"},
		{"0.1.2.3", "unspecified", "unspecified"},
		{"::", "unspecified", "unspecified"},
		{"224.0.0.1", "multicast", "multicast"},
		{"ff02::1", "multicast", "multicast"},
		{"255.255.255.255", "broadcast", "broadcast"},
		{"127.0.0.1", ok, "loopback"},
		{"127.8.9.10", ok, "loopback"},
		{"::1", ok, "loopback"},
		{"::ffff:127.0.0.1", ok, "loopback"},
		{"10.1.2.3", ok, "private"},
		{"172.16.0.1", ok, "private"},
		{"192.168.1.1", ok, "private"},
		{"fd00::1", ok, "private"},
		{"100.64.0.1", ok, "100.64.0.0/10"},
		{"203.0.113.9", ok, "own addresses"},
		{"93.184.216.34", ok, ok},
		{"2606:4700::1", ok, ok},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			for _, c := range []struct {
				trust outbound.Trust
				want  string
			}{{outbound.Literal, tc.literal}, {outbound.FromEvent, tc.fromEvt}, {outbound.FromRedirect, tc.fromEvt}} {
				err := p.Check(a, c.trust)
				if c.want == ok {
					if err != nil {
						t.Errorf("%s: %v, want allowed", c.trust, err)
					}
					continue
				}
				var re *outbound.RefusedError
				if !errors.As(err, &re) || !strings.Contains(re.Why, c.want) {
					t.Errorf("%s: %v, want refused as %q", c.trust, err, c.want)
				}
			}
		})
	}
}

// TestMetadataNeverDialled proves the refusal happens before connect: the
// dialer under the policy is never called for 169.254.169.254 or fe80::,
// whatever the trust, while an allowed address is dialled.
func TestMetadataNeverDialled(t *testing.T) {
	var dials atomic.Int64
	var d net.Dialer
	p := policy(t, outbound.Config{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}})
	c := outbound.NewClient(p, nil)
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://[fe80::a9fe:a9fe]/", "http://0.0.0.0:9095/api/v1/pause"} {
		for _, tr := range []outbound.Trust{outbound.Literal, outbound.FromEvent} {
			_, err := post(t, c, u, outbound.Options{Trust: tr})
			wantRefused(t, err, "")
		}
	}
	if n := dials.Load(); n != 0 {
		t.Fatalf("the dialer was called %d times for refused addresses", n)
	}
	s := newSink(t, nil)
	if _, err := post(t, c, s.URL, outbound.Options{Trust: outbound.Literal}); err != nil {
		t.Fatal(err)
	}
	if dials.Load() != 1 || s.hits.Load() != 1 {
		t.Fatalf("dials %d, hits %d after one allowed request, want 1 and 1", dials.Load(), s.hits.Load())
	}
}

// TestEventHostLoopback: a host from event data may not be loopback; the
// same URL written by the author may.
func TestEventHostLoopback(t *testing.T) {
	s := newSink(t, nil)
	c := outbound.NewClient(outbound.Default(), nil)
	_, err := post(t, c, s.URL+"/api/v1/pause", outbound.Options{Trust: outbound.FromEvent})
	wantRefused(t, err, "loopback")
	if s.hits.Load() != 0 {
		t.Fatal("the refused request reached the server")
	}
	if strings.Contains(err.Error(), "/api/v1/pause") {
		t.Fatalf("the refusal %q quotes the URL", err)
	}
	resp, err := post(t, c, s.URL+"/relay", outbound.Options{Trust: outbound.Literal})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || s.hits.Load() != 1 {
		t.Fatalf("literal loopback: status %d, hits %d", resp.StatusCode, s.hits.Load())
	}
}

// TestRedirects: a 307 from an allowed receiver to loopback is refused when
// followed, not followed at all unless asked, and followed when the
// destination is allow-listed.
func TestRedirects(t *testing.T) {
	target := newSink(t, nil)
	var loc atomic.Value
	loc.Store(target.URL + "/api/v1/pause")
	receiver := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hook" {
			http.Redirect(w, r, loc.Load().(string), http.StatusTemporaryRedirect)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	c := outbound.NewClient(outbound.Default(), nil)

	resp, err := post(t, c, receiver.URL+"/hook", outbound.Options{Trust: outbound.Literal})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTemporaryRedirect || target.hits.Load() != 0 {
		t.Fatalf("without follow_redirects: status %d, target hits %d; want the 307 itself", resp.StatusCode, target.hits.Load())
	}

	_, err = post(t, c, receiver.URL+"/hook", outbound.Options{Trust: outbound.Literal, FollowRedirects: true})
	wantRefused(t, err, "loopback")
	var re *outbound.RefusedError
	errors.As(err, &re)
	if re.Trust != outbound.FromRedirect {
		t.Fatalf("refused with trust %s, want redirect", re.Trust)
	}
	if target.hits.Load() != 0 {
		t.Fatal("the redirect reached the loopback target")
	}

	// A redirect back to the receiver itself must not ride on the pooled
	// connection the literal request opened.
	loc.Store(receiver.URL + "/api/v1/pause")
	before := receiver.hits.Load()
	_, err = post(t, c, receiver.URL+"/hook", outbound.Options{Trust: outbound.Literal, FollowRedirects: true})
	wantRefused(t, err, "loopback")
	if got := receiver.hits.Load() - before; got != 1 {
		t.Fatalf("receiver got %d requests, want only the first hop", got)
	}

	// Allow-listed, the same redirect is followed with its body.
	var body string
	target2 := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body = r.Method + " " + string(b)
	})
	loc.Store(target2.URL + "/api/v1/pause")
	wide := outbound.NewClient(policy(t, outbound.Config{AllowCIDRs: []string{"127.0.0.1"}}), nil)
	resp, err = post(t, wide, receiver.URL+"/hook", outbound.Options{Trust: outbound.Literal, FollowRedirects: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || target2.hits.Load() != 1 || body != `POST {"a":1}` {
		t.Fatalf("allow-listed redirect: status %d, hits %d, body %q", resp.StatusCode, target2.hits.Load(), body)
	}
}

func TestAllowAndDenyCIDRs(t *testing.T) {
	s := newSink(t, nil)
	wide := outbound.NewClient(policy(t, outbound.Config{AllowCIDRs: []string{"127.0.0.0/8"}}), nil)
	if _, err := post(t, wide, s.URL, outbound.Options{Trust: outbound.FromEvent}); err != nil {
		t.Fatalf("allow_cidrs 127.0.0.0/8: %v", err)
	}
	meta := policy(t, outbound.Config{AllowCIDRs: []string{"169.254.169.254/32"}})
	if err := meta.Check(netip.MustParseAddr("169.254.169.254"), outbound.FromEvent); err != nil {
		t.Fatalf("allow-listed metadata address: %v", err)
	}
	narrow := outbound.NewClient(policy(t, outbound.Config{AllowCIDRs: []string{"127.0.0.0/8"}, DenyCIDRs: []string{"127.0.0.1/32"}}), nil)
	_, err := post(t, narrow, s.URL, outbound.Options{Trust: outbound.Literal})
	wantRefused(t, err, "deny_cidrs")
	if s.hits.Load() != 1 {
		t.Fatalf("hits %d, want 1", s.hits.Load())
	}
	if _, err := outbound.New(outbound.Config{AllowCIDRs: []string{"10.0.0.0/8", "nonsense"}}); err == nil || !strings.Contains(err.Error(), `allow_cidrs[1]: "nonsense"`) {
		t.Fatalf("bad CIDR: %v", err)
	}
}

// rebinder resolves every name to the addresses it holds and counts lookups.
type rebinder struct {
	addrs   []netip.Addr
	lookups atomic.Int64
}

func (r *rebinder) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.lookups.Add(1)
	return r.addrs, nil
}

// TestDNSRebinding: a public-looking name that resolves to 127.0.0.1 is
// refused at dial for a host from event data; the policy dials the address
// it checked, so the author's own name for a local relay still works.
func TestDNSRebinding(t *testing.T) {
	s := newSink(t, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
	res := &rebinder{addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	c := outbound.NewClient(policy(t, outbound.Config{Resolver: res}), nil)
	u := "http://hooks.public-looking.example:" + port + "/api/v1/pause"
	_, err := post(t, c, u, outbound.Options{Trust: outbound.FromEvent})
	wantRefused(t, err, "loopback")
	if res.lookups.Load() == 0 {
		t.Fatal("the name was not resolved by the policy's resolver")
	}
	if s.hits.Load() != 0 {
		t.Fatal("the rebound name reached loopback")
	}
	// Two answers, one refused: only the allowed one is dialled.
	res.addrs = []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("127.0.0.1")}
	if _, err := post(t, c, u, outbound.Options{Trust: outbound.Literal}); err != nil {
		t.Fatalf("literal name resolving to loopback: %v", err)
	}
	if s.hits.Load() != 1 {
		t.Fatalf("hits %d, want 1", s.hits.Load())
	}
}

// envProxy is where HTTP_PROXY points for the whole test binary. net/http
// reads the proxy variables once per process, so they are set in TestMain,
// before any request.
var envProxy struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func TestMain(m *testing.M) {
	envProxy.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		envProxy.hits.Add(1)
		_, _ = io.WriteString(w, "proxied")
	}))
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"} {
		os.Setenv(k, envProxy.srv.URL)
	}
	os.Unsetenv("NO_PROXY")
	os.Unsetenv("no_proxy")
	code := m.Run()
	envProxy.srv.Close()
	os.Exit(code)
}

// TestProxyEnvironmentIgnored: HTTP_PROXY would otherwise carry the
// request (the policy would then check the proxy, not the destination).
func TestProxyEnvironmentIgnored(t *testing.T) {
	s := newSink(t, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
	res := &rebinder{addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	c := outbound.NewClient(policy(t, outbound.Config{Resolver: res}), nil)
	if _, err := post(t, c, "http://relay.internal:"+port+"/", outbound.Options{Trust: outbound.Literal}); err != nil {
		t.Fatal(err)
	}
	if envProxy.hits.Load() != 0 || s.hits.Load() != 1 {
		t.Fatalf("proxy hits %d, direct hits %d; want 0 and 1", envProxy.hits.Load(), s.hits.Load())
	}
}

func TestURLTrust(t *testing.T) {
	for _, tc := range []struct {
		rendered, written string
		templated         bool
		want              outbound.Trust
	}{
		{"http://127.0.0.1:9095/api/v1/pause", "", false, outbound.Literal},
		{"http://127.0.0.1:9095/api/v1/pause", "", true, outbound.FromEvent},
		{"https://hooks.example.com/x/abc", "https://hooks.example.com/x/", true, outbound.Literal},
		{"https://hooks.example.com/?q=1", "https://hooks.example.com/?q=", true, outbound.Literal},
		{"https://hooks.example.com.evil.test/", "https://hooks.example.com", true, outbound.FromEvent},
		{"https://hooks.example.com@127.0.0.1/", "https://hooks.example.com", true, outbound.FromEvent},
		{"https://hooks.example.com:1/", "https://hooks.example.com:", true, outbound.FromEvent},
		{"https://127.0.0.1/", "https://", true, outbound.FromEvent},
		{"https://other.example/", "https://hooks.example.com/", true, outbound.FromEvent},
		{"https://hooks.example.com/@127.0.0.1", "https://hooks.example.com/", true, outbound.Literal},
	} {
		if got := outbound.URLTrust(tc.rendered, tc.written, tc.templated); got != tc.want {
			t.Errorf("URLTrust(%q, %q, %v) = %s, want %s", tc.rendered, tc.written, tc.templated, got, tc.want)
		}
	}
}
