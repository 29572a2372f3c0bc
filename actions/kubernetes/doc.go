// Package kubernetes implements the Kubernetes actions: kubernetes.restart
// (the change `kubectl rollout restart` makes) and kubernetes.scale (through
// the scale subresource, bounded by min and max). It also renders the minimal
// ClusterRole those actions need and checks, with SelfSubjectAccessReviews,
// that the configured identity holds it.
//
// Every run does its pre-flight checks (the object exists, its namespace is
// not protected, no rollout is in progress, bounds hold) before it writes, and
// every write carries the resourceVersion it observed, so a check can never go
// stale between the read and the write. A dry run sends the same request with
// the API server's server-side dry run, so it reports the change the server
// would really make and persists nothing.
//
// The package must not register itself anywhere: the caller builds a Cluster
// with New (or Offline, when no cluster is configured) and registers its
// actions explicitly. It must not log or return credentials from a kubeconfig.
package kubernetes
