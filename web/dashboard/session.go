package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/firebreak/firebreak/engine/state"
)

// Cookie and form names.
const (
	sessionCookie = "firebreak_session"
	loginCookie   = "firebreak_login"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
	// sessionBucket is the state bucket of the signed-in sessions: the hex
	// SHA-256 of the cookie value → sessionRecord (JSON). It lives in the
	// state store (the bbolt file, or etcd in clustered mode), so a
	// session survives a restart and works on every replica.
	sessionBucket = "dashboard_sessions"
	// maxSessions bounds the session table: a prune removes the expired
	// sessions, then those that expire first beyond this many.
	maxSessions = 10000
	// pruneEvery is how often Run prunes the table.
	pruneEvery = time.Minute
	// pruneChunk is how many sessions one prune transaction deletes.
	pruneChunk = 100
)

// session is one signed-in browser.
type session struct {
	id      Identity
	csrf    string
	expires time.Time
}

// sessionRecord is a session as stored. The key is the SHA-256 of the
// cookie value, so the store never holds a usable cookie; the identity is
// the token's name, roles and the Authenticator's credential fingerprint
// (never the token).
type sessionRecord struct {
	Name       string    `json:"name"`
	Roles      []Role    `json:"roles"`
	Credential string    `json:"credential,omitempty"`
	CSRF       string    `json:"csrf"`
	Expires    time.Time `json:"expires"`
}

// sessions is the session table over the state store.
type sessions struct {
	st  StateStore
	ttl time.Duration
	now func() time.Time
	max int // maxSessions
}

