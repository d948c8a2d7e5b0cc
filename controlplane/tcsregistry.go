package controlplane

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/ecsapi"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/controlplane/tcsserver"
	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
)

// tcsRegistry answers what the TCS server asks: the handshake's decision,
// which is the ACS one for the ecs:StartTelemetrySession action, and the
// tasks a publish names.
type tcsRegistry struct {
	api   *ecsapi.API
	store store.Store
}

var _ tcsserver.Registry = tcsRegistry{}

// CheckInstance checks a TCS handshake: the ecs:StartTelemetrySession action.
func (r tcsRegistry) CheckInstance(ctx context.Context, principal authz.Principal, cluster, containerInstanceARN string) error {
	err := r.api.CheckInstance(ctx, principal, authz.ActionStartTelemetrySession, cluster, containerInstanceARN)
	switch {
	case errors.Is(err, ecsapi.ErrClusterNotFound):
		return tcsserver.ErrInvalidCluster
	case errors.Is(err, ecsapi.ErrInstanceNotFound):
		return tcsserver.ErrInvalidInstance
	case errors.Is(err, ecsapi.ErrInstanceInactive):
		return tcsserver.ErrInactiveInstance
	}
	return err
}

// Tasks reads the named tasks (arn:...:task/<cluster>/<id>) in one
// transaction. An ARN that names no stored task, or another account's or
// region's, is left out.
func (r tcsRegistry) Tasks(_ context.Context, arns []string) (map[string]tcsserver.Task, error) {
	out := make(map[string]tcsserver.Task, len(arns))
	err := r.store.View(func(tx store.Tx) error {
		for _, arn := range arns {
			_, path, ok := strings.Cut(arn, ":task/")
			cluster, id, ok2 := strings.Cut(path, "/")
			if !ok || !ok2 || cluster == "" || id == "" {
				continue
			}
			t, err := tx.Task(cluster, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read task %s: %w", arn, err)
			}
			if t.ARN != arn {
				continue
			}
			names := make([]string, len(t.Containers))
			for i, c := range t.Containers {
				names[i] = c.Name
			}
			out[arn] = tcsserver.Task{
				Task: telemetry.Task{ARN: t.ARN, ID: t.ID, Cluster: t.Cluster, Family: t.Family, Revision: t.Revision,
					Instance: t.ContainerInstanceARN},
				Containers: names,
				Stopped:    t.LastStatus == store.TaskStopped,
			}
		}
		return nil
	})
	return out, err
}
