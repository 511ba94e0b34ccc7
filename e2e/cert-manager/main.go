// Command cert-manager-controller runs the REAL cert-manager controllers for belen's test bed, from
// cert-manager's own packages (the version in go.mod); upstream's main lives in the controller-binary
// module, which the proxy does not serve.
//
// It does what upstream's cmd/controller/app (Run, buildControllerContextFactory) does, with these
// differences, all for a host process on a loopback-only machine:
//   - only these controllers are linked in (each registers itself with controllerpkg.Register, each
//     issuer kind with issuer.RegisterIssuer): issuers, clusterissuers; the certificates controllers
//     (trigger, key-manager, request-manager, issuing, readiness, revision-manager); the
//     certificaterequests controllers (approver, CA, SelfSigned, ACME) — no Venafi or Vault, no ACME
//     orders/challenges (no solver pod can serve here), no ingress/gateway shims, no CSR controllers;
//   - the flags are upstream's names and defaults for what the chart passes and what a host process
//     needs (no --config file: belen's chart values set none);
//   - no leader election, no metrics TLS, no profiler; --metrics-listen-address and
//     --internal-healthz-listen-address are the caller's (the test bed gives 127.0.0.1 ports).
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/acme"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// options: upstream's flags (cmd/controller/app/options) with their defaults
// (internal/apis/config/controller/v1alpha1/defaults.go), for the settings this main uses.
type options struct {
	kubeconfig, apiServerHost           string
	qps                                 float32
	burst                               int
	namespace, clusterResourceNS        string
	leaderElect                         bool
	leaderElectionNamespace             string
	controllers                         []string
	workers, maxConcurrentChallenges    int
	solverImage                         string
	clusterIssuerAmbient, issuerAmbient bool
	enableOwnerRef                      bool
	copiedAnnotationPrefixes            []string
	dns01Nameservers                    []string
	dns01NameserversOnly                bool
	dns01CheckRetryPeriod               time.Duration
	metricsAddress, healthzAddress      string
	healthzLeaderElectionTimeout        time.Duration
	minBackoff, maxBackoff              time.Duration
	featureGates                        map[string]bool
	logging                             *logsapi.LoggingConfiguration
}

func flags(o *options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("cert-manager-controller", pflag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Paths to a kubeconfig. Only required if out-of-cluster.")
	fs.StringVar(&o.apiServerHost, "master", "", "Optional apiserver host address to connect to.")
	fs.Float32Var(&o.qps, "kube-api-qps", 20, "the maximum queries-per-second to the Kubernetes apiserver")
	fs.IntVar(&o.burst, "kube-api-burst", 50, "the maximum burst of requests to the Kubernetes apiserver")
	fs.StringVar(&o.clusterResourceNS, "cluster-resource-namespace", "kube-system", "Namespace to store resources owned by cluster scoped resources such as ClusterIssuer in.")
	fs.StringVar(&o.namespace, "namespace", "", "If set, limits cert-manager to a single namespace (ClusterIssuers disabled).")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "Leader election: must be false here (one process per cluster).")
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "kube-system", "Namespace used to perform leader election (unused: no leader election).")
	fs.StringSliceVar(&o.controllers, "controllers", []string{"*"}, "Controllers to enable: '*' (all linked in), 'foo', '-foo'.")
	fs.IntVar(&o.workers, "concurrent-workers", 5, "The number of concurrent workers for each controller.")
	fs.IntVar(&o.maxConcurrentChallenges, "max-concurrent-challenges", 60, "The maximum number of challenges processed at once.")
	fs.StringVar(&o.solverImage, "acme-http01-solver-image", "", "The image of ACME HTTP01 solver pods.")
	fs.BoolVar(&o.clusterIssuerAmbient, "cluster-issuer-ambient-credentials", true, "Whether a ClusterIssuer may use ambient credentials.")
	fs.BoolVar(&o.issuerAmbient, "issuer-ambient-credentials", false, "Whether an Issuer may use ambient credentials.")
	fs.BoolVar(&o.enableOwnerRef, "enable-certificate-owner-ref", false, "Whether the Certificate owns its Secret.")
	fs.StringSliceVar(&o.copiedAnnotationPrefixes, "copied-annotation-prefixes",
		[]string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"}, "Annotations copied from Certificate to CertificateRequest and Order.")
	fs.StringSliceVar(&o.dns01Nameservers, "dns01-recursive-nameservers", nil, "DNS01 self-check nameservers.")
	fs.BoolVar(&o.dns01NameserversOnly, "dns01-recursive-nameservers-only", false, "Only use the recursive nameservers for DNS01 checks.")
	fs.DurationVar(&o.dns01CheckRetryPeriod, "dns01-check-retry-period", 10*time.Second, "Wait between propagation checks.")
	fs.StringVar(&o.metricsAddress, "metrics-listen-address", "0.0.0.0:9402", "The host and port the metrics endpoint listens on.")
	fs.StringVar(&o.healthzAddress, "internal-healthz-listen-address", "0.0.0.0:9403", "The host and port the healthz server (/livez) listens on.")
	fs.DurationVar(&o.healthzLeaderElectionTimeout, "internal-healthz-leader-election-timeout", 20*time.Second, "Leader election healthz timeout.")
	fs.DurationVar(&o.minBackoff, "certificate-request-minimum-backoff-duration", time.Hour, "Minimum back-off after a failed certificate request.")
	fs.DurationVar(&o.maxBackoff, "certificate-request-maximum-backoff-duration", 32*time.Hour, "Maximum back-off after a failed certificate request.")
	fs.Var(cliflag.NewMapStringBool(&o.featureGates), "feature-gates", "Feature gates (key=value pairs).")
	logf.AddFlags(o.logging, fs)
	return fs
}

