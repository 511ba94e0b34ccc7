// Command external-secrets runs the REAL External Secrets Operator controller manager for belen's
// test bed, from external-secrets' own packages (the version in go.mod).
//
// It wires the manager and reconcilers exactly as upstream's cmd/controller/root.go does
// (SecretStore, ClusterSecretStore, GeneratorState, ExternalSecret, PushSecret,
// ClusterExternalSecret, ClusterPushSecret; same flags and defaults) with these differences, all for
// a host process on a loopback-only machine:
//   - only the fake and kubernetes providers (and the generators that need no cloud SDK) are
//     registered: build_eso swaps register/ in for upstream's register packages;
//   - no webhook server and no cert-controller subcommand (the drill's API servers run without
//     admission webhooks);
//   - --metrics-addr and --live-addr (a flag of later releases, whose charts pass it) default to
//     127.0.0.1; /healthz answers once the manager runs, /readyz once the informers of the
//     reconciled kinds have synced (so a caller knows the CRDs are served and the RBAC lets it list).
package main

import (
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	v1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/server"

	esv1 "github.com/external-secrets/external-secrets/apis/externalsecrets/v1"
	esv1alpha1 "github.com/external-secrets/external-secrets/apis/externalsecrets/v1alpha1"
	genv1alpha1 "github.com/external-secrets/external-secrets/apis/generators/v1alpha1"
	"github.com/external-secrets/external-secrets/pkg/controllers/clusterexternalsecret"
	"github.com/external-secrets/external-secrets/pkg/controllers/clusterexternalsecret/cesmetrics"
	"github.com/external-secrets/external-secrets/pkg/controllers/clusterpushsecret"
	"github.com/external-secrets/external-secrets/pkg/controllers/clusterpushsecret/cpsmetrics"
	ctrlcommon "github.com/external-secrets/external-secrets/pkg/controllers/common"
	"github.com/external-secrets/external-secrets/pkg/controllers/externalsecret"
	"github.com/external-secrets/external-secrets/pkg/controllers/externalsecret/esmetrics"
	"github.com/external-secrets/external-secrets/pkg/controllers/generatorstate"
	ctrlmetrics "github.com/external-secrets/external-secrets/pkg/controllers/metrics"
	"github.com/external-secrets/external-secrets/pkg/controllers/pushsecret"
	"github.com/external-secrets/external-secrets/pkg/controllers/pushsecret/psmetrics"
	"github.com/external-secrets/external-secrets/pkg/controllers/secretstore"
	"github.com/external-secrets/external-secrets/pkg/controllers/secretstore/cssmetrics"
	"github.com/external-secrets/external-secrets/pkg/controllers/secretstore/ssmetrics"
	"github.com/external-secrets/external-secrets/pkg/feature"
)

const errCreateController = "unable to create controller"

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")

	metricsAddr                           string
	liveAddr                              string
	controllerClass                       string
	enableLeaderElection                  bool
	enableSecretsCache                    bool
	enableConfigMapsCache                 bool
	enableManagedSecretsCache             bool
	concurrent                            int
	clientQPS                             float32
	clientBurst                           int
	loglevel                              string
	zapTimeEncoding                       string
	namespace                             string
	enableClusterStoreReconciler          bool
	enableClusterExternalSecretReconciler bool
	enableClusterPushSecretReconciler     bool
	enablePushSecretReconciler            bool
	enableFloodGate                       bool
	enableExtendedMetricLabels            bool
	storeRequeueInterval                  time.Duration
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	utilruntime.Must(esv1.AddToScheme(scheme))
	utilruntime.Must(esv1alpha1.AddToScheme(scheme))
	utilruntime.Must(genv1alpha1.AddToScheme(scheme))
}

