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
