package kubernetes

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/firebreak/firebreak/actions"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Action ids.
const (
	RestartID = "kubernetes.restart"
	ScaleID   = "kubernetes.scale"
)

// DefaultProtectedNamespaces are protected when Config.ProtectedNamespaces is nil.
var DefaultProtectedNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// inClusterTokenFile is where Kubernetes mounts a pod's service-account token.
const inClusterTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// Config says which cluster the actions drive and what they must not touch.
type Config struct {
	// Kubeconfig is the path of a kubeconfig file. Empty means the usual
	// search: $KUBECONFIG, then ~/.kube/config, then the in-cluster service
	// account.
	Kubeconfig string
	// Context selects a kubeconfig context; empty means the current one.
	Context string
	// InCluster uses the pod's service account and ignores kubeconfig files.
	InCluster bool
	// REST, when set, is used as is instead of loading any configuration
	// (tests and embedding).
	REST *rest.Config
	// ProtectedNamespaces lists namespaces no action may touch. Nil means
	// DefaultProtectedNamespaces; an empty, non-nil slice protects none.
	ProtectedNamespaces []string
	// Now returns the current time, written into the restartedAt annotation.
	// Nil means time.Now.
	Now func() time.Time
}

// Available reports whether cfg points at a cluster: REST set, an explicit
// kubeconfig file, a file named by $KUBECONFIG, ~/.kube/config, or the
// in-cluster service account. When it does, the string says which; when it
// does not, the string says what was looked for, ready to pass to
// actions.Registry.RegisterDryRun. It reads no credentials.
func Available(cfg Config) (bool, string) {
	switch {
	case cfg.REST != nil:
		return true, "explicit REST configuration"
	case cfg.InCluster:
		if inCluster() {
			return true, "in-cluster service account"
		}
		return false, "in-cluster configuration requested but KUBERNETES_SERVICE_HOST or the service-account token is missing"
	case cfg.Kubeconfig != "":
		if fileExists(cfg.Kubeconfig) {
			return true, "kubeconfig " + cfg.Kubeconfig
		}
		return false, fmt.Sprintf("kubeconfig %s does not exist", cfg.Kubeconfig)
	}
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		for _, p := range filepath.SplitList(env) {
			if fileExists(p) {
				return true, "kubeconfig " + p + " (from $KUBECONFIG)"
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)
		if fileExists(p) {
			return true, "kubeconfig " + p
		}
	}
	if inCluster() {
		return true, "in-cluster service account"
	}
	return false, "no kubernetes cluster configured: no $KUBECONFIG, no ~/.kube/config, not running in a cluster"
}

func inCluster() bool {
	return os.Getenv("KUBERNETES_SERVICE_HOST") != "" && os.Getenv("KUBERNETES_SERVICE_PORT") != "" &&
		fileExists(inClusterTokenFile)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Cluster is a connection to one Kubernetes cluster and the actions that
// drive it. It is safe for concurrent use.
type Cluster struct {
	client    Client // nil when offline
	protected []string
	now       func() time.Time
}

// New connects to the cluster cfg describes. It does not contact the API
// server; the first action run does.
func New(cfg Config) (*Cluster, error) {
	rc, err := restConfig(cfg)
	if err != nil {
		return nil, err
	}
	// Only the two API groups the actions call, not client-go's whole
	// clientset: it would link a client for every group (10 MB of the stripped binary).
	apps, err := appsv1client.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	authz, err := authorizationv1client.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	c := Offline(cfg)
	c.client = groupClients{apps, authz}
	return c, nil
}

// Client is the part of the Kubernetes API the actions and CheckAccess
// use. client-go's full clientset (kubernetes.Interface) satisfies it.
type Client interface {
	AppsV1() appsv1client.AppsV1Interface
	AuthorizationV1() authorizationv1client.AuthorizationV1Interface
}

// groupClients is a Client made of just the two typed group clients.
type groupClients struct {
	apps  *appsv1client.AppsV1Client
	authz *authorizationv1client.AuthorizationV1Client
}

func (g groupClients) AppsV1() appsv1client.AppsV1Interface { return g.apps }

func (g groupClients) AuthorizationV1() authorizationv1client.AuthorizationV1Interface {
	return g.authz
}

// Offline returns a Cluster with no connection, for a process that has no
// cluster configured: its actions describe themselves, validate parameters
// and answer dry runs with the change they would request, and refuse to run
// for real with ErrNoCluster. Register them with Registry.RegisterDryRun.
func Offline(cfg Config) *Cluster {
	protected := DefaultProtectedNamespaces
	if cfg.ProtectedNamespaces != nil {
		protected = cfg.ProtectedNamespaces
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Cluster{protected: slices.Clone(protected), now: now}
}

// Client returns the client the actions use, or nil when offline. Pass it
// to CheckAccess at start-up.
func (c *Cluster) Client() Client { return c.client }

// Restart returns the kubernetes.restart action.
func (c *Cluster) Restart() *Restart { return &Restart{c: c} }

// Scale returns the kubernetes.scale action.
func (c *Cluster) Scale() *Scale { return &Scale{c: c} }

// Actions returns every Kubernetes action, in id order.
func (c *Cluster) Actions() []actions.Action {
	return []actions.Action{c.Restart(), c.Scale()}
}

// protectedNamespace reports whether ns may not be touched.
func (c *Cluster) protectedNamespace(ns string) bool {
	return slices.Contains(c.protected, ns)
}

func restConfig(cfg Config) (*rest.Config, error) {
	var rc *rest.Config
	switch {
	case cfg.REST != nil:
		rc = rest.CopyConfig(cfg.REST)
	case cfg.InCluster:
		var err error
		if rc, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("in-cluster kubernetes configuration: %w", err)
		}
	default:
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if cfg.Kubeconfig != "" {
			rules.ExplicitPath = cfg.Kubeconfig
		}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}
		var err error
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
		if err != nil {
			// clientcmd errors name files and contexts, never credentials.
			return nil, fmt.Errorf("load kubeconfig: %w", err)
		}
	}
	if rc.UserAgent == "" {
		rc.UserAgent = "firebreak"
	}
	return rc, nil
}