var rootCmd = &cobra.Command{
	Use:   "external-secrets",
	Short: "operator that reconciles ExternalSecrets and SecretStores",
	Run: func(cmd *cobra.Command, args []string) {
		setupLogger()

		ctrlmetrics.SetUpLabelNames(enableExtendedMetricLabels)
		esmetrics.SetUpMetrics()
		config := ctrl.GetConfigOrDie()
		config.QPS = clientQPS
		config.Burst = clientBurst

		clientCacheDisableFor := make([]client.Object, 0)
		if !enableSecretsCache {
			clientCacheDisableFor = append(clientCacheDisableFor, &v1.Secret{})
		}
		if !enableConfigMapsCache {
			clientCacheDisableFor = append(clientCacheDisableFor, &v1.ConfigMap{})
		}
		mgrOpts := ctrl.Options{
			Scheme:                 scheme,
			Metrics:                server.Options{BindAddress: metricsAddr},
			HealthProbeBindAddress: liveAddr,
			Client: client.Options{
				Cache: &client.CacheOptions{DisableFor: clientCacheDisableFor},
			},
			LeaderElection:   enableLeaderElection,
			LeaderElectionID: "external-secrets-controller",
		}
		if namespace != "" {
			mgrOpts.Cache.DefaultNamespaces = map[string]cache.Config{namespace: {}}
		}
		mgr, err := ctrl.NewManager(config, mgrOpts)
		if err != nil {
			setupLog.Error(err, "unable to start manager")
			os.Exit(1)
		}

		secretClient := mgr.GetClient()
		if enableManagedSecretsCache && !enableSecretsCache {
			secretClient, err = ctrlcommon.BuildManagedSecretClient(mgr, namespace)
			if err != nil {
				setupLog.Error(err, "unable to create managed secret client")
				os.Exit(1)
			}
		}

		options := controller.Options{MaxConcurrentReconciles: concurrent, RateLimiter: ctrlcommon.BuildRateLimiter()}
		reconciled := []client.Object{&esv1.SecretStore{}, &esv1.ExternalSecret{}}
		ssmetrics.SetUpMetrics()
		must("SecretStore", (&secretstore.StoreReconciler{
			Client:          mgr.GetClient(),
			Log:             ctrl.Log.WithName("controllers").WithName("SecretStore"),
			Scheme:          mgr.GetScheme(),
			ControllerClass: controllerClass,
			RequeueInterval: storeRequeueInterval,
		}).SetupWithManager(mgr, options))
		if enableClusterStoreReconciler {
			cssmetrics.SetUpMetrics()
			must("ClusterSecretStore", (&secretstore.ClusterStoreReconciler{
				Client:          mgr.GetClient(),
				Log:             ctrl.Log.WithName("controllers").WithName("ClusterSecretStore"),
				Scheme:          mgr.GetScheme(),
				ControllerClass: controllerClass,
				RequeueInterval: storeRequeueInterval,
			}).SetupWithManager(mgr, options))
			reconciled = append(reconciled, &esv1.ClusterSecretStore{})
		}
		must("GeneratorState", (&generatorstate.Reconciler{
			Client:     mgr.GetClient(),
			Log:        ctrl.Log.WithName("controllers").WithName("GeneratorState"),
			Scheme:     mgr.GetScheme(),
			RestConfig: mgr.GetConfig(),
		}).SetupWithManager(mgr, options))
		must("ExternalSecret", (&externalsecret.Reconciler{
			Client:                    mgr.GetClient(),
			SecretClient:              secretClient,
			Log:                       ctrl.Log.WithName("controllers").WithName("ExternalSecret"),
			Scheme:                    mgr.GetScheme(),
			RestConfig:                mgr.GetConfig(),
			ControllerClass:           controllerClass,
			RequeueInterval:           time.Hour,
			ClusterSecretStoreEnabled: enableClusterStoreReconciler,
			EnableFloodGate:           enableFloodGate,
		}).SetupWithManager(mgr, options))
		if enablePushSecretReconciler {
			psmetrics.SetUpMetrics()
			must("PushSecret", (&pushsecret.Reconciler{
				Client:          mgr.GetClient(),
				Log:             ctrl.Log.WithName("controllers").WithName("PushSecret"),
				Scheme:          mgr.GetScheme(),
				ControllerClass: controllerClass,
				RestConfig:      mgr.GetConfig(),
				RequeueInterval: time.Hour,
			}).SetupWithManager(mgr, options))
		}
		if enableClusterExternalSecretReconciler {
			cesmetrics.SetUpMetrics()
			must("ClusterExternalSecret", (&clusterexternalsecret.Reconciler{
				Client:          mgr.GetClient(),
				Log:             ctrl.Log.WithName("controllers").WithName("ClusterExternalSecret"),
				Scheme:          mgr.GetScheme(),
				RequeueInterval: time.Hour,
			}).SetupWithManager(mgr, options))
		}
		if enableClusterPushSecretReconciler {
			cpsmetrics.SetUpMetrics()
			// Upstream gives this one no rate limiter.
			must("ClusterPushSecret", (&clusterpushsecret.Reconciler{
				Client:          mgr.GetClient(),
				Log:             ctrl.Log.WithName("controllers").WithName("ClusterPushSecret"),
				Scheme:          mgr.GetScheme(),
				RequeueInterval: time.Hour,
				Recorder:        mgr.GetEventRecorderFor("external-secrets-controller"),
			}).SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: concurrent}))
		}

		if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
			setupLog.Error(err, "unable to add controller healthz check")
			os.Exit(1)
		}
		if err := mgr.AddReadyzCheck("informers", informersSynced(mgr.GetCache(), reconciled)); err != nil {
			setupLog.Error(err, "unable to add controller readyz check")
			os.Exit(1)
		}

		for _, f := range feature.Features() {
			if f.Initialize != nil {
				f.Initialize()
			}
		}
		setupLog.Info("starting manager")
		if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
			setupLog.Error(err, "problem running manager")
			os.Exit(1)
		}
	},
}

