package dockerapi

import (
	"context"
	"fmt"
)

// CgroupInfo is how the engine places containers in cgroups.
type CgroupInfo struct {
	Driver  string // "cgroupfs" or "systemd"
	Version string // "1" or "2"; "" on engines before API 1.40
}

// CgroupInfo returns the engine's cgroup driver and version (GET /info).
func (c *Client) CgroupInfo(ctx context.Context) (CgroupInfo, error) {
	info, err := c.c.Info(ctx)
	if err != nil {
		return CgroupInfo{}, fmt.Errorf("docker info at %s: %w", c.endpoint, err)
	}
	return CgroupInfo{Driver: info.CgroupDriver, Version: info.CgroupVersion}, nil
}
