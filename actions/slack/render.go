package slack

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/firebreak/firebreak/engine/event"
)

// Slack's Block Kit limits, in characters.
const (
	maxSectionText  = 3000
	maxFieldText    = 2000
	maxHeaderText   = 150
	maxContextElts  = 10
	maxButtonValue  = 2000
	maxFallback     = 4000
	maxConfirmText  = 300
	maxConfirmTitle = 100
	maxParamsText   = 2000
)

// escape makes s safe as mrkdwn text: Slack gives meaning to &, < and >
// only, so escaping them turns any mention or link in s into plain text.
func escape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

// EscapeValue escapes a value rendered from event data into authored
// mrkdwn (slack.notify's text): &, < and > become entities, so the value
// shows as typed and can neither mention nor link. The playbook renderer
// applies it to template values only (actions.Param.Escape).
func EscapeValue(s string) string { return escape(s) }

// entityRE matches the three entities Slack decodes.
var entityRE = regexp.MustCompile(`^&(?:amp|lt|gt);`)

// escapeKeepEntities is escape for text that may already hold escaped
// values: an & that starts &amp;, &lt; or &gt; is kept, so an escaped
// value is not escaped twice (&amp;amp;).
func escapeKeepEntities(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			if entityRE.MatchString(s[i:]) {
				b.WriteByte('&')
			} else {
				b.WriteString("&amp;")
			}
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// mentionRE matches the Slack tokens an author may use on purpose in a
// notification text: a user, a channel, a user group, @here and @channel.
var mentionRE = regexp.MustCompile(`<(?:@[UW][A-Z0-9]{1,20}|#C[A-Z0-9]{1,20}|!subteam\^S[A-Z0-9]{1,20}|!here|!channel)>`)

// escapeText escapes authored mrkdwn (the rendered text parameter, whose
// template values the renderer already escaped with EscapeValue): mentions
// of users, channels and user groups the author wrote survive, every other
// <…> sequence (links with a misleading label, <!everyone>) is shown as
// typed, and entities are not escaped twice.
func escapeText(s string) string {
	var b strings.Builder
	last := 0
	for _, loc := range mentionRE.FindAllStringIndex(s, -1) {
		b.WriteString(escapeKeepEntities(s[last:loc[0]]))
		b.WriteString(s[loc[0]:loc[1]])
		last = loc[1]
	}
	b.WriteString(escapeKeepEntities(s[last:]))
	return b.String()
}

// code renders s as inline code, escaped; backticks in s would end the span.
func code(s string) string {
	return "`" + escape(strings.ReplaceAll(s, "`", "'")) + "`"
}

// truncate cuts s to at most n characters (runes), marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// link renders a mrkdwn link to raw labelled label, or "" when raw is not an
// absolute http(s) URL.
func link(raw, label string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	s := strings.ReplaceAll(u.String(), "|", "%7C")
	return "<" + escape(s) + "|" + escape(label) + ">"
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

func section(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(truncate(text, maxSectionText)), nil, nil)
}

// contextBlock returns a context block of mrkdwn elements, at most Slack's
// ten, or nil when there are none.
func contextBlock(blockID string, parts []string) *slack.ContextBlock {
	if len(parts) == 0 {
		return nil
	}
	if len(parts) > maxContextElts {
		parts = parts[:maxContextElts]
	}
	elts := make([]slack.MixedElement, 0, len(parts))
	for _, p := range parts {
		elts = append(elts, mrkdwn(truncate(p, maxFieldText)))
	}
	return slack.NewContextBlock(blockID, elts...)
}

func severityEmoji(sev string) string {
	switch sev {
	case event.SeverityCritical:
		return ":red_circle:"
	case event.SeverityHigh:
		return ":large_orange_circle:"
	case event.SeverityWarning:
		return ":large_yellow_circle:"
	case event.SeverityInfo:
		return ":large_blue_circle:"
	}
	return ":white_circle:"
}

func statusEmoji(status string) string {
	switch status {
	case event.StatusFiring:
		return ":fire:"
	case event.StatusResolved:
		return ":white_check_mark:"
	}
	return ":grey_question:"
}

// keyLabels are shown first, in this order, when an event has them.
var keyLabels = []string{
	"cluster", "namespace", "deployment", "statefulset", "daemonset", "workload",
	"pod", "container", "service", "job", "instance", "node", "host",
	"src_ip", "dst_ip", "user", "rule",
}

// maxLabels is how many labels a message shows.
const maxLabels = 8

// labelSummary returns up to maxLabels "name=value" pairs, escaped: the
// key labels first, then the rest sorted, leaving out alertname and severity
// (already shown).
func labelSummary(ev *event.Event) []string {
	var out []string
	seen := map[string]bool{"alertname": true, "severity": true}
	add := func(k string) {
		v, ok := ev.Labels[k]
		if !ok || seen[k] || len(out) >= maxLabels {
			return
		}
		seen[k] = true
		out = append(out, code(k+"="+truncate(v, 100)))
	}
	for _, k := range keyLabels {
		add(k)
	}
	rest := make([]string, 0, len(ev.Labels))
	for k := range ev.Labels {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		add(k)
	}
	eligible := 0
	for k := range ev.Labels {
		if k != "alertname" && k != "severity" {
			eligible++
		}
	}
	if more := eligible - len(out); more > 0 {
		out = append(out, fmt.Sprintf("+%d more", more))
	}
	return out
}

// annotationSummary returns the event's human description: the summary,
// description or message annotation, escaped, or "".
func annotationSummary(ev *event.Event) string {
	for _, k := range []string{"summary", "description", "message"} {
		if v := strings.TrimSpace(ev.Annotations[k]); v != "" {
			return escape(truncate(v, 600))
		}
	}
	return ""
}

// eventFields returns the section fields naming the event: alert, severity,
// status and source.
func eventFields(ev *event.Event) []*slack.TextBlockObject {
	name := ev.Name
	if name == "" {
		name = "(unnamed)"
	}
	sev := ev.Severity
	if sev == "" {
		sev = "unknown"
	}
	status := ev.Status
	if status == "" {
		status = "unknown"
	}
	fields := []*slack.TextBlockObject{
		mrkdwn(truncate("*Alert*\n"+escape(name), maxFieldText)),
		mrkdwn(truncate("*Severity*\n"+severityEmoji(ev.Severity)+" "+escape(sev), maxFieldText)),
		mrkdwn(truncate("*Status*\n"+statusEmoji(ev.Status)+" "+escape(status), maxFieldText)),
	}
	if ev.Source != "" {
		fields = append(fields, mrkdwn(truncate("*Source*\n"+escape(ev.Source), maxFieldText)))
	}
	return fields
}

// eventLine is a one-line mrkdwn summary of ev, for approval messages.
func eventLine(ev *event.Event) string {
	name := ev.Name
	if name == "" {
		name = "(unnamed)"
	}
	var meta []string
	for _, s := range []string{ev.Severity, ev.Status} {
		if s != "" {
			meta = append(meta, escape(s))
		}
	}
	line := severityEmoji(ev.Severity) + " *" + escape(name) + "*"
	if len(meta) > 0 {
		line += " (" + strings.Join(meta, ", ") + ")"
	}
	if ev.Source != "" {
		line += " from " + escape(ev.Source)
	}
	return line
}

// eventLinks returns mrkdwn links for ev: the alert's generator URL, its
// runbook and Firebreak's own page for it.
func (c *Client) eventLinks(ev *event.Event) []string {
	var out []string
	if ev == nil {
		return nil
	}
	gen, _ := ev.Fields["generatorURL"].(string)
	if gen == "" {
		gen = ev.Annotations["generatorURL"]
	}
	if l := link(gen, "View alert"); l != "" {
		out = append(out, l)
	}
	runbook := ev.Annotations["runbook_url"]
	if runbook == "" {
		runbook = ev.Annotations["runbook"]
	}
	if l := link(runbook, "Runbook"); l != "" {
		out = append(out, l)
	}
	if c.linkBase != "" && ev.ID != "" {
		if l := link(c.linkBase+"/events/"+url.PathEscape(ev.ID), "Firebreak"); l != "" {
			out = append(out, l)
		}
	}
	return out
}
