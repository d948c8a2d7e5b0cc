package agent

import (
	"fmt"

	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/engine/images"
)

var _ taskEngine = (*engine.Engine)(nil)

// newTaskSystem builds the image manager and the task engine over the
// container runtime and agent.db. Nothing runs until their Run methods.
func newTaskSystem(d engineDeps) (taskSystem, error) {
	imgs, err := images.New(images.Options{Runtime: d.Runtime, Store: d.Store, Config: d.Config, Logger: d.Logger})
	if err != nil {
		return taskSystem{}, fmt.Errorf("image manager: %w", err)
	}
	eng, err := engine.New(engine.Options{
		Runtime:       d.Runtime,
		Images:        imgs,
		Store:         d.Store,
		Config:        d.Config,
		HostResources: engineResources(d.Resources),
		Logger:        d.Logger,
		Cgroups:       d.Cgroups,
		NoCgroups:     d.NoCgroups,
		MetadataFiles: d.MetadataFiles,
	})
	if err != nil {
		return taskSystem{}, err
	}
	return taskSystem{Engine: eng, Images: imgs}, nil
}
