// Command ecs-controlplane runs the local ECS control plane: the ECS API that
// `aws ecs` and the SDKs speak, the ACS and TCS websockets that agents connect
// to, and Prometheus metrics on GET /metrics.
//
//	ecs-controlplane -data-dir /var/lib/ecs-controlplane -credentials ~/.aws/credentials
//
// It accepts requests signed with any access key of the -credentials file
// (each profile's ecs_role = admin, the default, or agent says what the key
// may do), or else with the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY it was
// started with. Beyond loopback it serves only HTTPS (-tls-cert, -tls-key)
// unless -insecure-http is given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/open-ecs/ecs-agent/controlplane"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/version"
)

// exitTerminal tells a supervisor that a restart cannot help, as the
// agent's exit code 5 does (the systemd unit has RestartPreventExitStatus=5).
const exitTerminal = 5

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecs-controlplane", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o           controlplane.Options
		logLevel    string
		showVersion bool
	)
	fs.StringVar(&o.Listen, "listen", controlplane.DefaultListen, "address to serve the ECS API (POST /), ACS (GET /ws), TCS (GET /tcs/ws) "+
		"and, without -metrics-listen, Prometheus metrics (GET /metrics) on")
	fs.StringVar(&o.MetricsListen, "metrics-listen", "", "serve Prometheus metrics (GET /metrics, plain HTTP, unauthenticated) on this address "+
		"instead of on -listen")
	fs.BoolVar(&o.Profiling, "pprof", false, "also serve Go's pprof profiles (GET /debug/pprof/) on -metrics-listen, which it needs")
	fs.StringVar(&o.DataDir, "data-dir", "/var/lib/ecs-controlplane", "directory of the state database (controlplane.db)")
	fs.StringVar(&o.Region, "region", controlplane.DefaultRegion, "region requests must be signed for and ARNs carry")
	fs.StringVar(&o.AccountID, "account-id", controlplane.DefaultAccountID, "12-digit account ID in ARNs")
	fs.StringVar(&o.CredentialsFile, "credentials", "", "AWS shared-credentials file; every profile's key is accepted, "+
		"with the role its ecs_role gives (admin, the default, or agent) "+
		"(default: the process's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, as admin)")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "PEM certificate: serve HTTPS and WSS (needs -tls-key)")
	fs.StringVar(&o.TLSKey, "tls-key", "", "PEM private key for -tls-cert")
	fs.BoolVar(&o.TLSSelfSigned, "tls-self-signed", false, "serve HTTPS and WSS with a certificate from a private CA kept in "+
		"<data-dir>/tls (clients must trust its ca.pem); excludes -tls-cert")
	fs.BoolVar(&o.InsecureHTTP, "insecure-http", false, "allow plain HTTP on an address beyond loopback "+
		"(signatures and task payloads then cross the network in clear)")
	fs.StringVar(&o.AdvertiseURL, "advertise-url", "", "base URL agents reach this control plane at, returned by DiscoverPollEndpoint "+
		"(default: the scheme and Host of each DiscoverPollEndpoint request)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", 0, "ACS and TCS heartbeat interval (0 = 30s)")
	fs.DurationVar(&o.MaxConnectionLifetime, "max-connection-lifetime", 0, "ACS and TCS session lifetime before the server closes it (0 = 30m)")
	fs.DurationVar(&o.ServiceInterval, "service-interval", 0, "how often every service is reconciled besides the events that wake the service scheduler (0 = 5s)")
	fs.StringVar(&o.STSEndpoint, "sts-endpoint", "", "issue task role credentials (taskRoleArn, executionRoleArn) with STS AssumeRole "+
		"at this URL, signed with the control plane's own AWS credentials (the SDK's default chain); excludes -roles")
	fs.StringVar(&o.RolesFile, "roles", "", "issue task role credentials from this JSON file of static keys per role ARN: "+
		`{"arn:aws:iam::<account>:role/<name>": {"accessKeyId": ..., "secretAccessKey": ..., "sessionToken": ...}}; excludes -sts-endpoint`)
	fs.DurationVar(&o.RoleSessionDuration, "role-session-duration", 0, "lifetime of issued role credentials, refreshed at half-life "+
		"(0 = 1h; STS accepts 15m up to the role's maximum)")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ecs-controlplane: unexpected arguments: %v\n", fs.Args())
		return 2
	}
	if showVersion {
		fmt.Fprintln(stdout, version.String())
		return 0
	}

	logger, closer, err := logging.New(logging.Options{Level: logLevel, Stderr: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "ecs-controlplane: %v\n", err)
		return 2
	}
	defer closer.Close()
	o.Logger = logger

	srv, err := controlplane.New(o)
	if errors.Is(err, store.ErrCorrupt) {
		// A restart reads the same file: tell systemd not to retry.
		fmt.Fprintf(stderr, "ecs-controlplane: %v\n", err)
		return exitTerminal
	}
	if err != nil {
		fmt.Fprintf(stderr, "ecs-controlplane: %v\n", err)
		if errors.Is(err, controlplane.ErrInsecureListen) {
			return 2 // flags that cannot work together, like a bad flag
		}
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("starting ecs-controlplane", logging.KeyVersion, version.Version, "gitHash", version.GitHash)
	runErr := srv.Run(ctx)
	if err := srv.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		logger.Error("control plane stopped", logging.KeyError, runErr)
		return 1
	}
	return 0
}
