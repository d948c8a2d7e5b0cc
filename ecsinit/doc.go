// Package ecsinit is the host side of running the ECS agent, as the
// incumbent's ecs-init does on Amazon Linux and SLES:
//
//   - Host.PreStart turns on route_localnet and adds the iptables rules that
//     send the task metadata and credentials endpoint 169.254.170.2:80 to the
//     agent on 127.0.0.1:51679, drop non-local traffic to 127.0.0.0/8, and
//     drop off-host access to the introspection port; Host.PostStop removes
//     exactly those rules (they carry the comment RuleComment).
//   - Launcher.Start runs the agent in the foreground, as the Docker
//     container ecs-agent (the image loaded from /var/cache/ecs/ecs-agent.tar,
//     or pulled) or as the ecs-agent binary, and returns its exit code;
//     Launcher.Stop stops it within StopTimeout, leaving its tasks running.
//
// Settings come from /var/lib/ecs/ecs.config, /etc/ecs/ecs.config and the
// environment (Load), with the agent's KEY=VALUE syntax. ecs-init passes
// them to the agent in its environment, except the ones only ecs-init reads.
// cmd/ecs-init is the command; ecsinit/dockerengine its Docker adapter.
package ecsinit
