package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// Cookie and form names.
const (
	sessionCookie = "firebreak_session"
	loginCookie   = "firebreak_login"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
	// maxSessions bounds the session table; the oldest expired ones go
	// first, then the oldest.
	maxSessions = 10000
)

// session is one signed-in browser. The table is keyed by the SHA-256 of
// the cookie value, so the table never holds a usable cookie.
type session struct {
	id      Identity
	csrf    string
	expires time.Time
}

type sessions struct {
	mu  sync.Mutex
	m   map[[sha256.Size]byte]*session
	ttl time.Duration
	now func() time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[[sha256.Size]byte]*session{}, ttl: ttl, now: now}
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for id and returns the cookie value.
func (s *sessions) create(id Identity) (string, *session) {
	cookie := randomToken()
	sess := &session{id: id, csrf: randomToken(), expires: s.now().Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		s.evictLocked()
	}
	s.m[sha256.Sum256([]byte(cookie))] = sess
	return cookie, sess
}

func (s *sessions) evictLocked() {
	now := s.now()
	var oldestKey [sha256.Size]byte
	var oldest time.Time
	for k, v := range s.m {
		if !now.Before(v.expires) {
			delete(s.m, k)
			continue
		}
		if oldest.IsZero() || v.expires.Before(oldest) {
			oldest, oldestKey = v.expires, k
		}
	}
	if len(s.m) >= maxSessions {
		delete(s.m, oldestKey)
	}
}

// get returns the live session of a cookie value.
func (s *sessions) get(cookie string) *session {
	if cookie == "" {
		return nil
	}
	k := sha256.Sum256([]byte(cookie))
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.m[k]
	if sess == nil {
		return nil
	}
	if !s.now().Before(sess.expires) {
		delete(s.m, k)
		return nil
	}
	return sess
}

func (s *sessions) drop(cookie string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(cookie)))
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
// request the Authenticator allows. Without either, pages redirect to
// /login and other requests get 401.
func (d *Dashboard) authn(c *gin.Context) {
	cookie, _ := c.Cookie(sessionCookie)
	sess := d.sessions.get(cookie)
	if sess == nil {
		if id, ok := d.deps.Auth.Anonymous(c.Request); ok {
			var v string
			v, sess = d.sessions.create(id)
			d.setCookie(c, sessionCookie, v, d.sessions.ttl)
		}
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
