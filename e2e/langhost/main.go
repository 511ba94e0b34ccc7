// Command pulumi-language-python is the test bed's STAND-IN for Pulumi's Python language host.
//
// The real host's Go module (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is
// not served by the module proxy at any version tried, so the drill cannot build it. This stand-in
// does only what `pulumi up/preview/destroy` of an existing project needs: it resolves the project's
// virtualenv with the SDK's own toolchain package and runs the SDK's own executor script
// (pulumi-language-python-exec, from the sdk/v3 module, installed next to this binary) with the
// arguments and PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS environment the real host passes. It
// installs nothing (the venv is prepared by the harness) and reports no required packages: the
// engine uses the plugins on PATH. Everything after the program starts (the Python SDK, the engine,
// the providers) is real.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	pbempty "google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/grpc"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// Exit code the executor uses after it printed an actionable error itself.
const bailExitCode = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	exec   string // path of pulumi-language-python-exec
	engine string // engine address, from the command line or Handshake
}

func main() {
	flag.String("tracing", "", "ignored (accepted for the engine's command line)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("stand-in")
		return
	}
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	h := &host{exec: filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")}
	if _, err := os.Stat(h.exec); err != nil {
		fail(fmt.Errorf("missing executor next to the language host: %w", err))
	}
	if flag.NArg() > 0 {
		h.engine = flag.Arg(0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if h.engine != "" {
		// Exit when the engine goes away, as every Pulumi plugin does.
		if err := rpcutil.Healthcheck(ctx, h.engine, 5*time.Minute, cancel); err != nil {
			fail(err)
		}
	}
	stop := make(chan bool)
	go func() { <-ctx.Done(); close(stop) }()
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{ // listens on 127.0.0.1 only
		Cancel: stop,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fail(err)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python (stand-in): %v\n", err)
	os.Exit(1)
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engine = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: "0.0.0-stand-in"}, nil
}

// GetRequiredPackages reports none: plugin acquisition is off and the engine takes them from PATH.
func (h *host) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetProgramDependencies(context.Context, *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *host) About(context.Context, *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	return &pulumirpc.AboutResponse{Executable: h.exec, Version: "stand-in"}, nil
}

// InstallDependencies installs nothing: the harness prepares the project's venv beforehand.
func (h *host) InstallDependencies(*pulumirpc.InstallDependenciesRequest, grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]) error {
	return nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	venv, _ := info.GetOptions().AsMap()["virtualenv"].(string)
	tc, err := toolchain.ResolveToolchain(toolchain.PythonOptions{
		Root: info.GetRootDirectory(), ProgramDir: info.GetProgramDirectory(),
		Virtualenv: venv, Toolchain: toolchain.Pip,
	})
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, append([]string{h.exec}, h.arguments(req)...)...)
	if err != nil {
		return nil, err
	}
	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secrets, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secrets))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() == bailExitCode:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exitErr):
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", exitErr.ExitCode())}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run the Python executor: %v", err)}, nil
	}
}

// arguments: the executor's command line, as the real host builds it.
func (h *host) arguments(req *pulumirpc.RunRequest) []string {
	var args []string
	add := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engine)
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("organization", req.GetOrganization())
	args = append(args, req.GetInfo().GetEntryPoint())
	return append(args, req.GetArgs()...)
}
