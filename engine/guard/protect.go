package guard

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strings"

	"github.com/firebreak/firebreak/actions"
	"github.com/firebreak/firebreak/engine"
	"github.com/firebreak/firebreak/internal/cidr"
)

// checkBounds refuses a step whose integer parameters fall outside the
// configured bounds of its action. A parameter the step does not set is
// checked at its declared default.
func (g *Guard) checkBounds(p *engine.Plan) engine.Verdict {
	bounds := g.cfg.Bounds[p.Step.Action]
	if len(bounds) == 0 {
		return engine.Verdict{}
	}
	names := make([]string, 0, len(bounds))
	for n := range bounds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		b := bounds[name]
		v, ok := p.Params[name]
		if !ok {
			v = paramDefault(p.Action, name)
		}
		n, ok := actions.AsInt(v)
		if !ok {
			continue
		}
		if b.Min != nil && n < *b.Min {
			return refuse(ReasonProtected, "%s=%d is below the configured minimum %d for %s", name, n, *b.Min, p.Step.Action)
		}
		if b.Max != nil && n > *b.Max {
			return refuse(ReasonProtected, "%s=%d is above the configured maximum %d for %s", name, n, *b.Max, p.Step.Action)
		}
	}
	return engine.Verdict{}
}

func paramDefault(a actions.Action, name string) any {
	if a == nil {
		return nil
	}
	for _, prm := range a.Spec().Params {
		if prm.Name == name {
			return prm.Default
		}
	}
	return nil
}

// checkProtected refuses a changing step whose target lies in a protected
// namespace or address range, or whose event carries protected labels.
func (g *Guard) checkProtected(p *engine.Plan) engine.Verdict {
	ns := p.Target.Namespace
	if ns == "" {
		ns, _ = p.Params["namespace"].(string)
	}
	if ns != "" {
		for _, pat := range g.namespaces {
			if ok, _ := path.Match(pat, ns); ok {
				return refuse(ReasonProtected, "namespace %q is protected (%s)", ns, pat)
			}
		}
	}
	ip := p.Target.IP
	if ip == "" {
		ip, _ = p.Params["ip"].(string)
	}
	if ip != "" && len(g.prefixes) > 0 {
		addr, err := parseAddr(ip)
		if err != nil {
			return refuse(ReasonProtected, "address %q cannot be checked against the protected ranges", ip)
		}
		for _, pr := range g.prefixes {
			if pr.Contains(addr) {
				return refuse(ReasonProtected, "address %s is in the protected range %s", addr, pr)
			}
		}
		// A block of a whole range that contains a protected one is refused
		// too, however the range is spelled (::ffff:192.0.2.0/120 is
		// 192.0.2.0/24).
		if pr, err := cidr.Parse(ip); err == nil && strings.Contains(ip, "/") {
			for _, prot := range g.prefixes {
				if pr.Overlaps(prot) {
					return refuse(ReasonProtected, "range %s overlaps the protected range %s", pr, prot)
				}
			}
		}
	}
	for _, sel := range g.selectors {
		if sel.matches(p.Event.Labels) {
			return refuse(ReasonProtected, "the event's labels match the protected selector %q", sel.String())
		}
	}
	return engine.Verdict{}
}

func parseAddr(s string) (netip.Addr, error) {
	if pr, err := netip.ParsePrefix(s); err == nil {
		return pr.Addr().Unmap(), nil
	}
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err
}

// requirement is one term of a label selector.
type requirement struct {
	key, op, value string // op: =, !=, exists, !exists
}

// selector is a comma-separated conjunction of requirements:
// "tier=db", "env!=dev", "protected", "!canary".
type selector struct {
	text string
	reqs []requirement
}

func parseSelector(s string) (selector, error) {
	sel := selector{text: strings.TrimSpace(s)}
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		var r requirement
		switch {
		case term == "":
			return sel, errors.New("empty requirement")
		case strings.Contains(term, "!="):
			k, v, _ := strings.Cut(term, "!=")
			r = requirement{key: strings.TrimSpace(k), op: "!=", value: strings.TrimSpace(v)}
		case strings.Contains(term, "=="):
			k, v, _ := strings.Cut(term, "==")
			r = requirement{key: strings.TrimSpace(k), op: "=", value: strings.TrimSpace(v)}
		case strings.Contains(term, "="):
			k, v, _ := strings.Cut(term, "=")
			r = requirement{key: strings.TrimSpace(k), op: "=", value: strings.TrimSpace(v)}
		case strings.HasPrefix(term, "!"):
			r = requirement{key: strings.TrimSpace(term[1:]), op: "!exists"}
		default:
			r = requirement{key: term, op: "exists"}
		}
		if r.key == "" || strings.ContainsAny(r.key, " !=") {
			return sel, fmt.Errorf("bad requirement %q", term)
		}
		sel.reqs = append(sel.reqs, r)
	}
	return sel, nil
}

func (s selector) matches(labels map[string]string) bool {
	for _, r := range s.reqs {
		v, ok := labels[r.key]
		switch r.op {
		case "=":
			if !ok || v != r.value {
				return false
			}
		case "!=":
			if ok && v == r.value {
				return false
			}
		case "exists":
			if !ok {
				return false
			}
		case "!exists":
			if ok {
				return false
			}
		}
	}
	return true
}

func (s selector) String() string { return s.text }
