package dockerapi

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// Events streams container events until ctx ends or the stream breaks.
func (c *Client) Events(ctx context.Context) (<-chan runtime.Event, <-chan error) {
	out := make(chan runtime.Event)
	errc := make(chan error, 1)
	msgs, errs := c.c.Events(ctx, events.ListOptions{Filters: filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)))})
	go func() {
		defer close(out)
		defer close(errc)
		for {
			select {
			case m := <-msgs:
				select {
				case out <- eventFrom(m):
				case <-ctx.Done():
					errc <- nil
					return
				}
			case err := <-errs:
				if ctx.Err() != nil {
					errc <- nil
				} else {
					errc <- fmt.Errorf("docker events at %s: %w", c.endpoint, classify(err, false))
				}
				return
			case <-ctx.Done():
				errc <- nil
				return
			}
		}
	}()
	return out, errc
}

// eventAttributes are the attributes Docker adds next to a container's
// labels; everything else in Actor.Attributes is a label.
var eventAttributes = map[string]bool{"name": true, "image": true, "exitCode": true, "signal": true, "execID": true}

// eventFrom normalises a Docker event: "health_status: healthy" becomes
// Action EventHealth with Health "healthy"; die carries its exit code.
func eventFrom(m events.Message) runtime.Event {
	ev := runtime.Event{ContainerID: m.Actor.ID, Action: string(m.Action)}
	if action, detail, ok := strings.Cut(ev.Action, ":"); ok {
		ev.Action = action
		if action == runtime.EventHealth {
			ev.Health = strings.TrimSpace(detail)
		}
	}
	if ev.Action == runtime.EventDie {
		if code, err := strconv.Atoi(m.Actor.Attributes["exitCode"]); err == nil {
			ev.ExitCode = &code
		}
	}
	switch {
	case m.TimeNano != 0:
		ev.Time = time.Unix(0, m.TimeNano)
	case m.Time != 0:
		ev.Time = time.Unix(m.Time, 0)
	}
	for k, v := range m.Actor.Attributes {
		if eventAttributes[k] {
			continue
		}
		if ev.Labels == nil {
			ev.Labels = make(map[string]string)
		}
		ev.Labels[k] = v
	}
	return ev
}
