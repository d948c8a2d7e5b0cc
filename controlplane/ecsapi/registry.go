package ecsapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// Errors of CheckInstance.
var (
	ErrClusterNotFound  = errors.New("cluster not found")
	ErrInstanceNotFound = errors.New("container instance not found")
	ErrInstanceInactive = errors.New("container instance is inactive")
)

// CheckInstance tells whether principal may open a websocket session
// (action: authz.ActionPoll for ACS, authz.ActionStartTelemetrySession for
// TCS) for the instance: the cluster (name or ARN) must be ACTIVE, the
// instance registered in it and not INACTIVE, and principal allowed to act
// on it (an agent key only on the instances it registered). A refusal is an
// error matching authz.ErrAccessDenied.
func (a *API) CheckInstance(_ context.Context, principal authz.Principal, action, cluster, containerInstanceARN string) error {
	return a.o.Store.View(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, cluster)
		var apiErr *Error
		if errors.As(err, &apiErr) {
			return ErrClusterNotFound
		}
		if err != nil {
			return err
		}
		ci, found, err := a.lookupInstance(tx, c.Name, containerInstanceARN)
		if err != nil {
			return err
		}
		if !found {
			return ErrInstanceNotFound
		}
		if err := principal.Authorize(action, &authz.Instance{ARN: ci.ARN, Owner: ci.Owner}); err != nil {
			return err
		}
		if ci.Status == store.StatusInactive {
			return ErrInstanceInactive
		}
		return nil
	})
}

// SetAgentConnected records whether an agent session exists for the
// instance, bumping its version when that changes.
func (a *API) SetAgentConnected(_ context.Context, containerInstanceARN string, connected bool) error {
	ref, ok := a.parseInstanceRef(containerInstanceARN)
	if !ok || !ref.isARN {
		return fmt.Errorf("%w: %s", ErrInstanceNotFound, containerInstanceARN)
	}
	return a.o.Store.Update(func(tx store.Tx) error {
		ci, err := tx.Instance(ref.cluster, ref.id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrInstanceNotFound, containerInstanceARN)
		}
		if err != nil {
			return internal("read container instance", err)
		}
		// An INACTIVE instance never shows as connected.
		connected = connected && ci.Status != store.StatusInactive
		if ci.AgentConnected == connected {
			return nil
		}
		ci.AgentConnected = connected
		ci.Version++
		ci.UpdatedAt = a.now()
		return tx.PutInstance(ci)
	})
}

// MarkAllDisconnected clears agentConnected everywhere. Called at start-up:
// no session survives a restart of the control plane.
func (a *API) MarkAllDisconnected() error {
	return a.o.Store.Update(func(tx store.Tx) error {
		instances, err := tx.Instances("")
		if err != nil {
			return internal("list container instances", err)
		}
		for _, ci := range instances {
			if !ci.AgentConnected {
				continue
			}
			ci.AgentConnected = false
			ci.Version++
			ci.UpdatedAt = a.now()
			if err := tx.PutInstance(ci); err != nil {
				return internal("write container instance", err)
			}
		}
		return nil
	})
}

// maxVersionField bounds each versionInfo member taken from a handshake.
const maxVersionField = 256

// RecordAgentVersion keeps the versionInfo the agent announced in its ACS
// handshake's query (agentVersion, agentHash, dockerVersion). Amazon's agent
// sends versionInfo only there, never in RegisterContainerInstance, so this
// is how DescribeContainerInstances shows it. Each member the handshake
// carries replaces the stored one: the agent connecting now is the one
// running (after an upgrade too); members it leaves out are kept. The
// instance's version grows only when something changed.
func (a *API) RecordAgentVersion(_ context.Context, containerInstanceARN string, v store.VersionInfo) error {
	for name, val := range map[string]string{"agentVersion": v.AgentVersion, "agentHash": v.AgentHash, "dockerVersion": v.DockerVersion} {
		if len(val) > maxVersionField {
			return fmt.Errorf("versionInfo.%s has %d characters; at most %d are kept", name, len(val), maxVersionField)
		}
	}
	ref, ok := a.parseInstanceRef(containerInstanceARN)
	if !ok || !ref.isARN {
		return fmt.Errorf("%w: %s", ErrInstanceNotFound, containerInstanceARN)
	}
	return a.o.Store.Update(func(tx store.Tx) error {
		ci, err := tx.Instance(ref.cluster, ref.id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrInstanceNotFound, containerInstanceARN)
		}
		if err != nil {
			return internal("read container instance", err)
		}
		merged := ci.VersionInfo
		for _, m := range []struct {
			dst *string
			src string
		}{
			{&merged.AgentVersion, v.AgentVersion}, {&merged.AgentHash, v.AgentHash}, {&merged.DockerVersion, v.DockerVersion},
		} {
			if m.src != "" {
				*m.dst = m.src
			}
		}
		if merged == ci.VersionInfo {
			return nil
		}
		ci.VersionInfo = merged
		ci.Version++
		ci.UpdatedAt = a.now()
		return tx.PutInstance(ci)
	})
}
