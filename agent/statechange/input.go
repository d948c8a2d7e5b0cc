package statechange

import (
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/open-ecs/ecs-agent/engine"
)

// Field limits of SubmitTaskStateChange (reference §4); longer values make
// the backend reject the whole call with InvalidParameterException.
const (
	maxReasonLen = 1024
	maxIDLen     = 255 // runtimeId and imageDigest
)

// taskInput turns one report into the request ECS expects.
func taskInput(cluster string, r engine.TaskReport) *ecs.SubmitTaskStateChangeInput {
	in := &ecs.SubmitTaskStateChangeInput{
		Cluster:            aws.String(cluster),
		Task:               aws.String(r.TaskARN),
		Status:             aws.String(r.Status),
		Reason:             optional(truncate(r.Reason, maxReasonLen)),
		PullStartedAt:      r.PullStartedAt,
		PullStoppedAt:      r.PullStoppedAt,
		ExecutionStoppedAt: r.ExecutionStoppedAt,
	}
	for _, c := range r.Containers {
		in.Containers = append(in.Containers, containerChange(c))
	}
	return in
}

func containerChange(c engine.ContainerReport) ecstypes.ContainerStateChange {
	out := ecstypes.ContainerStateChange{
		ContainerName: aws.String(c.Name),
		RuntimeId:     optional(truncate(c.RuntimeID, maxIDLen)),
		ImageDigest:   optional(truncate(c.ImageDigest, maxIDLen)),
		Status:        aws.String(c.Status),
		Reason:        optional(truncate(c.Reason, maxReasonLen)),
	}
	if c.ExitCode != nil {
		out.ExitCode = aws.Int32(int32(*c.ExitCode))
	}
	for _, b := range c.NetworkBindings {
		nb := ecstypes.NetworkBinding{
			BindIP:             optional(b.BindIP),
			Protocol:           ecstypes.TransportProtocol(b.Protocol),
			ContainerPortRange: optional(b.ContainerPortRange),
			HostPortRange:      optional(b.HostPortRange),
		}
		// A range binding carries its ports in the range fields only.
		if b.ContainerPortRange == "" {
			nb.ContainerPort = aws.Int32(int32(b.ContainerPort))
			nb.HostPort = aws.Int32(int32(b.HostPort))
		}
		out.NetworkBindings = append(out.NetworkBindings, nb)
	}
	return out
}

// optional leaves empty strings out of the request.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