func must(kind string, err error) {
	if err != nil {
		setupLog.Error(err, errCreateController, "controller", kind)
		os.Exit(1)
	}
}

// informersSynced: ready once the manager's cache has an informer for each kind, in sync.
func informersSynced(c cache.Cache, kinds []client.Object) healthz.Checker {
	return func(req *http.Request) error {
		for _, kind := range kinds {
			informer, err := c.GetInformer(req.Context(), kind, cache.BlockUntilSynced(false))
			if err != nil {
				return err
			}
			if !informer.HasSynced() {
				return errors.New("informer not synced")
			}
		}
		return nil
	}
}

// setupLogger is upstream's (cmd/controller/certcontroller.go).
func setupLogger() {
	var lvl zapcore.Level
	var enc zapcore.TimeEncoder
	if err := lvl.UnmarshalText([]byte(loglevel)); err != nil {
		setupLog.Error(err, "error unmarshalling loglevel")
		os.Exit(1)
	}
	if err := enc.UnmarshalText([]byte(zapTimeEncoding)); err != nil {
		setupLog.Error(err, "error unmarshalling timeEncoding")
		os.Exit(1)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zap.Options{Level: lvl, TimeEncoder: enc})))
}

func main() {
	cobra.CheckErr(rootCmd.Execute())
}

func init() {
	f := rootCmd.Flags()
	f.StringVar(&metricsAddr, "metrics-addr", "127.0.0.1:8080", "The address the metric endpoint binds to.")
	f.StringVar(&liveAddr, "live-addr", "127.0.0.1:8082", "The address the live endpoint binds to.")
	f.StringVar(&controllerClass, "controller-class", "default", "The controller is instantiated with a specific controller name and filters ES based on this property")
	f.BoolVar(&enableLeaderElection, "enable-leader-election", false, "Enable leader election for controller manager. "+
		"Enabling this will ensure there is only one active controller manager.")
	f.IntVar(&concurrent, "concurrent", 1, "The number of concurrent reconciles.")
	f.Float32Var(&clientQPS, "client-qps", 50, "QPS configuration to be passed to rest.Client")
	f.IntVar(&clientBurst, "client-burst", 100, "Maximum Burst allowed to be passed to rest.Client")
	f.StringVar(&loglevel, "loglevel", "info", "loglevel to use, one of: debug, info, warn, error, dpanic, panic, fatal")
	f.StringVar(&zapTimeEncoding, "zap-time-encoding", "epoch", "Zap time encoding (one of 'epoch', 'millis', 'nano', 'iso8601', 'rfc3339' or 'rfc3339nano')")
	f.StringVar(&namespace, "namespace", "", "watch external secrets scoped in the provided namespace only. ClusterSecretStore can be used but only work if it doesn't reference resources from other namespaces")
	f.BoolVar(&enableClusterStoreReconciler, "enable-cluster-store-reconciler", true, "Enable cluster store reconciler.")
	f.BoolVar(&enableClusterExternalSecretReconciler, "enable-cluster-external-secret-reconciler", true, "Enable cluster external secret reconciler.")
	f.BoolVar(&enableClusterPushSecretReconciler, "enable-cluster-push-secret-reconciler", true, "Enable cluster push secret reconciler.")
	f.BoolVar(&enablePushSecretReconciler, "enable-push-secret-reconciler", true, "Enable push secret reconciler.")
	f.BoolVar(&enableSecretsCache, "enable-secrets-caching", false, "Enable secrets caching for ALL secrets in the cluster (WARNING: can increase memory usage).")
	f.BoolVar(&enableConfigMapsCache, "enable-configmaps-caching", false, "Enable configmaps caching for ALL configmaps in the cluster (WARNING: can increase memory usage).")
	f.BoolVar(&enableManagedSecretsCache, "enable-managed-secrets-caching", true, "Enable secrets caching for secrets managed by an ExternalSecret")
	f.DurationVar(&storeRequeueInterval, "store-requeue-interval", time.Minute*5, "Default Time duration between reconciling (Cluster)SecretStores")
	f.BoolVar(&enableFloodGate, "enable-flood-gate", true, "Enable flood gate. External secret will be reconciled only if the ClusterStore or Store have an healthy or unknown state.")
	f.BoolVar(&enableExtendedMetricLabels, "enable-extended-metric-labels", false, "Enable recommended kubernetes annotations as labels in metrics.")
	for _, feat := range feature.Features() {
		f.AddFlagSet(feat.Flags)
	}
}
