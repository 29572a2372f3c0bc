package playbooks

import (
	"fmt"
	"net/netip"
	"regexp"
	"sync"

	"github.com/expr-lang/expr"

	"github.com/firebreak/firebreak/engine/event"
)

// Env is what an expression sees: `event` and the helper functions.
type Env struct {
	Event *event.Event `expr:"event"`
}

// maxNodes bounds an expression's size so that no playbook can make
// matching slow.
const maxNodes = 500

var regexCache sync.Map // pattern → *regexp.Regexp

func exprOptions() []expr.Option {
	return []expr.Option{
		expr.Env(Env{}),
		expr.MaxNodes(maxNodes),
		expr.Function("cidr", func(params ...any) (any, error) {
			ip, _ := params[0].(string)
			block, _ := params[1].(string)
			p, err := netip.ParsePrefix(block)
			if err != nil {
				return false, fmt.Errorf("cidr: %w", err)
			}
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return false, nil
			}
			return p.Contains(a.Unmap()), nil
		}, new(func(string, string) bool)),
		expr.Function("regex", func(params ...any) (any, error) {
			s, _ := params[0].(string)
			pat, _ := params[1].(string)
			re, ok := regexCache.Load(pat)
			if !ok {
				c, err := regexp.Compile(pat)
				if err != nil {
					return false, fmt.Errorf("regex: %w", err)
				}
				re, _ = regexCache.LoadOrStore(pat, c)
			}
			return re.(*regexp.Regexp).MatchString(s), nil
		}, new(func(string, string) bool)),
		expr.Function("label", func(params ...any) (any, error) {
			labels, _ := params[0].(map[string]string)
			name, _ := params[1].(string)
			def, _ := params[2].(string)
			if v, ok := labels[name]; ok && v != "" {
				return v, nil
			}
			return def, nil
		}, new(func(map[string]string, string, string) string)),
	}
}
