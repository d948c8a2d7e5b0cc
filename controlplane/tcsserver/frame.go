package tcsserver

import (
	"fmt"
	"log/slog"

	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// Exception codes a refused frame is answered with.
const (
	codeBadRequest   = "BadRequestException"
	codeInvalidParam = "InvalidParameterException"
	codeServer       = "ServerException"
)

// refusal is why a frame was refused: the exception the agent gets, and a
// short key that names the kind of mistake in logs.
type refusal struct {
	code    string
	message string
	key     string
}

func (r *refusal) Error() string { return r.code + ": " + r.message }

func badRequest(key, format string, args ...any) *refusal {
	return &refusal{code: codeBadRequest, key: key, message: fmt.Sprintf(format, args...)}
}

func invalidParam(key, format string, args ...any) *refusal {
	return &refusal{code: codeInvalidParam, key: key, message: fmt.Sprintf(format, args...)}
}

// exception is the TCS message that answers a refusal.
func (r *refusal) exception() wire.Message {
	switch r.code {
	case codeInvalidParam:
		return &wire.InvalidParameterException{Message: r.message}
	case codeServer:
		return &wire.ServerException{Message: r.message}
	}
	return &wire.BadRequestException{Message: r.message}
}

// handle checks, stores and answers one frame from the agent: the reply is
// an ack or an exception.
func (s *session) handle(frame []byte) wire.Message {
	msg, ref := s.open(frame)
	var reply wire.Message
	if ref == nil {
		reply, ref = s.apply(msg)
	}
	if ref != nil {
		s.srv.refused.Add(1)
		s.logFirst(slog.LevelWarn, "refused:"+ref.key, "refused a TCS frame", logging.KeyReason, ref.Error())
		return ref.exception()
	}
	s.srv.accepted.Add(1)
	s.log.Debug("accepted a TCS publish", logging.KeyMessageType, msg.(wire.Message).ShapeName(), logging.KeyCount, publishSize(msg))
	return reply
}

// publishSize is the number of tasks (or checks) a publish carries, for logs.
func publishSize(msg any) int {
	switch m := msg.(type) {
	case *wire.PublishMetricsRequest:
		return len(m.TaskMetrics)
	case *wire.PublishHealthRequest:
		return len(m.Tasks)
	case *wire.PublishInstanceStatusRequest:
		return len(m.Statuses)
	}
	return 0
}

// open authenticates a frame (see the package comment) and decodes its
// envelope.
func (s *session) open(frame []byte) (any, *refusal) {
	req, env, err := wire.FrameRequest(frame, s.url)
	if err != nil {
		return nil, badRequest("unsigned", "the frame is not a signed TCS frame (a SigV4 header block, an empty line, then the envelope): %v", err)
	}
	if req.Host != s.host {
		return nil, badRequest("host", "the frame is signed for host %q, but this session was opened with %q", req.Host, s.host)
	}
	principal := s.principal
	if s.srv.o.VerifyFrame != nil {
		if principal, err = s.srv.o.VerifyFrame(req, env); err != nil {
			return nil, badRequest("signature", "the frame's signature does not verify: %v", err)
		}
	}
	if principal.AccessKeyID != s.principal.AccessKeyID {
		return nil, badRequest("key", "the frame is signed with access key %s, but this session was opened with %s",
			principal.AccessKeyID, s.principal.AccessKeyID)
	}
	msg, err := wire.Decode(env)
	if err != nil {
		return nil, invalidParam("decode", "the envelope does not decode: %v", err)
	}
	return msg, nil
}

// apply stores a publish and returns its ack.
func (s *session) apply(msg any) (wire.Message, *refusal) {
	switch m := msg.(type) {
	case *wire.PublishMetricsRequest:
		return s.publishMetrics(m)
	case *wire.PublishHealthRequest:
		return s.publishHealth(m)
	case *wire.PublishInstanceStatusRequest:
		return s.publishInstanceStatus(m)
	}
	return nil, badRequest("type", "agents publish PublishMetricsRequest, PublishHealthRequest and PublishInstanceStatusRequest; %s is not accepted",
		msg.(wire.Message).ShapeName())
}

// checkMetadata refuses a publish that names another instance or cluster
// than the session's.
func (s *session) checkMetadata(cluster, instance string) *refusal {
	if instance != s.arn {
		return badRequest("another-instance", "metadata.containerInstance %q is not the container instance this session was opened for (%s)", instance, s.arn)
	}
	if cluster != s.cluster && cluster != s.clusterName && cluster != s.clusterARN {
		return badRequest("another-cluster", "metadata.cluster %q is not the cluster of container instance %s (%s)", cluster, s.arn, s.clusterARN)
	}
	return nil
}

// drop counts left-out data and logs the first occurrence of each kind at
// level.
func (s *session) drop(level slog.Level, n int, key, msg string, args ...any) {
	if n <= 0 {
		return
	}
	s.srv.dropped.Add(uint64(n))
	s.logFirst(level, "dropped:"+key, msg, append(args, logging.KeyCount, n)...)
}
