package ecsapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// taskOut is a stored task as the API sends it. The fields declared here
// shadow the embedded ones of the same JSON name (encoding/json prefers
// the shallower field): timestamps go out as epoch seconds, and the
// control plane's bookkeeping, left nil, is omitted.
type taskOut struct {
	store.Task
	Overrides  json.RawMessage `json:"overrides"`
	Containers []containerOut  `json:"containers"`
	Tags       []store.Tag     `json:"tags,omitempty"`
	// HealthStatus is set by DescribeTasks (withHealth).
	HealthStatus string `json:"healthStatus,omitempty"`

	CreatedAt          *epochSeconds `json:"createdAt,omitempty"`
	ConnectivityAt     *epochSeconds `json:"connectivityAt,omitempty"`
	PullStartedAt      *epochSeconds `json:"pullStartedAt,omitempty"`
	PullStoppedAt      *epochSeconds `json:"pullStoppedAt,omitempty"`
	StartedAt          *epochSeconds `json:"startedAt,omitempty"`
	ExecutionStoppedAt *epochSeconds `json:"executionStoppedAt,omitempty"`
	StoppingAt         *epochSeconds `json:"stoppingAt,omitempty"`
	StoppedAt          *epochSeconds `json:"stoppedAt,omitempty"`

	ID       *struct{} `json:"id,omitempty"`
	Cluster  *struct{} `json:"cluster,omitempty"`
	Family   *struct{} `json:"family,omitempty"`
	Revision *struct{} `json:"revision,omitempty"`
	Reserved *struct{} `json:"reserved,omitempty"`
	Delivery *struct{} `json:"delivery,omitempty"`
	// RoleCredentials names the task's credentials IDs, which only the
	// agent and the task's containers may know.
	RoleCredentials *struct{} `json:"roleCredentials,omitempty"`
}

// containerOut is the ECS Container shape: Essential is not in it.
type containerOut struct {
	store.TaskContainer
	Essential *struct{} `json:"essential,omitempty"`
}

func epoch(t *time.Time) *epochSeconds {
	if t == nil {
		return nil
	}
	e := epochSeconds(*t)
	return &e
}

func taskView(t store.Task, withTags bool) taskOut {
	out := taskOut{Task: t, Overrides: t.Overrides, Containers: []containerOut{}}
	if len(out.Overrides) == 0 || string(out.Overrides) == "null" {
		// ECS always sends the overrides, naming every container.
		names := []map[string]string{}
		for _, c := range t.Containers {
			names = append(names, map[string]string{"name": c.Name})
		}
		out.Overrides, _ = json.Marshal(map[string]any{"containerOverrides": names, "inferenceAcceleratorOverrides": []any{}})
	}
	for _, c := range t.Containers {
		if c.NetworkBindings == nil {
			c.NetworkBindings = []store.NetworkBinding{}
		}
		out.Containers = append(out.Containers, containerOut{TaskContainer: c})
	}
	if withTags {
		out.Tags = tagsOrEmpty(t.Tags)
	}
	out.CreatedAt = epoch(&t.CreatedAt)
	out.ConnectivityAt = epoch(t.ConnectivityAt)
	out.PullStartedAt = epoch(t.PullStartedAt)
	out.PullStoppedAt = epoch(t.PullStoppedAt)
	out.StartedAt = epoch(t.StartedAt)
	out.ExecutionStoppedAt = epoch(t.ExecutionStoppedAt)
	out.StoppingAt = epoch(t.StoppingAt)
	out.StoppedAt = epoch(t.StoppedAt)
	return out
}

// parseTaskRef accepts a task ID or the ARN of a task of cluster.
func (a *API) parseTaskRef(cluster, ref string) (string, bool) {
	if !strings.HasPrefix(ref, "arn:") {
		return ref, ref != "" && !strings.Contains(ref, "/")
	}
	id, ok := strings.CutPrefix(ref, a.arnPrefix()+"task/"+cluster+"/")
	return id, ok && id != "" && !strings.Contains(id, "/")
}

// lookupTask finds ref (ID or ARN) in cluster. ok=false means no such
// task; err is only for store failures.
func (a *API) lookupTask(tx store.Tx, cluster, ref string) (store.Task, bool, error) {
	id, ok := a.parseTaskRef(cluster, ref)
	if !ok {
		return store.Task{}, false, nil
	}
	t, err := tx.Task(cluster, id)
	if errors.Is(err, store.ErrNotFound) {
		return t, false, nil
	}
	if err != nil {
		return t, false, internal("read task", err)
	}
	return t, true, nil
}

type describeTasksInput struct {
	Cluster string   `json:"cluster"`
	Tasks   []string `json:"tasks"`
	Include []string `json:"include"`
}

