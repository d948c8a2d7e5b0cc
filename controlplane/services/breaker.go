package services

import (
	"fmt"
	"time"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// noticeStops handles each tracked task that stopped since the last round
// once: one that stopped without the scheduler or a user asking is a
// failure of its deployment and of the service's starts.
func noticeStops(svc *store.Service, byID map[string]*store.Task, now time.Time) {
	var still []store.ServiceTask
	for _, st := range svc.Tasks {
		t, found := byID[st.ID]
		if found && t.LastStatus != store.TaskStopped {
			still = append(still, st)
			continue
		}
		if !found || t.StopCode == store.StopCodeServiceScheduler || t.StopCode == store.StopCodeUserInitiated {
			continue
		}
		if d := deployment(svc, st.DeploymentID); d != nil && d.RolloutState == store.RolloutInProgress {
			d.FailedTasks++
			d.UpdatedAt = now
		}
		svc.StartFailures++
		if svc.StartFailures >= backoffAfter {
			wait := backoffBase << min(svc.StartFailures-backoffAfter, 16)
			svc.BackoffUntil = now.Add(min(wait, backoffMax))
			if svc.StartFailures == backoffAfter {
				addEvent(svc, now, fmt.Sprintf("(service %s) is unable to consistently start tasks successfully.", svc.Name))
			}
		}
	}
	svc.Tasks = still
}

// tripBreaker fails the PRIMARY deployment once its failed tasks reach the
// threshold and, with rollback, starts a deployment of the last completed
// task definition.
func tripBreaker(svc *store.Service, in Input) {
	p := svc.Primary()
	cb := svc.DeploymentConfiguration.DeploymentCircuitBreaker
	if !cb.Enable || p.RolloutState != store.RolloutInProgress || p.FailedTasks < FailureThreshold(max(p.DesiredCount, svc.DesiredCount)) {
		return
	}
	p.RolloutState = store.RolloutFailed
	p.RolloutStateReason = "ECS deployment circuit breaker: tasks failed to start."
	p.UpdatedAt = in.Now
	addEvent(svc, in.Now, fmt.Sprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.", svc.Name, p.ID))
	last := svc.LastCompleted
	if !cb.Rollback || last == nil || in.NewDeploymentID == nil {
		return
	}
	failedID := p.ID
	p.Status = store.DeploymentActive
	d := store.Deployment{
		ID: in.NewDeploymentID(), Status: store.DeploymentPrimary, TaskDefinitionARN: last.TaskDefinitionARN,
		Family: last.Family, Revision: last.Revision, DesiredCount: svc.DesiredCount, LaunchType: last.LaunchType,
		RolloutState:       store.RolloutInProgress,
		RolloutStateReason: fmt.Sprintf("ECS deployment circuit breaker: rolling back to deploymentId %s.", last.ID),
		CreatedAt:          in.Now, UpdatedAt: in.Now,
	}
	svc.Deployments = append([]store.Deployment{d}, svc.Deployments...)
	svc.TaskDefinitionARN = d.TaskDefinitionARN
	svc.StartFailures, svc.BackoffUntil = 0, time.Time{}
	addEvent(svc, in.Now, fmt.Sprintf("(service %s) (deployment %s) rolling back to the task definition of deployment %s: deployment %s failed.",
		svc.Name, d.ID, last.ID, failedID))
}
