package ecsapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// Values of ExecuteCommandConfiguration.logging.
var execLoggingValues = []string{"NONE", "DEFAULT", "OVERRIDE"}

// validateConfiguration checks a cluster configuration's shape as ECS
// does: logConfiguration goes with logging OVERRIDE, and only with it.
// Nothing here acts on it (no ECS Exec, no managed storage): it is stored
// and shown as given.
func validateConfiguration(cfg *store.ClusterConfiguration) error {
	if cfg == nil || cfg.ExecuteCommandConfiguration == nil {
		return nil
	}
	ecc := cfg.ExecuteCommandConfiguration
	switch ecc.Logging {
	case "", "NONE", "DEFAULT":
		if ecc.LogConfiguration != nil {
			return invalidParam("configuration.executeCommandConfiguration.logConfiguration is only used with logging OVERRIDE; set logging to OVERRIDE or leave logConfiguration out.")
		}
	case "OVERRIDE":
		if lc := ecc.LogConfiguration; lc == nil || (lc.CloudWatchLogGroupName == "" && lc.S3BucketName == "") {
			return invalidParam("configuration.executeCommandConfiguration.logging OVERRIDE needs a logConfiguration with a cloudWatchLogGroupName or an s3BucketName.")
		}
	default:
		return invalidParam("configuration.executeCommandConfiguration.logging must be one of %v, not %q.", execLoggingValues, ecc.Logging)
	}
	return nil
}

// refuseServiceConnect refuses a serviceConnectDefaults member: Service
// Connect needs Cloud Map namespaces, which this control plane has not.
func refuseServiceConnect(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return invalidParam("serviceConnectDefaults: Service Connect (Cloud Map namespaces) is not supported by this control plane; leave it out.")
}

// mergeSettings sets each of update's settings on the cluster's, by name.
func mergeSettings(c *store.Cluster, update []store.Setting) {
	c.Settings = mergeByKey(c.Settings, update, func(s store.Setting) string { return s.Name })
}

type updateClusterInput struct {
	Cluster                string                      `json:"cluster"`
	Settings               []store.Setting             `json:"settings"`
	Configuration          *store.ClusterConfiguration `json:"configuration"`
	ServiceConnectDefaults json.RawMessage             `json:"serviceConnectDefaults"`
}

// updateCluster changes the settings it is given (by name) and replaces
// the configuration when one is given.
func (a *API) updateCluster(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in updateClusterInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Cluster == "" {
		return nil, invalidParam("cluster can not be blank.")
	}
	if len(in.Settings) > 0 {
		if _, err := validateSettings(in.Settings); err != nil {
			return nil, err
		}
	}
	if err := validateConfiguration(in.Configuration); err != nil {
		return nil, err
	}
	if err := refuseServiceConnect(in.ServiceConnectDefaults); err != nil {
		return nil, err
	}
	if len(in.Settings) == 0 && in.Configuration == nil {
		return nil, invalidParam("Nothing to update: give settings or configuration.")
	}
	return a.changeCluster("cluster updated", func(tx store.Tx) (clusterOut, error) {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return clusterOut{}, err
		}
		mergeSettings(&c, in.Settings)
		if in.Configuration != nil {
			c.Configuration = in.Configuration
		}
		return a.putLiveCluster(tx, c)
	})
}

type updateClusterSettingsInput struct {
	Cluster  string          `json:"cluster"`
	Settings []store.Setting `json:"settings"`
}

// updateClusterSettings changes the settings it is given, by name.
func (a *API) updateClusterSettings(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in updateClusterSettingsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Cluster == "" {
		return nil, invalidParam("cluster can not be blank.")
	}
	if len(in.Settings) == 0 {
		return nil, invalidParam("settings can not be empty.")
	}
	if _, err := validateSettings(in.Settings); err != nil {
		return nil, err
	}
	return a.changeCluster("cluster settings updated", func(tx store.Tx) (clusterOut, error) {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return clusterOut{}, err
		}
		mergeSettings(&c, in.Settings)
		return a.putLiveCluster(tx, c)
	})
}

// putLiveCluster writes an ACTIVE cluster and renders it with its counts.
func (a *API) putLiveCluster(tx store.Tx, c store.Cluster) (clusterOut, error) {
	if err := tx.PutCluster(c); err != nil {
		return clusterOut{}, internal("write cluster", err)
	}
	live, err := liveInstanceCount(tx, c.Name)
	if err != nil {
		return clusterOut{}, err
	}
	out := clusterView(c, live, includeAll)
	if out.RunningTasksCount, out.PendingTasksCount, err = taskCounts(tx, c.Name); err != nil {
		return clusterOut{}, err
	}
	return out, nil
}
