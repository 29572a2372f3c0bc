package web

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// LimitConnections wraps ln so that srv holds at most cfg.MaxConnections
// connections, and at most cfg.MaxConnectionsPerIP from one peer address
// (an IPv6 peer counts per /64; trusted proxies count only toward the
// total). A connection over a cap is closed as soon as it is accepted. It
// also sets srv.ConnState: while more than three quarters of the total are
// open, idle keep-alive connections are closed at once instead of after
// srv.IdleTimeout. Call it before srv.Serve.
func LimitConnections(srv *http.Server, ln net.Listener, cfg HTTPConfig) net.Listener {
	l := &limitListener{
		Listener: ln,
		max:      cfg.MaxConnections,
		perIP:    cfg.MaxConnectionsPerIP,
		trusted:  cfg.trusted(),
		byAddr:   map[netip.Prefix]int{},
		idle:     map[net.Conn]struct{}{},
	}
	if l.max <= 0 {
		l.max = DefaultMaxConnections
	}
	if l.perIP <= 0 {
		l.perIP = DefaultMaxConnectionsPerIP
	}
	l.pressure = l.max * 3 / 4
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		l.connState(c, s)
		if next != nil {
			next(c, s)
		}
	}
	return l
}

type limitListener struct {
	net.Listener
	max, perIP, pressure int
	trusted              []netip.Prefix

	mu     sync.Mutex
	open   int
	byAddr map[netip.Prefix]int
	idle   map[net.Conn]struct{}
}

// Accept returns the next connection within the caps, closing the ones
// over them.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, counted := l.key(c.RemoteAddr())
		l.mu.Lock()
		if l.open >= l.max || (counted && l.byAddr[key] >= l.perIP) {
			l.mu.Unlock()
			_ = c.Close()
			continue
		}
		l.open++
		if counted {
			l.byAddr[key]++
		}
		var victims []net.Conn
		if l.open > l.pressure {
			for ic := range l.idle {
				victims = append(victims, ic)
			}
			clear(l.idle)
		}
		l.mu.Unlock()
		for _, v := range victims {
			_ = v.Close()
		}
		return &limitedConn{Conn: c, l: l, key: key, counted: counted}, nil
	}
}

// key is the per-address bucket of a peer and whether it counts toward
// the per-address cap (a trusted proxy does not).
func (l *limitListener) key(a net.Addr) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}, true // not an IP peer: one shared bucket
	}
	ip := ap.Addr().Unmap()
	for _, p := range l.trusted {
		if p.Contains(ip) {
			return netip.Prefix{}, false
		}
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p, true
}

func (l *limitListener) connState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	switch s {
	case http.StateIdle:
		if l.open > l.pressure {
			l.mu.Unlock()
			_ = c.Close()
			return
		}
		l.idle[c] = struct{}{}
	default:
		delete(l.idle, c)
	}
	l.mu.Unlock()
}

func (l *limitListener) release(lc *limitedConn) {
	l.mu.Lock()
	l.open--
	if lc.counted {
		if l.byAddr[lc.key]--; l.byAddr[lc.key] <= 0 {
			delete(l.byAddr, lc.key)
		}
	}
	delete(l.idle, lc)
	l.mu.Unlock()
}

// limitedConn gives its slot back when closed, once.
type limitedConn struct {
	net.Conn
	l       *limitListener
	key     netip.Prefix
	counted bool
	once    sync.Once
}

// Close closes the connection and frees its slot.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}
