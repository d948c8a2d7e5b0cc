package services

import (
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// MaxEvents is how many events a service keeps, newest first.
const MaxEvents = 100

// addEvent puts an event first, keeping the newest MaxEvents; its ID is a
// UUID, as ECS's are.
func addEvent(svc *store.Service, now time.Time, message string) {
	AddEvent(svc, store.ServiceEvent{ID: uuid.NewString(), CreatedAt: now, Message: message})
}

// AddEvent puts e first among svc's events, keeping the newest MaxEvents.
func AddEvent(svc *store.Service, e store.ServiceEvent) {
	svc.Events = append([]store.ServiceEvent{e}, svc.Events...)
	if len(svc.Events) > MaxEvents {
		svc.Events = svc.Events[:MaxEvents]
	}
}

// TaskList formats task IDs as ECS does in events: "(task a) (task b)".
func TaskList(ids []string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = "(task " + id + ")"
	}
	return strings.Join(parts, " ")
}
