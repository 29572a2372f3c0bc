package web

// Route is one method and path the router serves, the path in gin's
// syntax (/api/v1/dlq/:id/retry).
type Route struct {
	Method string
	Path   string
}

// Routes lists every route the server serves, in registration order, so a
// test can hold the endpoint reference in docs/api.md to the router.
func (s *Server) Routes() []Route {
	infos := s.router.Routes()
	out := make([]Route, len(infos))
	for i, r := range infos {
		out[i] = Route{Method: r.Method, Path: r.Path}
	}
	return out
}
