package tcs

import (
	"context"
	"time"

	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// Instance status types the agent reports (reference §6).
const (
	StatusTypeContainerRuntime = "ContainerRuntime"
	StatusTypeAgent            = "Agent"
)

// checkTimeout bounds one probe: a Docker that does not answer in time is
// impaired.
const checkTimeout = 5 * time.Second

// Check is one instance status check: Probe returns nil when healthy, else
// why not (the statusReason).
type Check struct {
	Type  string
	Probe func(ctx context.Context) error
}

// statusTracker runs the checks and remembers when each status last
// changed. It is owned by the session goroutine.
type statusTracker struct {
	checks  []Check
	last    map[string]wire.InstanceHealthcheckStatus
	changed map[string]time.Time
}

func newStatusTracker(checks []Check) *statusTracker {
	return &statusTracker{checks: checks, last: make(map[string]wire.InstanceHealthcheckStatus), changed: make(map[string]time.Time)}
}

// check runs every check now and returns the statuses to publish.
func (t *statusTracker) check(ctx context.Context, now time.Time) []wire.InstanceStatus {
	out := make([]wire.InstanceStatus, 0, len(t.checks))
	for _, c := range t.checks {
		pctx, cancel := context.WithTimeout(ctx, checkTimeout)
		err := c.Probe(pctx)
		cancel()
		st := wire.InstanceStatus{Type: c.Type, Status: wire.InstanceHealthcheckStatusOk, LastUpdated: wire.At(now)}
		if err != nil {
			st.Status, st.StatusReason = wire.InstanceHealthcheckStatusImpaired, err.Error()
		}
		if prev, ok := t.last[c.Type]; !ok || prev != st.Status {
			t.last[c.Type], t.changed[c.Type] = st.Status, now
		}
		st.LastStatusChange = wire.At(t.changed[c.Type])
		out = append(out, st)
	}
	return out
}
