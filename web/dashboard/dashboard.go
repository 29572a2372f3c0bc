package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/engine/audit"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Dashboard serves the pages. Build it with Mount.
type Dashboard struct {
	deps     Deps
	sessions *sessions
	pages    map[string]*template.Template
	log      *slog.Logger
	static   http.Handler

	vmu    sync.Mutex
	verify chainStatus

	hour *hourCounter
}

// chainStatus is the last verification of the whole audit chain; pages show
// it and re-verify when it is older than verifyTTL.
type chainStatus struct {
	Checked bool
	OK      bool
	Records int
	Error   string
	At      time.Time
}

const verifyTTL = 30 * time.Second

// Mount builds the dashboard from deps and adds its routes to r:
//
//	GET  /                       overview; /overview/counts (its counters, for htmx)
//	GET  /events/*id             incident timeline (ids may contain /)
//	GET  /approvals              the queue; POST /approvals/:id/approve|deny
//	GET  /breakers               breakers and budgets; POST /breakers/:id/reset
//	POST /pause, /resume         the kill switch (with a confirmation)
//	GET  /playbooks              the loaded set; POST /playbooks/test
//	GET  /audit                  search; /audit/export (JSONL), /audit/verify
//	GET  /login, POST /login, POST /logout
//	GET  /static/*file           htmx and the style sheet
func Mount(r gin.IRouter, deps Deps) (*Dashboard, error) {
	switch {
	case deps.Auth == nil:
		return nil, fmt.Errorf("%w: Auth", ErrMissingDeps)
	case deps.State == nil:
		return nil, fmt.Errorf("%w: State", ErrMissingDeps)
	case deps.Audit == nil:
		return nil, fmt.Errorf("%w: Audit", ErrMissingDeps)
	case deps.Timelines == nil:
		return nil, fmt.Errorf("%w: Timelines", ErrMissingDeps)
	case deps.Playbooks == nil:
		return nil, fmt.Errorf("%w: Playbooks", ErrMissingDeps)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.SessionTTL <= 0 {
		deps.SessionTTL = 12 * time.Hour
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Redact == nil {
		deps.Redact = func(r audit.Record) audit.Record { return r }
	}
	d := &Dashboard{deps: deps, sessions: newSessions(deps.State, deps.SessionTTL, deps.Now), log: deps.Logger}
	d.hour = newHourCounter(deps.Audit, deps.Now, deps.Logger)
	if err := d.parse(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("dashboard: static files: %w", err)
	}
	d.static = http.StripPrefix("/static/", http.FileServer(http.FS(sub)))

	r.GET("/static/*file", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		d.static.ServeHTTP(c.Writer, c.Request)
	})
	r.GET("/login", d.secureHeaders, d.loginPage)
	r.POST("/login", d.secureHeaders, d.login)
	g := r.Group("/", d.secureHeaders, d.authn)
	post := func(path string, h ...gin.HandlerFunc) { g.POST(path, append([]gin.HandlerFunc{d.csrf}, h...)...) }
	g.GET("/", d.overview)
	g.GET("/overview/counts", d.overviewCounts)
	g.GET("/events/*id", d.timeline)
	g.GET("/approvals", d.approvals)
	post("/approvals/:id/:decision", d.require(RoleApprover), d.decide)
	g.GET("/breakers", d.breakers)
	post("/breakers/:id/reset", d.require(RoleOperator), d.resetBreaker)
	post("/pause", d.require(RoleOperator), d.pause)
	post("/resume", d.require(RoleOperator), d.resume)
	g.GET("/playbooks", d.playbooksPage)
	post("/playbooks/test", d.require(RoleViewer), d.testPlaybooks)
	g.GET("/audit", d.auditPage)
	g.GET("/audit/export", d.auditExport)
	g.GET("/audit/verify", d.auditVerify)
	post("/logout", d.logout)
	return d, nil
}

// Run keeps the overview's last-hour counters current and prunes expired
// sessions (every minute; see maxSessions) until ctx ends. For the counters, it
// counts the last hour at once, so the first render after the server
// starts is not the one that reads the hour (it shows "counting…" and
// polls until the count is done), then catches up every few seconds and
// whenever a render's own catch-up overran its budget. The server calls it
// when it starts; without it, a render that finds its ask for a catch-up
// unanswered counts the hour itself.
func (d *Dashboard) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.runPrune(ctx)
	}()
	d.hour.run(ctx)
	<-done
}

// secureHeaders forbids framing and any script or style not served here.
func (d *Dashboard) secureHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.Next()
}

