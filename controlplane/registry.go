package controlplane

import (
	"context"
	"errors"

	"github.com/open-ecs/ecs-agent/controlplane/acsserver"
	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/ecsapi"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// registry adapts the ECS API's view of container instances to what the
// ACS server asks at handshake and connect/disconnect time.
type registry struct{ api *ecsapi.API }

var _ acsserver.Registry = registry{}

// CheckInstance checks an ACS handshake: the ecs:Poll action.
func (r registry) CheckInstance(ctx context.Context, principal authz.Principal, cluster, containerInstanceARN string) error {
	err := r.api.CheckInstance(ctx, principal, authz.ActionPoll, cluster, containerInstanceARN)
	switch {
	case errors.Is(err, ecsapi.ErrClusterNotFound):
		return acsserver.ErrInvalidCluster
	case errors.Is(err, ecsapi.ErrInstanceNotFound):
		return acsserver.ErrInvalidInstance
	case errors.Is(err, ecsapi.ErrInstanceInactive):
		return acsserver.ErrInactiveInstance
	}
	return err
}

// RecordVersionInfo keeps the version the agent announced in its handshake.
func (r registry) RecordVersionInfo(ctx context.Context, containerInstanceARN string, v acsserver.VersionInfo) error {
	return r.api.RecordAgentVersion(ctx, containerInstanceARN,
		store.VersionInfo{AgentVersion: v.AgentVersion, AgentHash: v.AgentHash, DockerVersion: v.DockerVersion})
}

func (r registry) SetAgentConnected(ctx context.Context, containerInstanceARN string, connected bool) error {
	return r.api.SetAgentConnected(ctx, containerInstanceARN, connected)
}
