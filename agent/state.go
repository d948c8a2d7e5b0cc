package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/statemanager"
	"github.com/open-ecs/ecs-agent/version"
)

// savedState is the metadata restored from the previous run.
type savedState struct {
	Cluster              string
	ContainerInstanceARN string
	EC2InstanceID        string
	AvailabilityZone     string
}

// openStore opens agent.db when checkpointing is on, else an in-memory store.
// An empty, damaged, foreign or newer-schema file is terminal (the operator
// must look at it; the agent never starts over on its own); a file in use
// is not, since the other agent may be on its way out.
func openStore(dataDir string, checkpoint bool, log *slog.Logger) (statemanager.Store, error) {
	if !checkpoint {
		return statemanager.NewMemory(), nil
	}
	s, err := statemanager.OpenBolt(dataDir, statemanager.BoltOptions{Logger: log})
	if err != nil {
		return nil, stateError(err)
	}
	return s, nil
}

func getMeta(s statemanager.Store, key string) (string, error) {
	v, err := statemanager.Metadata{Store: s}.Get(key)
	if errors.Is(err, statemanager.ErrNotFound) {
		return "", nil
	}
	return v, err
}

// loadState reads the saved metadata and applies the incumbent's rules:
// a different EC2 instance ID means the state belongs to another host and is
// reset (a new registration); a different cluster is a configuration error.
func loadState(s statemanager.Store, dataDir, cluster, instanceID string, log *slog.Logger) (savedState, error) {
	var st savedState
	for key, dst := range map[string]*string{
		statemanager.KeyClusterName:          &st.Cluster,
		statemanager.KeyContainerInstanceARN: &st.ContainerInstanceARN,
		statemanager.KeyEC2InstanceID:        &st.EC2InstanceID,
		statemanager.KeyAvailabilityZone:     &st.AvailabilityZone,
	} {
		v, err := getMeta(s, key)
		if err != nil {
			return savedState{}, fmt.Errorf("load saved state: %w", err)
		}
		*dst = v
	}
	if st.EC2InstanceID != "" && instanceID != "" && st.EC2InstanceID != instanceID {
		log.Warn("the saved state belongs to another EC2 instance; starting as a new container instance",
			logging.KeyInstanceID, instanceID, "savedInstanceId", st.EC2InstanceID,
			logging.KeyContainerInstance, st.ContainerInstanceARN)
		if err := resetState(s); err != nil {
			return savedState{}, err
		}
		return savedState{}, nil
	}
	if st.Cluster != "" && st.Cluster != cluster {
		return savedState{}, terminal(fmt.Errorf(
			"data mismatch: the saved cluster %q differs from the configured cluster %q (ECS_CLUSTER); "+
				"to move this instance to %q, move %s away so it registers as a new container instance",
			st.Cluster, cluster, cluster, filepath.Join(dataDir, statemanager.DBFileName)))
	}
	return st, nil
}

// resetState deletes every record and the identity metadata.
func resetState(s statemanager.Store) error {
	for _, b := range statemanager.Buckets {
		var keys []string
		if err := s.ForEach(b, func(k string, _ []byte) error {
			keys = append(keys, k)
			return nil
		}); err != nil {
			return fmt.Errorf("reset state: %w", err)
		}
		for _, k := range keys {
			if err := s.Delete(b, k); err != nil {
				return fmt.Errorf("reset state: %w", err)
			}
		}
	}
	return nil
}

// saveRegistration persists the metadata keys after registration.
func saveRegistration(s statemanager.Store, cluster, instanceID string, reg registration) error {
	err := statemanager.Metadata{Store: s}.PutAll(map[string]string{
		statemanager.KeyAgentVersion:         version.Version,
		statemanager.KeyAvailabilityZone:     reg.AvailabilityZone,
		statemanager.KeyClusterName:          cluster,
		statemanager.KeyContainerInstanceARN: reg.ContainerInstanceARN,
		statemanager.KeyEC2InstanceID:        instanceID,
	})
	if err != nil {
		return fmt.Errorf("save registration: %w", err)
	}
	return nil
}
