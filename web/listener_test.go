package web_test

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/firebreak/firebreak/web"
)

// limitedServer serves a 200 on a real listener on 127.0.0.1 behind
// LimitConnections.
func limitedServer(t *testing.T, cfg web.HTTPConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
	}
	limited := web.LimitConnections(srv, ln, cfg)
	go func() { _ = srv.Serve(limited) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// dialFrom opens a TCP connection from the loopback address ip.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends one keep-alive request on c and reports whether a 200
// came back; a connection the server closed gives an error.
func roundTrip(c net.Conn, br *bufio.Reader) error {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: firebreak\r\n\r\n")); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// TestPerAddressConnectionCap: with a cap of 50 per address, 60
// connections from 127.0.0.1 get 50 answers and 10 closed connections,
// while another address is served.
func TestPerAddressConnectionCap(t *testing.T) {
	addr := limitedServer(t, web.HTTPConfig{MaxConnectionsPerIP: 50})
	conns := make([]net.Conn, 60)
	for i := range conns {
		conns[i] = dialFrom(t, "127.0.0.1", addr)
	}
	served, closed := 0, 0
	for _, c := range conns {
		if err := roundTrip(c, bufio.NewReader(c)); err != nil {
			closed++
		} else {
			served++
		}
	}
	if served != 50 || closed != 10 {
		t.Fatalf("60 connections from one address: %d served, %d closed; want 50 and 10", served, closed)
	}
	other := dialFrom(t, "127.0.0.2", addr)
	if err := roundTrip(other, bufio.NewReader(other)); err != nil {
		t.Fatalf("another address is refused: %v", err)
	}
}

// TestIdleConnectionsAreClosedUnderPressure: 40 clients that each make a
// request and keep the connection open would hold 40 idle connections for
// the idle timeout. With max_connections 20, every request is served, and
// the idle ones are closed once more than three quarters of the cap are
// open, so at most 20 remain.
func TestIdleConnectionsAreClosedUnderPressure(t *testing.T) {
	addr := limitedServer(t, web.HTTPConfig{MaxConnections: 20, MaxConnectionsPerIP: 100})
	type kept struct {
		c  net.Conn
		br *bufio.Reader
	}
	var conns []kept
	for i := 0; i < 40; i++ {
		c := dialFrom(t, "127.0.0.1", addr)
		br := bufio.NewReader(c)
		if err := roundTrip(c, br); err != nil {
			t.Fatalf("request %d under pressure: %v", i, err)
		}
		conns = append(conns, kept{c, br})
	}
	open := 0
	for _, k := range conns {
		if roundTrip(k.c, k.br) == nil {
			open++
		}
	}
	if open > 20 {
		t.Fatalf("%d of 40 idle connections still open, want at most 20", open)
	}
	if open == 0 {
		t.Fatal("every idle connection was closed; below the threshold they should be kept")
	}
}

// TestTotalConnectionCap: connections over max_connections are closed,
// from any address; closing one frees its slot.
func TestTotalConnectionCap(t *testing.T) {
	addr := limitedServer(t, web.HTTPConfig{MaxConnections: 8, MaxConnectionsPerIP: 8})
	var held []net.Conn
	for i := 0; i < 8; i++ {
		held = append(held, dialFrom(t, "127.0.0."+string(rune('1'+i%4)), addr))
	}
	// Each held connection has sent nothing yet: it is neither idle nor
	// closable, and the next one is over the cap.
	over := dialFrom(t, "127.0.0.9", addr)
	if err := roundTrip(over, bufio.NewReader(over)); err == nil {
		t.Fatal("a connection over max_connections was served")
	}
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialFrom(t, "127.0.0.9", addr)
		if roundTrip(c, bufio.NewReader(c)) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a slot freed by a closed connection is never reused")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
