package services

import (
	"github.com/open-ecs/ecs-agent/controlplane/scheduler"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// EligibleInstances are the ACTIVE instances a DAEMON service's tasks go
// to: those that meet its memberOf constraints.
func EligibleInstances(svc store.Service, instances []scheduler.Instance) map[string]bool {
	var exprs []scheduler.Expr
	for _, c := range svc.PlacementConstraints {
		if c.Type != scheduler.ConstraintMemberOf {
			continue
		}
		// Validated at CreateService and UpdateService.
		if e, err := scheduler.ParseExpression(c.Expression); err == nil {
			exprs = append(exprs, e)
		}
	}
	out := map[string]bool{}
	for _, inst := range instances {
		if !inst.Active {
			continue
		}
		ok := true
		for _, e := range exprs {
			ok = ok && e.Match(inst)
		}
		if ok {
			out[inst.ARN] = true
		}
	}
	return out
}
