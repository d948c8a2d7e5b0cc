// Command ecs-init prepares the host for the ECS agent and runs it, as the
// ecs (Amazon Linux) and amazon-ecs (SLES) services do:
//
//	ecs-init pre-start     route_localnet and the NAT and filter rules (idempotent)
//	ecs-init start         run the agent in the foreground; exit with its exit code
//	ecs-init stop          stop the agent (its tasks keep running)
//	ecs-init post-stop     remove the rules pre-start added
//	ecs-init reload-cache  load the agent image from /var/cache/ecs/ecs-agent.tar
//	ecs-init version       print the version
//
// Settings come from /var/lib/ecs/ecs.config, /etc/ecs/ecs.config and the
// environment; see docs/deploy-init.md.
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

	"github.com/coreos/go-iptables/iptables"

	"github.com/open-ecs/ecs-agent/ecsinit"
	"github.com/open-ecs/ecs-agent/ecsinit/dockerengine"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/version"
)

// Exit codes besides the agent's own, which start passes on.
const (
	exitError    = 1 // something a restart may fix (Docker not answering)
	exitUsage    = 2
	exitTerminal = 5 // bad configuration: a restart reads the same files
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecs-init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecs-init [-config FILE] [-instance-config FILE] pre-start|start|stop|post-stop|reload-cache|version")
		fs.PrintDefaults()
	}
	configFile := fs.String("config", ecsinit.DefaultConfigFile, "the user's KEY=VALUE settings")
	instanceFile := fs.String("instance-config", ecsinit.DefaultInstanceConfigFile, "instance-level KEY=VALUE settings, of lower precedence (\"-\" for none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	command := fs.Arg(0)
	if command == "version" {
		fmt.Fprintln(stdout, "ecs-init: "+version.String())
		return 0
	}

	log, closer, err := logging.New(logging.Options{Level: "info", Stderr: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "ecs-init: %v\n", err)
		return exitError
	}
	defer closer.Close()
	cfg, err := ecsinit.Load(ecsinit.LoadOptions{ConfigFile: *configFile, InstanceConfigFile: *instanceFile, Environ: os.Environ()})
	if err != nil {
		log.Error("configuration", logging.KeyError, err)
		return exitTerminal
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	switch command {
	case "pre-start", "post-stop":
		ipt, err := iptables.New()
		if err != nil {
			log.Error("iptables", logging.KeyError, err)
			return exitError
		}
		host := &ecsinit.Host{IPT: ipt, Logger: log}
		if command == "pre-start" {
			err = host.PreStart(ctx, cfg)
		} else {
			err = host.PostStop(ctx)
		}
		if err != nil {
			log.Error(command+" failed", logging.KeyError, err)
			return exitError
		}
		return 0
	case "start", "stop", "reload-cache":
	default:
		fmt.Fprintf(stderr, "ecs-init: unknown command %q\n", command)
		fs.Usage()
		return exitUsage
	}

	l := &ecsinit.Launcher{Config: cfg, Logger: log, Stdout: stdout, Stderr: stderr, Environ: os.Environ()}
	if cfg.Mode == ecsinit.ModeContainer {
		docker, err := dockerengine.New(cfg.DockerHost)
		if err != nil {
			log.Error("docker", logging.KeyError, err)
			return exitError
		}
		defer docker.Close()
		l.Docker = docker
	}
	switch command {
	case "start":
		code, err := l.Start(ctx)
		if err != nil {
			log.Error("start failed", logging.KeyError, err)
			return exitError
		}
		return code
	case "stop":
		err = l.Stop(context.WithoutCancel(ctx)) // a second SIGTERM must not abandon the stop
	default:
		err = l.ReloadCache(ctx)
	}
	if err != nil {
		log.Error(command+" failed", logging.KeyError, err)
		return exitError
	}
	return 0
}
