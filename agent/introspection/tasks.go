package introspection

import (
	"time"

	"github.com/open-ecs/ecs-agent/engine"
)

// TaskResponses maps the engine's task snapshots to the v1 shapes
// (reference §9.1). It allocates fresh values, so the result may be served
// while the engine moves on.
func TaskResponses(tasks []engine.TaskSnapshot) []TaskResponse {
	out := make([]TaskResponse, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, taskResponse(t))
	}
	return out
}

func taskResponse(t engine.TaskSnapshot) TaskResponse {
	r := TaskResponse{
		Arn:           t.ARN,
		DesiredStatus: shownDesiredStatus(t.DesiredStatus, t.KnownStatus),
		KnownStatus:   t.KnownStatus,
		Family:        t.Family,
		Version:       t.Version,
		Containers:    make([]ContainerResponse, 0, len(t.Containers)),
	}
	for _, c := range t.Containers {
		r.Containers = append(r.Containers, containerResponse(c))
	}
	return r
}

// shownDesiredStatus blanks a desired status that would read as a step
// backwards next to the known one, as the incumbent does: a stopped task
// that is not desired stopped, or a running task still desired pending.
func shownDesiredStatus(desired, known string) string {
	switch {
	case known == engine.StatusStopped && desired != engine.StatusStopped:
		return ""
	case known == engine.StatusRunning && desired == engine.StatusPending:
		return ""
	}
	return desired
}

func containerResponse(c engine.ContainerSnapshot) ContainerResponse {
	r := ContainerResponse{
		DockerID:   c.DockerID,
		DockerName: c.DockerName,
		Name:       c.Name,
		Image:      c.Image,
		ImageID:    c.ImageID,
		CreatedAt:  timeOrNil(c.CreatedAt),
		StartedAt:  timeOrNil(c.StartedAt),
	}
	for _, p := range c.Ports {
		if p.ContainerPort == 0 {
			continue // a port range binding: not expressible in this shape
		}
		r.Ports = append(r.Ports, PortResponse{
			ContainerPort: uint16(p.ContainerPort),
			Protocol:      p.Protocol,
			HostPort:      uint16(p.HostPort),
			HostIP:        p.BindIP,
		})
	}
	for _, v := range c.Volumes {
		r.Volumes = append(r.Volumes, VolumeResponse{DockerName: v.DockerName, Source: v.Source, Destination: v.Destination})
	}
	if c.RestartCount > 0 {
		n := c.RestartCount
		r.RestartCount = &n
	}
	return r
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
