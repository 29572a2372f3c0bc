package firewall_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/actions/firewall"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  firewall.Config
		want string
	}{
		{"bad allowlist", firewall.Config{Allowlist: []string{"10.0.0.0/33"}}, `allowlist "10.0.0.0/33"`},
		{"bad table", firewall.Config{Table: "fire-break"}, `table "fire-break"`},
		{"default above max", firewall.Config{MaxTTL: time.Hour, DefaultTTL: 2 * time.Hour}, "default ttl 2h0m0s is outside"},
		{"tiny max", firewall.Config{MaxTTL: time.Millisecond}, "max ttl 1ms is shorter than 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := firewall.New(tc.cfg)
			if !errors.Is(err, firewall.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
	fw, err := firewall.New(firewall.Config{MaxTTL: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if fw.Table() != "firebreak" {
		t.Errorf("table = %q", fw.Table())
	}
	if p := fw.BlockAction().Spec().Params[1]; p.Name != "ttl" || p.Default != "30m" {
		t.Errorf("ttl default with a 30m max = %v, want 30m", p.Default)
	}
}

func TestSpec(t *testing.T) {
	fw, err := firewall.New(firewall.Config{NetNS: "edge"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []actions.Action{fw.BlockAction(), fw.UnblockAction()} {
		s := a.Spec()
		if !s.Destructive || !s.Reversible || s.Description == "" {
			t.Errorf("%s: spec = %+v", s.ID, s)
		}
		if len(s.Permissions) != 2 || s.Permissions[0] != "CAP_NET_ADMIN" ||
			!strings.Contains(s.Permissions[1], "/var/run/netns/edge") {
			t.Errorf("%s: permissions = %v", s.ID, s.Permissions)
		}
		if err := a.Validate(s.Example, true); err != nil {
			t.Errorf("%s: example does not validate: %v", s.ID, err)
		}
		for _, p := range s.Params {
			if p.Doc == "" || !strings.HasSuffix(p.Doc, ".") {
				t.Errorf("%s: param %s doc %q is not a sentence", s.ID, p.Name, p.Doc)
			}
		}
	}
	if id := fw.BlockAction().Spec().ID; firewall.BlockID != "firewall.block_ip" || id != firewall.BlockID {
		t.Errorf("block id = %q", id)
	}
	if id := fw.UnblockAction().Spec().ID; id != "firewall.unblock_ip" {
		t.Errorf("unblock id = %q", id)
	}
	reg := actions.NewRegistry()
	if err := reg.Register(fw.BlockAction()); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(fw.UnblockAction()); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	fw, err := firewall.New(firewall.Config{Allowlist: []string{"10.0.0.0/8", "2001:db8::7"}, MaxTTL: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	block, unblock := fw.BlockAction(), fw.UnblockAction()
	for _, tc := range []struct {
		name   string
		a      actions.Action
		params map[string]any
		final  bool
		want   []string // substrings of the error; none means valid
	}{
		{"ipv4", block, map[string]any{"ip": "203.0.113.7", "ttl": "2h", "reason": "scan"}, true, nil},
		{"ipv6", block, map[string]any{"ip": "2001:db8::8"}, true, nil},
		{"mapped ipv4", block, map[string]any{"ip": "::ffff:203.0.113.7"}, true, nil},
		{"templated ip absent at load", block, map[string]any{"ttl": "10m"}, false, nil},
		{"ip missing at run", block, map[string]any{"ttl": "10m"}, true, []string{"with.ip: is required"}},
		{"not an ip", block, map[string]any{"ip": "example.com"}, true, []string{"with.ip: not a single IP address"}},
		{"prefix", block, map[string]any{"ip": "203.0.113.0/24"}, true, []string{"is a prefix; block one address at a time"}},
		{"zone", block, map[string]any{"ip": "2001:db8::8%eth0"}, true, []string{"carries a zone"}},
		{"allow-listed", block, map[string]any{"ip": "10.1.2.3"}, false, []string{"10.1.2.3 is allow-listed by 10.0.0.0/8"}},
		{"allow-listed single", block, map[string]any{"ip": "2001:db8::7"}, false, []string{"allow-listed by 2001:db8::7/128"}},
		{"loopback", block, map[string]any{"ip": "127.0.0.2"}, true, []string{"must never be blocked: 127.0.0.2 is a loopback address"}},
		{"mapped loopback", block, map[string]any{"ip": "::ffff:127.0.0.1"}, true, []string{"loopback"}},
		{"link-local", block, map[string]any{"ip": "fe80::1"}, true, []string{"link-local"}},
		{"multicast", block, map[string]any{"ip": "ff02::1"}, true, []string{"multicast"}},
		{"unspecified", block, map[string]any{"ip": "::"}, true, []string{"unspecified"}},
		{"ttl too long", block, map[string]any{"ip": "203.0.113.7", "ttl": "3h"}, false, []string{"with.ttl: ttl out of range: 3h is longer than the configured maximum 2h"}},
		{"ttl too short", block, map[string]any{"ip": "203.0.113.7", "ttl": "500ms"}, true, []string{"500ms is shorter than 1s"}},
		{"ttl not a duration", block, map[string]any{"ip": "203.0.113.7", "ttl": "soon"}, true, []string{`with.ttl: must be a duration`}},
		{"unknown param and bad type", block, map[string]any{"ip": 7, "port": 22}, true,
			[]string{"with.ip: must be a string", "with.port: unknown parameter for firewall.block_ip"}},
		{"unblock allow-listed is fine", unblock, map[string]any{"ip": "10.1.2.3"}, true, nil},
		{"unblock loopback is fine", unblock, map[string]any{"ip": "127.0.0.1"}, true, nil},
		{"unblock takes no ttl", unblock, map[string]any{"ip": "10.1.2.3", "ttl": "1h"}, true, []string{"with.ttl: unknown parameter"}},
		{"unblock bad ip", unblock, map[string]any{"ip": "10.1.2.0/24"}, true, []string{"is a prefix"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.Validate(tc.params, tc.final)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error mentioning %q, got none", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var pe *actions.ParamError
			if !errors.As(err, &pe) {
				t.Errorf("error %v is not a *actions.ParamError", err)
			}
		})
	}
}

func TestTarget(t *testing.T) {
	fw, _ := firewall.New(firewall.Config{})
	for in, want := range map[string]string{
		"203.0.113.7":        "ip/203.0.113.7",
		"::ffff:203.0.113.7": "ip/203.0.113.7",
		"2001:DB8::0:1":      "ip/2001:db8::1",
		"junk":               "ip/junk",
	} {
		if got := fw.BlockAction().Target(map[string]any{"ip": in}).String(); got != want {
			t.Errorf("block target(%q) = %q, want %q", in, got, want)
		}
		if got := fw.UnblockAction().Target(map[string]any{"ip": in}).String(); got != want {
			t.Errorf("unblock target(%q) = %q, want %q", in, got, want)
		}
	}
}

// A refusal needs no nftables at all, so it is checked before any I/O.
func TestRunRefusesBeforeTouchingNetlink(t *testing.T) {
	fw, _ := firewall.New(firewall.Config{NetNS: "fbtest-does-not-exist", Allowlist: []string{"198.51.100.0/24"}})
	_, err := fw.BlockAction().Run(context.Background(), actions.Request{Params: map[string]any{"ip": "198.51.100.9"}})
	if !errors.Is(err, firewall.ErrRefused) || !errors.Is(err, actions.ErrPermanent) {
		t.Fatalf("err = %v, want a permanent ErrRefused", err)
	}
	_, err = fw.BlockAction().Run(context.Background(), actions.Request{Params: map[string]any{"ip": "198.51.100.9", "ttl": "48h"}})
	if !errors.Is(err, firewall.ErrTTL) || !errors.Is(err, actions.ErrPermanent) {
		t.Fatalf("err = %v, want a permanent ErrTTL", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err = fw.BlockAction().Run(ctx, actions.Request{Params: map[string]any{"ip": "203.0.113.7"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: err = %v", err)
	}
	_, err = fw.BlockAction().Run(context.Background(), actions.Request{Params: map[string]any{"ip": "203.0.113.7"}})
	if !errors.Is(err, firewall.ErrNetNS) || errors.Is(err, actions.ErrPermanent) {
		t.Fatalf("missing namespace: err = %v, want a retryable ErrNetNS", err)
	}
}

// A process registered in dry-run because nftables is out of reach still
// says what each action would do.
func TestDryRunWithoutNFTables(t *testing.T) {
	fw, _ := firewall.New(firewall.Config{NetNS: "fbtest-does-not-exist"})
	for _, a := range []actions.Action{fw.BlockAction(), fw.UnblockAction()} {
		res, err := a.Run(context.Background(), actions.Request{Params: map[string]any{"ip": "203.0.113.7"}, DryRun: true})
		if err != nil {
			t.Fatalf("%s: %v", a.Spec().ID, err)
		}
		if !strings.HasPrefix(res.Summary, "would ") || res.Before["observed"] != false ||
			!strings.Contains(res.Before["error"].(string), "fbtest-does-not-exist") || res.Output["dry_run"] != true {
			t.Errorf("%s: result = %+v", a.Spec().ID, res)
		}
	}
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	s := firewall.NewMemoryStore()
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.9")
	for _, blk := range []firewall.Block{{IP: a, Reason: "one"}, {IP: b, Reason: "two"}, {IP: a, Reason: "again"}} {
		if err := s.SaveBlock(ctx, blk); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListBlocks(ctx)
	if err != nil || len(got) != 2 || got[0].IP != b || got[1].IP != a || got[1].Reason != "again" {
		t.Fatalf("ListBlocks = %+v, %v", got, err)
	}
	if err := s.DeleteBlock(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBlock(ctx, a); err != nil {
		t.Fatalf("deleting a missing block: %v", err)
	}
	if got, _ := s.ListBlocks(ctx); len(got) != 1 || got[0].IP != b {
		t.Fatalf("after delete: %+v", got)
	}
}
