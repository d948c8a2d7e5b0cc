package ecsapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// lookupCluster finds the cluster ref (name, ARN or "") names, in any
// status. ok=false means no such cluster; err is only for store failures.
func (a *API) lookupCluster(tx store.Tx, ref string) (store.Cluster, bool, error) {
	name, ok := a.clusterName(ref)
	if !ok {
		return store.Cluster{}, false, nil
	}
	c, err := tx.Cluster(name)
	if errors.Is(err, store.ErrNotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, internal("read cluster", err)
	}
	return c, true, nil
}

// activeCluster resolves a request's cluster reference to an ACTIVE cluster.
func (a *API) activeCluster(tx store.Tx, ref string) (store.Cluster, error) {
	c, found, err := a.lookupCluster(tx, ref)
	if err != nil {
		return c, err
	}
	if !found {
		return c, errClusterNotFound()
	}
	if c.Status != store.StatusActive {
		return c, clientErr(CodeClusterNotFound, msgClusterInactive)
	}
	return c, nil
}

// missingClusterARN is the ARN a failure names: the full ARN when ref is a
// valid name.
func (a *API) missingClusterARN(ref string) string {
	if name, ok := a.clusterName(ref); ok {
		return a.clusterARN(name)
	}
	return ref
}

// liveInstanceCount counts the cluster's registered (ACTIVE or DRAINING)
// instances.
func liveInstanceCount(tx store.Tx, cluster string) (int, error) {
	instances, err := tx.Instances(cluster)
	if err != nil {
		return 0, internal("list instances", err)
	}
	n := 0
	for _, ci := range instances {
		if ci.Status != store.StatusInactive {
			n++
		}
	}
	return n, nil
}

// taskCounts counts a cluster's tasks by last status, as DescribeClusters
// reports them.
func taskCounts(tx store.Tx, cluster string) (running, pending int, err error) {
	tasks, err := tx.LiveTaskSummaries(cluster, "")
	if err != nil {
		return 0, 0, internal("list tasks", err)
	}
	for _, t := range tasks {
		switch t.LastStatus {
		case store.TaskRunning:
			running++
		case store.TaskPending:
			pending++
		}
	}
	return running, pending, nil
}

func validateSettings(settings []store.Setting) ([]store.Setting, error) {
	if len(settings) == 0 {
		return []store.Setting{{Name: "containerInsights", Value: "disabled"}}, nil
	}
	for _, s := range settings {
		if s.Name != "containerInsights" {
			return nil, invalidParam("Invalid setting name: %s", s.Name)
		}
		if s.Value != "enabled" && s.Value != "disabled" && s.Value != "enhanced" {
			return nil, invalidParam("Invalid value for containerInsights: %s", s.Value)
		}
	}
	return settings, nil
}

type createClusterInput struct {
	ClusterName            string                      `json:"clusterName"`
	Tags                   []store.Tag                 `json:"tags"`
	Settings               []store.Setting             `json:"settings"`
	Configuration          *store.ClusterConfiguration `json:"configuration"`
	ServiceConnectDefaults json.RawMessage             `json:"serviceConnectDefaults"`
}

