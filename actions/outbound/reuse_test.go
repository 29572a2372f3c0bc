package outbound_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/firebreak/firebreak/actions/outbound"
)

// TestConcurrentRequestsReuseConnections: the engine's workers call one
// receiver concurrently; each burst must reuse the connections of the one
// before instead of dialling anew (net/http keeps only two idle
// connections per host unless told otherwise, and every other one was
// closed after its request, then dialled again for the next).
func TestConcurrentRequestsReuseConnections(t *testing.T) {
	var dialled atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := outbound.NewClient(outbound.Default(), nil)
	const workers, bursts = 16, 10
	for range bursts {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/hook", strings.NewReader(`{"a":1}`))
				if err != nil {
					t.Error(err)
					return
				}
				resp, err := c.Do(req, outbound.Options{Trust: outbound.Literal})
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		close(start)
		wg.Wait()
	}
	// Every burst may need up to one connection per worker; after the
	// first they are there to reuse.
	if n := dialled.Load(); n > 2*workers {
		t.Fatalf("%d bursts of %d concurrent requests dialled %d connections, want at most %d", bursts, workers, n, 2*workers)
	}
}