// enabled: upstream's EnabledControllers over the controllers linked into this binary.
func enabled(o *options, known []string) sets.Set[string] {
	on, off := sets.New[string](), sets.New[string]()
	for _, c := range o.controllers {
		switch {
		case c == "*":
			on.Insert(known...)
		case strings.HasPrefix(c, "-"):
			off.Insert(strings.TrimPrefix(c, "-"))
		default:
			on.Insert(c)
		}
	}
	if off.Len() > 0 && on.Len() == 0 {
		on.Insert(known...)
	}
	if o.namespace != "" {
		on.Delete("clusterissuers")
	}
	return on.Difference(off)
}

func main() {
	logf.InitLogs()
	defer logf.FlushLogs()
	o := &options{logging: logsapi.NewLoggingConfiguration()}
	if err := flags(o).Parse(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := setup(o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "controller")
	if err := run(ctx, o); err != nil {
		logf.Log.Error(err, "error executing command")
		logf.FlushLogs()
		os.Exit(1)
	}
}

func setup(o *options) error {
	if o.leaderElect {
		return errors.New("--leader-elect=false is required: the test bed runs one controller per cluster")
	}
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(o.featureGates); err != nil {
		return fmt.Errorf("--feature-gates: %w", err)
	}
	return logf.ValidateAndApply(o.logging)
}

func run(rootCtx context.Context, o *options) error {
	log := logf.FromContext(rootCtx)
	g, rootCtx := errgroup.WithContext(rootCtx)
	ctxFactory, err := contextFactory(rootCtx, o)
	if err != nil {
		return err
	}
	ctx, err := ctxFactory.Build()
	if err != nil {
		return err
	}
	known := make([]string, 0, len(controllerpkg.Known()))
	for name := range controllerpkg.Known() {
		known = append(known, name)
	}
	sort.Strings(known)
	on := enabled(o, known)
	log.Info(fmt.Sprintf("enabled controllers: %s", sets.List(on)))

	lc := net.ListenConfig{}
	metricsLn, err := lc.Listen(rootCtx, "tcp", o.metricsAddress)
	if err != nil {
		return fmt.Errorf("failed to listen on prometheus address %s: %v", o.metricsAddress, err)
	}
	ctx.Metrics.SetupCertificateCollector(ctx.SharedInformerFactory.Certmanager().V1().Certificates().Lister())
	ctx.Metrics.SetupIssuerCollector(ctx.SharedInformerFactory.Certmanager().V1().Issuers().Lister())
	if on.Has("clusterissuers") {
		ctx.Metrics.SetupClusterIssuerCollector(ctx.SharedInformerFactory.Certmanager().V1().ClusterIssuers().Lister())
	}
	metricsServer := ctx.Metrics.NewServer(metricsLn)
	g.Go(func() error {
		<-rootCtx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return metricsServer.Shutdown(shutdownCtx) //nolint:contextcheck
	})
	g.Go(func() error {
		if err := metricsServer.Serve(metricsLn); err != http.ErrServerClosed {
			return err
		}
		return nil
	})
	healthzLn, err := lc.Listen(rootCtx, "tcp", o.healthzAddress)
	if err != nil {
		return fmt.Errorf("failed to listen on healthz address %s: %v", o.healthzAddress, err)
	}
	healthzServer := healthz.NewServer(o.healthzLeaderElectionTimeout)
	g.Go(func() error { return healthzServer.Start(rootCtx, healthzLn) })

	for _, name := range known {
		if !on.Has(name) {
			log.Info("skipping disabled controller", "controller", name)
			continue
		}
		iface, err := controllerpkg.Known()[name](ctxFactory)
		if err != nil {
			return fmt.Errorf("error starting controller %s: %v", name, err)
		}
		g.Go(func() error {
			log.Info("starting controller", "controller", name)
			return iface.Run(o.workers, rootCtx)
		})
	}
	ctx.SharedInformerFactory.Start(rootCtx.Done())
	ctx.KubeSharedInformerFactory.Start(rootCtx.Done())
	ctx.HTTP01ResourceMetadataInformersFactory.Start(rootCtx.Done())
	if err := g.Wait(); err != nil {
		return fmt.Errorf("error starting controller: %v", err)
	}
	log.Info("control loops exited")
	ctx.HTTP01ResourceMetadataInformersFactory.Shutdown()
	ctx.KubeSharedInformerFactory.Shutdown()
	ctx.SharedInformerFactory.Shutdown()
	return nil
}

// contextFactory: upstream's buildControllerContextFactory, with its default solver resources.
func contextFactory(ctx context.Context, o *options) (*controllerpkg.ContextFactory, error) {
	nameservers := o.dns01Nameservers
	if len(nameservers) == 0 {
		nameservers = dnsutil.RecursiveNameservers
	}
	return controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         o.kubeconfig,
		KubernetesAPIQPS:   o.qps,
		KubernetesAPIBurst: o.burst,
		APIServerHost:      o.apiServerHost,
		Namespace:          o.namespace,
		ACMEOptions: controllerpkg.ACMEOptions{
			HTTP01SolverResourceRequestCPU:    resource.MustParse("10m"),
			HTTP01SolverResourceRequestMemory: resource.MustParse("64Mi"),
			HTTP01SolverResourceLimitsCPU:     resource.MustParse("100m"),
			HTTP01SolverResourceLimitsMemory:  resource.MustParse("64Mi"),
			ACMEHTTP01SolverRunAsNonRoot:      true,
			HTTP01SolverImage:                 o.solverImage,
			DNS01Nameservers:                  nameservers,
			DNS01CheckRetryPeriod:             o.dns01CheckRetryPeriod,
			DNS01CheckAuthoritative:           !o.dns01NameserversOnly,
		},
		SchedulerOptions: controllerpkg.SchedulerOptions{MaxConcurrentChallenges: o.maxConcurrentChallenges},
		IssuerOptions: controllerpkg.IssuerOptions{
			ClusterIssuerAmbientCredentials: o.clusterIssuerAmbient,
			IssuerAmbientCredentials:        o.issuerAmbient,
			ClusterResourceNamespace:        o.clusterResourceNS,
		},
		IngressShimOptions: controllerpkg.IngressShimOptions{GatewayAPIExtraProtocols: sets.New[string]()},
		CertificateOptions: controllerpkg.CertificateOptions{
			EnableOwnerRef:                           o.enableOwnerRef,
			CopiedAnnotationPrefixes:                 o.copiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: o.minBackoff,
			CertificateRequestMaximumBackoffDuration: o.maxBackoff,
		},
	})
}