// createCluster is idempotent as in ECS: an existing ACTIVE cluster is
// returned as it is; an INACTIVE (deleted) one comes back to life.
func (a *API) createCluster(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in createClusterInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ClusterName == "" {
		in.ClusterName = defaultClusterName
	}
	if !clusterNameRE.MatchString(in.ClusterName) {
		return nil, invalidParam("Cluster name should have 1-255 characters: letters, numbers, hyphens and underscores.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	settings, err := validateSettings(in.Settings)
	if err != nil {
		return nil, err
	}
	if err := validateConfiguration(in.Configuration); err != nil {
		return nil, err
	}
	if err := refuseServiceConnect(in.ServiceConnectDefaults); err != nil {
		return nil, err
	}

	return a.changeCluster("cluster created", func(tx store.Tx) (clusterOut, error) {
		c, err := tx.Cluster(in.ClusterName)
		switch {
		case err == nil && c.Status == store.StatusActive:
			live, err := liveInstanceCount(tx, c.Name)
			if err != nil {
				return clusterOut{}, err
			}
			return clusterView(c, live, includeAll), nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return clusterOut{}, internal("read cluster", err)
		}
		return putCluster(tx, store.Cluster{
			Name:          in.ClusterName,
			ARN:           a.clusterARN(in.ClusterName),
			Status:        store.StatusActive,
			Tags:          in.Tags,
			Settings:      settings,
			Configuration: in.Configuration,
			CreatedAt:     a.now(),
		})
	})
}

type deleteClusterInput struct {
	Cluster string `json:"cluster"`
}

func (a *API) deleteCluster(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in deleteClusterInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Cluster == "" {
		return nil, invalidParam("cluster can not be blank.")
	}
	return a.changeCluster("cluster deleted", func(tx store.Tx) (clusterOut, error) {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return clusterOut{}, err
		}
		live, err := liveInstanceCount(tx, c.Name)
		if err != nil {
			return clusterOut{}, err
		}
		if live > 0 {
			return clusterOut{}, clientErr(CodeClusterContainsInstances, msgClusterContainsInstances)
		}
		if n, err := activeServiceCount(tx, c.Name); err != nil || n > 0 {
			return clusterOut{}, cmpErr(err, clientErr(CodeClusterContainsServices, msgClusterContainsServices))
		}
		c.Status = store.StatusInactive
		return putCluster(tx, c)
	})
}

// changeCluster runs change in a write transaction and answers with the
// cluster it returns, as CreateCluster and DeleteCluster do.
func (a *API) changeCluster(logMsg string, change func(tx store.Tx) (clusterOut, error)) (any, error) {
	var out clusterOut
	err := a.update(func(tx store.Tx) error {
		var err error
		out, err = change(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	a.log.Info(logMsg, logging.KeyCluster, out.ClusterArn)
	return map[string]any{"cluster": out}, nil
}

// putCluster writes c and renders it. A cluster being created or deleted
// has no live instances.
func putCluster(tx store.Tx, c store.Cluster) (clusterOut, error) {
	if err := tx.PutCluster(c); err != nil {
		return clusterOut{}, internal("write cluster", err)
	}
	return clusterView(c, 0, includeAll), nil
}

type describeClustersInput struct {
	Clusters []string `json:"clusters"`
	Include  []string `json:"include"`
}

func (a *API) describeClusters(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in describeClustersInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Clusters) == 0 {
		in.Clusters = []string{defaultClusterName}
	}
	if len(in.Clusters) > 100 {
		return nil, invalidParam("clusters can have at most 100 items.")
	}
	for _, inc := range in.Include {
		if !slices.Contains([]string{"ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"}, inc) {
			return nil, invalidParam("Invalid include value: %s", inc)
		}
	}
	inc := clusterInclude{
		settings:      slices.Contains(in.Include, "SETTINGS"),
		tags:          slices.Contains(in.Include, "TAGS"),
		configuration: slices.Contains(in.Include, "CONFIGURATIONS"),
	}

	var clusters []clusterOut
	var failures []failure
	err := a.o.Store.View(func(tx store.Tx) error {
		var err error
		clusters, failures, err = describeEach(in.Clusters, func(ref string) (clusterOut, *failure, error) {
			c, found, err := a.lookupCluster(tx, ref)
			if err != nil {
				return clusterOut{}, nil, err
			}
			if !found {
				return clusterOut{}, &failure{ARN: a.missingClusterARN(ref), Reason: reasonMissing}, nil
			}
			live, err := liveInstanceCount(tx, c.Name)
			if err != nil {
				return clusterOut{}, nil, err
			}
			out := clusterView(c, live, inc)
			if out.RunningTasksCount, out.PendingTasksCount, err = taskCounts(tx, c.Name); err != nil {
				return clusterOut{}, nil, err
			}
			if out.ActiveServicesCount, err = activeServiceCount(tx, c.Name); err != nil {
				return clusterOut{}, nil, err
			}
			return out, nil, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"clusters": clusters, "failures": failures}, nil
}

func (a *API) listClusters(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in listInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var names []string
	err := a.o.Store.View(func(tx store.Tx) error {
		clusters, err := tx.Clusters()
		if err != nil {
			return internal("list clusters", err)
		}
		for _, c := range clusters {
			if c.Status == store.StatusActive {
				names = append(names, c.Name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return listPage(names, in, "clusterArns", a.clusterARN)
}