var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"tsp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"eventURL":  eventURL,
	"expiresIn": expiresIn,
	"target": func(t string) string {
		if t == "" {
			return "(no target)"
		}
		return t
	},
	"pathEsc": url.PathEscape,
	"jsonc": func(v any) string {
		if v == nil {
			return ""
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	},
	"jsonp": func(v any) string {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	},
	"sortedKeys": func(m map[string]any) []string {
		ks := make([]string, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	},
	"deref": func(p *int) int {
		if p == nil {
			return -1
		}
		return *p
	},
	"list": func(xs ...string) []string { return xs },
}

// expiresIn is an approval's countdown at now, to the second: "expires in
// 29m55s", or "expired 5s ago" while the sweeper has not yet expired it.
func expiresIn(now, at time.Time) string {
	d := at.Sub(now).Round(time.Second)
	if d <= 0 {
		return "expired " + (-d).String() + " ago"
	}
	return "expires in " + d.String()
}

// eventURL is the dashboard link of an event id: each path segment escaped,
// the slashes kept (the /events route takes the rest of the path).
func eventURL(id string) string {
	segs := strings.Split(id, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/events/" + strings.Join(segs, "/")
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func (d *Dashboard) parse() error {
	d.pages = map[string]*template.Template{}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("dashboard: template %s: %w", n, err)
		}
		d.pages[base] = t
	}
	return nil
}

// page is what every template gets.
type page struct {
	Title string
	Nav   string
	Me    Identity
	CSRF  string
	Now   time.Time
	// Flash is a message shown above the content (a decision's result).
	Flash string
	Error string
	Data  any
}

func (d *Dashboard) render(c *gin.Context, code int, name, title string, data any) {
	p := page{Title: title, Nav: name, Now: d.deps.Now(), Data: data, Flash: c.Query("flash")}
	if s := sessionOf(c); s != nil {
		p.Me, p.CSRF = s.id, s.csrf
	}
	if e, ok := c.Get("dashboard.error"); ok {
		p.Error, _ = e.(string)
	}
	t := d.pages[name]
	if name == "counts" {
		t = d.pages["overview"]
	}
	var buf bytes.Buffer
	if t == nil {
		d.log.Error("no such page template", "page", name)
		c.String(http.StatusInternalServerError, "internal error")
		return
	}
	run := t.Execute
	switch name {
	case "badge": // a fragment for htmx, without the layout
		run = func(w io.Writer, v any) error { return t.ExecuteTemplate(w, "content", v) }
	case "counts": // the overview's counters, for htmx
		run = func(w io.Writer, v any) error { return t.ExecuteTemplate(w, "counts", data) }
	}
	if err := run(&buf, p); err != nil {
		d.log.Error("rendering a page failed", "page", name, "error", err)
		c.String(http.StatusInternalServerError, "rendering the page failed")
		return
	}
	c.Data(code, "text/html; charset=utf-8", buf.Bytes())
}

// wantsHTML reports whether the client is a browser (or htmx) rather than
// a script: scripts get JSON errors.
func wantsHTML(c *gin.Context) bool {
	if accept := c.GetHeader("Accept"); strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html") {
		return false
	}
	return c.GetHeader("HX-Request") != "" || strings.Contains(c.GetHeader("Accept"), "text/html") ||
		strings.HasPrefix(c.ContentType(), "application/x-www-form-urlencoded") || strings.HasPrefix(c.ContentType(), "multipart/form-data")
}

// fail answers an error: an error page for browsers, {"error": "..."} for
// everything else.
func (d *Dashboard) fail(c *gin.Context, code int, msg string) {
	if !wantsHTML(c) {
		c.AbortWithStatusJSON(code, gin.H{"error": msg})
		return
	}
	c.Set("dashboard.error", msg)
	d.render(c, code, "error", http.StatusText(code), nil)
	c.Abort()
}

// back redirects after a successful POST (post/redirect/get) with a message.
func back(c *gin.Context, to, flash string) {
	if flash != "" {
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		to += sep + "flash=" + url.QueryEscape(flash)
	}
	c.Redirect(http.StatusSeeOther, to)
}

// redactMap passes arbitrary event data through the record redactor.
func (d *Dashboard) redactMap(m map[string]any) map[string]any {
	if len(m) == 0 {
		return m
	}
	return d.deps.Redact(audit.Record{Data: m}).Data
}

// redactString removes secret-shaped text from s.
func (d *Dashboard) redactString(s string) string {
	return d.deps.Redact(audit.Record{Message: s}).Message
}
