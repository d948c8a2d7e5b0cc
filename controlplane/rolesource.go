package controlplane

import (
	"context"
	"errors"
	"time"

	"github.com/open-ecs/ecs-agent/controlplane/delivery"
	"github.com/open-ecs/ecs-agent/controlplane/roles"
)

// roleIssuer builds the issuer of task role credentials from the options:
// STS (-sts-endpoint), a roles file (-roles), or none (nil), when tasks
// with roles are not placed.
func roleIssuer(o Options) (*roles.Issuer, error) {
	duration := o.RoleSessionDuration
	if duration == 0 {
		duration = roles.DefaultSessionDuration
	}
	var src roles.Source
	switch {
	case o.RoleSource != nil:
		src = o.RoleSource
	case o.STSEndpoint != "" && o.RolesFile != "":
		return nil, errors.New("-sts-endpoint and -roles exclude each other: role credentials come from STS or from the file")
	case o.STSEndpoint != "":
		s, err := roles.NewSTS(context.Background(), o.STSEndpoint, o.Region, duration)
		if err != nil {
			return nil, err
		}
		src = s
	case o.RolesFile != "":
		f, err := roles.NewFile(o.RolesFile, duration, nil)
		if err != nil {
			return nil, err
		}
		src = f
	default:
		return nil, nil
	}
	return roles.NewIssuer(src, nil), nil
}

// refreshInterval is how often due credentials are looked for: often
// enough that credentials refreshed at half-life reach the agent well
// before they expire, however short the lifetime.
func refreshInterval(o Options) time.Duration {
	d := o.RoleSessionDuration
	if d == 0 {
		d = roles.DefaultSessionDuration
	}
	return max(min(delivery.DefaultRefreshInterval, d/8), time.Second)
}