func newSessions(st StateStore, ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{st: st, ttl: ttl, now: now, max: maxSessions}
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionKey is the store key of a cookie value.
func sessionKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// create starts a session for id, stores it, and returns the cookie value.
func (s *sessions) create(ctx context.Context, id Identity) (string, *session, error) {
	cookie := randomToken()
	sess := &session{id: id, csrf: randomToken(), expires: s.now().Add(s.ttl)}
	b, err := json.Marshal(sessionRecord{Name: id.Name, Roles: id.Roles, Credential: id.Credential, CSRF: sess.csrf, Expires: sess.expires})
	if err != nil {
		return "", nil, fmt.Errorf("encode session: %w", err)
	}
	key := sessionKey(cookie)
	if err := s.st.Update(ctx, func(tx state.Tx) error { return tx.Put(sessionBucket, key, b) }); err != nil {
		return "", nil, fmt.Errorf("store session: %w", err)
	}
	return cookie, sess, nil
}

// get returns the live session of a cookie value, or nil. An expired
// session found is deleted.
func (s *sessions) get(ctx context.Context, cookie string) (*session, error) {
	if cookie == "" {
		return nil, nil
	}
	key := sessionKey(cookie)
	var raw []byte
	if err := s.st.View(ctx, func(tx state.Tx) error {
		raw = tx.Get(sessionBucket, key)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	var rec sessionRecord
	if err := json.Unmarshal(raw, &rec); err != nil || !s.now().Before(rec.Expires) {
		// Expired (or unreadable): prune it now.
		return nil, s.drop(ctx, cookie)
	}
	return &session{id: Identity{Name: rec.Name, Roles: rec.Roles, Credential: rec.Credential}, csrf: rec.CSRF, expires: rec.Expires}, nil
}

// drop deletes the session of a cookie value, on every replica.
func (s *sessions) drop(ctx context.Context, cookie string) error {
	key := sessionKey(cookie)
	if err := s.st.Update(ctx, func(tx state.Tx) error { return tx.Delete(sessionBucket, key) }); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// prune deletes the expired sessions, then, beyond s.max, those that
// expire first; it returns how many it deleted. It reads the table in a
// View and deletes by key, so that replicas pruning at once, or signing
// in meanwhile, do not make each other's transactions run again.
func (s *sessions) prune(ctx context.Context) (int, error) {
	type live struct {
		key     string
		expires time.Time
	}
	var gone []string
	var alive []live
	now := s.now()
	if err := s.st.View(ctx, func(tx state.Tx) error {
		gone, alive = gone[:0], alive[:0]
		return tx.ForEach(sessionBucket, func(k string, v []byte) error {
			var rec sessionRecord
			if json.Unmarshal(v, &rec) != nil || !now.Before(rec.Expires) {
				gone = append(gone, k)
			} else {
				alive = append(alive, live{k, rec.Expires})
			}
			return nil
		})
	}); err != nil {
		return 0, fmt.Errorf("read sessions: %w", err)
	}
	if over := len(alive) - s.max; over > 0 {
		slices.SortFunc(alive, func(a, b live) int { return a.expires.Compare(b.expires) })
		for _, l := range alive[:over] {
			gone = append(gone, l.key)
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	// In chunks: etcd bounds one transaction to 128 operations.
	deleted := 0
	for len(gone) > 0 {
		chunk := gone[:min(len(gone), pruneChunk)]
		gone = gone[len(chunk):]
		if err := s.st.Update(ctx, func(tx state.Tx) error {
			for _, k := range chunk {
				if err := tx.Delete(sessionBucket, k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return deleted, fmt.Errorf("prune sessions: %w", err)
		}
		deleted += len(chunk)
	}
	return deleted, nil
}

// runPrune prunes the table every pruneEvery until ctx ends.
func (d *Dashboard) runPrune(ctx context.Context) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		if n, err := d.sessions.prune(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("pruning the dashboard sessions failed", "error", err)
		} else if n > 0 {
			d.log.Debug("pruned dashboard sessions", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// equalToken compares two tokens in constant time (over digests, so the
// length does not leak either).
func equalToken(a, b string) bool {
	x, y := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return a != "" && b != "" && subtle.ConstantTimeCompare(x[:], y[:]) == 1
}

// setCookie writes an HttpOnly, SameSite=Strict cookie, Secure on TLS or
// when configured.
func (d *Dashboard) setCookie(c *gin.Context, name, value string, maxAge time.Duration) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: d.deps.SecureCookies || c.Request.TLS != nil,
	})
}

func (d *Dashboard) clearCookie(c *gin.Context, name string) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: d.deps.SecureCookies || c.Request.TLS != nil,
	})
}

// ctxSession is the gin context key of the request's session.
const ctxSession = "dashboard.session"

// authn finds the request's session, or starts one for an anonymous
// request the Authenticator allows. A session found is checked against
// the tokens configured now (Authenticator.Current): it takes a changed
// role at once, and ends when its token was removed or replaced. Without
// a session, pages redirect to /login and other requests get 401.
func (d *Dashboard) authn(c *gin.Context) {
	ctx := c.Request.Context()
	cookie, _ := c.Cookie(sessionCookie)
	sess, err := d.sessions.get(ctx, cookie)
	if err == nil && sess != nil {
		id, ok := d.deps.Auth.Current(c.Request, sess.id)
		if ok {
			sess.id = id
		} else {
			sess, err = nil, d.sessions.drop(ctx, cookie)
			d.clearCookie(c, sessionCookie)
		}
	}
	if err == nil && sess == nil {
		if id, ok := d.deps.Auth.Anonymous(c.Request); ok {
			var v string
			v, sess, err = d.sessions.create(ctx, id)
			if err == nil {
				d.setCookie(c, sessionCookie, v, d.sessions.ttl)
			}
		}
	}
	if err != nil {
		d.log.Error("the session store failed", "error", err)
		d.fail(c, http.StatusServiceUnavailable, "the session store is unavailable; try again shortly")
		return
	}
	if sess == nil {
		if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
			c.Redirect(http.StatusSeeOther, "/login?next="+urlQueryEscape(c.Request.URL.RequestURI()))
			c.Abort()
			return
		}
		d.fail(c, http.StatusUnauthorized, "sign in first: your session is missing or has expired")
		return
	}
	c.Set(ctxSession, sess)
	c.Next()
}

// csrf refuses a state-changing request whose CSRF token (form field csrf
// or header X-CSRF-Token) is not the session's.
func (d *Dashboard) csrf(c *gin.Context) {
	sess := sessionOf(c)
	given := c.GetHeader(csrfHeader)
	if given == "" {
		given = c.PostForm(csrfField)
	}
	if sess == nil || !equalToken(given, sess.csrf) {
		d.fail(c, http.StatusForbidden, "refused: the request carries no valid CSRF token; reload the page and try again")
		return
	}
	c.Next()
}

// require refuses a request whose identity lacks role.
func (d *Dashboard) require(role Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		sess := sessionOf(c)
		if sess == nil || !sess.id.Has(role) {
			d.fail(c, http.StatusForbidden, "forbidden: this needs the "+string(role)+" role")
			return
		}
		c.Next()
	}
}

func sessionOf(c *gin.Context) *session {
	v, _ := c.Get(ctxSession)
	s, _ := v.(*session)
	return s
}
