package dockerapi

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/volume"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// CreateVolume creates a named volume, or returns the existing one.
func (c *Client) CreateVolume(ctx context.Context, spec runtime.VolumeSpec) (runtime.Volume, error) {
	driver := spec.Driver
	if driver == "" {
		driver = "local"
	}
	v, err := c.c.VolumeCreate(ctx, volume.CreateOptions{
		Name: spec.Name, Driver: driver, DriverOpts: spec.DriverOpts, Labels: spec.Labels,
	})
	if err != nil {
		return runtime.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, classify(err, true))
	}
	return volumeFrom(v), nil
}

// InspectVolume describes a volume.
func (c *Client) InspectVolume(ctx context.Context, name string) (runtime.Volume, error) {
	v, err := c.c.VolumeInspect(ctx, name)
	if err != nil {
		return runtime.Volume{}, fmt.Errorf("inspect volume %s: %w", name, classify(err, false))
	}
	return volumeFrom(v), nil
}

// RemoveVolume removes a volume.
func (c *Client) RemoveVolume(ctx context.Context, name string) error {
	if err := c.c.VolumeRemove(ctx, name, false); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, classify(err, false))
	}
	return nil
}

func volumeFrom(v volume.Volume) runtime.Volume {
	return runtime.Volume{Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, Labels: v.Labels}
}
