// Command ecs-agent is the container-instance agent: it loads the
// configuration, sets up logging and runs agent.Run until SIGINT or SIGTERM.
//
// Exit codes follow the incumbent: 0 on a clean stop, 1 for errors a restart
// may fix, 5 for terminal errors (ecs-init and the systemd unit do not
// restart on 5).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/open-ecs/ecs-agent/agent"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/version"
)

const (
	exitSuccess  = 0
	exitError    = 1
	exitUsage    = 2
	exitTerminal = 5

	healthcheckTimeout = 25 * time.Second
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecs-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "KEY=VALUE configuration file (default "+config.DefaultConfigFile+
		"; "+config.NoConfigFile+": none, every setting from the environment)")
	checkConfig := fs.Bool("check-config", false, "load and print the effective configuration, then exit")
	healthcheck := fs.Bool("healthcheck", false, "probe the running agent's /v1/metadata and exit 0 when healthy")
	showVersion := fs.Bool("version", false, "print the version and exit")
	insecure := fs.Bool("k", false, "do not verify the ECS backend's TLS certificate (not recommended)")
	if err := fs.Parse(joinBoolValues(args, "k")); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitSuccess
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ecs-agent: unexpected arguments: %v\n", fs.Args())
		return exitUsage
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.String())
		return exitSuccess
	}

	cfg, warnings, err := config.Load(config.LoadOptions{ConfigFile: *configFile})
	if err != nil {
		fmt.Fprintf(stderr, "ecs-agent: configuration: %v\n", err)
		if *checkConfig || *healthcheck {
			return exitError
		}
		return exitTerminal // a restart reads the same configuration
	}
	cfg.AcceptInsecureCert = *insecure

	if *checkConfig {
		for _, w := range warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		cfg.Print(stdout)
		return exitSuccess
	}
	if *healthcheck {
		if err := probe(healthcheckURL(cfg)); err != nil {
			fmt.Fprintf(stderr, "ecs-agent: healthcheck: %v\n", err)
			return exitError
		}
		return exitSuccess
	}

	log, closer, err := logging.New(logging.Options{
		Level:         cfg.LogLevel,
		File:          cfg.LogFile,
		RolloverType:  cfg.LogRolloverType,
		MaxFileSizeMB: cfg.LogMaxFileSizeMB,
		MaxRollCount:  cfg.LogMaxRollCount,
		Format:        cfg.LogOutputFormat,
		Stderr:        stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "ecs-agent: logging: %v\n", err)
		return exitTerminal
	}
	defer closer.Close()
	for _, w := range warnings {
		log.Warn("configuration: "+w.Message, logging.KeyKey, w.Key, logging.KeySource, w.Source)
	}

	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = agent.Run(ctx, cfg, agent.Options{Logger: log})
	switch {
	case err == nil:
		log.Info("stopped")
		return exitSuccess
	case errors.Is(err, agent.ErrTerminal):
		log.Error("terminal error; not restarting", logging.KeyError, err)
		return exitTerminal
	default:
		log.Error("agent failed", logging.KeyError, err)
		return exitError
	}
}

// joinBoolValues rewrites "-name true" (and "--name false") as
// "-name=true": the container command line users copy from the incumbent's
// docs passes "-k true", which the flag package would otherwise read as the
// flag "-k" followed by a stray argument. Only a value strconv.ParseBool
// accepts is joined, so any other stray argument still fails.
func joinBoolValues(args []string, names ...string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		if strings.HasPrefix(a, "-") && len(a)-len(name) <= 2 && slices.Contains(names, name) && i+1 < len(args) {
			if _, err := strconv.ParseBool(args[i+1]); err == nil {
				out = append(out, a+"="+args[i+1])
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// healthcheckURL is the running agent's /v1/metadata: the introspection
// port, on ECS_AGENT_HEALTHCHECK_HOST (default localhost) as the incumbent
// does.
func healthcheckURL(cfg *config.Config) string {
	host, port, err := net.SplitHostPort(cfg.IntrospectionAddr)
	if err != nil {
		host, port = "", "51678"
	}
	if cfg.AgentHealthcheckHost != "" {
		host = cfg.AgentHealthcheckHost
	} else if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/v1/metadata"
}

func probe(url string) error {
	client := &http.Client{Timeout: healthcheckTimeout}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