func (a *API) describeTasks(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in describeTasksInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 {
		return nil, invalidParam("tasks can not be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, invalidParam("tasks can have at most 100 items.")
	}
	for _, inc := range in.Include {
		if inc != "TAGS" {
			return nil, invalidParam("Invalid include value: %s (only TAGS).", inc)
		}
	}
	withTags := slices.Contains(in.Include, "TAGS")
	var tasks []taskOut
	var failures []failure
	err := a.o.Store.View(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		defs := definitions{tx: tx}
		tasks, failures, err = describeEach(in.Tasks, func(ref string) (taskOut, *failure, error) {
			t, found, err := a.lookupTask(tx, c.Name, ref)
			if err != nil {
				return taskOut{}, nil, err
			}
			if !found {
				arn := ref
				if !strings.HasPrefix(ref, "arn:") {
					arn = a.taskARN(c.Name, ref)
				}
				return taskOut{}, &failure{ARN: arn, Reason: reasonMissing}, nil
			}
			out := taskView(t, withTags)
			a.withHealth(&out, defs.of(t))
			return out, nil, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"tasks": tasks, "failures": failures}, nil
}

type listTasksInput struct {
	Cluster           string `json:"cluster"`
	ContainerInstance string `json:"containerInstance"`
	Family            string `json:"family"`
	StartedBy         string `json:"startedBy"`
	ServiceName       string `json:"serviceName"`
	DesiredStatus     string `json:"desiredStatus"`
	LaunchType        string `json:"launchType"`
	listInput
}

// listTasks lists by desired status (RUNNING by default, as ECS), with the
// other filters combined.
func (a *API) listTasks(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in listTasksInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	desired := in.DesiredStatus
	if desired == "" {
		desired = store.TaskRunning
	}
	if !slices.Contains([]string{store.TaskRunning, store.TaskPending, store.TaskStopped}, desired) {
		return nil, invalidParam("desiredStatus must be RUNNING, PENDING or STOPPED, not %s.", desired)
	}
	if in.LaunchType != "" && in.LaunchType != launchTypeEC2 && in.LaunchType != launchTypeExternal {
		// Nothing else runs here, so nothing matches.
		return map[string]any{"taskArns": []string{}}, nil
	}
	var ids []string
	var arns map[string]string
	err := a.o.Store.View(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		instanceARN := ""
		if in.ContainerInstance != "" {
			ci, found, err := a.lookupInstance(tx, c.Name, in.ContainerInstance)
			if err != nil {
				return err
			}
			if !found {
				return invalidParam("containerInstance %s was not found in cluster %s.", in.ContainerInstance, c.Name)
			}
			instanceARN = ci.ARN
		}
		if in.ServiceName != "" {
			// A service ARN names the same service as its name.
			if name, ok := a.serviceName(c.Name, in.ServiceName); ok {
				in.ServiceName = name
			}
		}
		ids, arns, err = listedTasks(tx, c.Name, desired, instanceARN, in)
		return err
	})
	if err != nil {
		return nil, err
	}
	return listPage(ids, in.listInput, "taskArns", func(id string) string { return arns[id] })
}

// listedTasks returns the sorted IDs of the cluster's tasks that ListTasks
// in matches, and the ARNs of those it will answer with. The desired-status
// index gives the candidates; the records are read only to apply the other
// filters or, without them, for the page asked for.
func listedTasks(tx store.Tx, cluster, desired, instanceARN string, in listTasksInput) ([]string, map[string]string, error) {
	ids, err := tx.TaskIDsByDesired(cluster, desired)
	if err != nil {
		return nil, nil, internal("list tasks", err)
	}
	arns := map[string]string{}
	filtered := instanceARN != "" || in.Family != "" || in.StartedBy != "" || in.LaunchType != "" || in.ServiceName != ""
	read := ids
	if !filtered {
		if read, _, err = paginate(ids, in.NextToken, in.MaxResults); err != nil {
			return nil, nil, err
		}
	}
	matching := make([]string, 0, len(read))
	for _, id := range read {
		t, err := tx.Task(cluster, id)
		if err != nil {
			return nil, nil, internal("read task", err)
		}
		if (instanceARN != "" && t.ContainerInstanceARN != instanceARN) ||
			(in.Family != "" && t.Family != in.Family) ||
			(in.StartedBy != "" && t.StartedBy != in.StartedBy) ||
			(in.LaunchType != "" && normalLaunchType(t.LaunchType) != in.LaunchType) ||
			(in.ServiceName != "" && t.Group != serviceGroup(in.ServiceName)) {
			continue
		}
		matching = append(matching, id)
		arns[id] = t.ARN
	}
	if !filtered {
		return ids, arns, nil
	}
	return matching, arns, nil
}
