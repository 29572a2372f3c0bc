// Package kubetest runs a real Kubernetes API server for tests: an etcd
// embedded in the test process and a kube-apiserver child process, both on
// loopback, with static bearer tokens and RBAC (or AlwaysAllow)
// authorization. There is no kubelet and there are no controllers: objects
// change only when a test changes them, status included, through the status
// subresource.
//
// The kube-apiserver binary comes from $FIREBREAK_KUBE_APISERVER or from the
// cache scripts/setup.d/20-kube-apiserver.sh builds. When it is missing,
// tests are skipped with a message, or fail when $CI is "true".
//
// Start one server per test package from TestMain:
//
//	var cluster kubetest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(cluster.Run(m, kubetest.Options{})) }
//
//	func TestX(t *testing.T) { env := cluster.Env(t); … }
//
// It is for tests only: production code must not import it, and it must not
// listen anywhere but loopback.
package kubetest
