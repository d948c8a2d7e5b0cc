package ecsapi

import (
	"errors"
	"sort"
	"strings"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// errNoResource is what a tagLookup returns when the resource its ARN
// names does not exist (its cluster does: a missing cluster is
// ClusterNotFoundException).
var errNoResource = errors.New("no such resource")

// tagged is a resource the tagging operations act on: its tags, and how to
// write it back with others.
type tagged struct {
	tags []store.Tag
	save func(tags []store.Tag) error
}

// tagLookup finds, inside tx, the resource of one kind that id names: the
// part of its ARN after "<kind>/". It returns errNoResource, a *Error, or
// a store failure. Each kind of taggable resource has one (tagLookups);
// a new kind of resource becomes taggable by adding its lookup there.
type tagLookup func(tx store.Tx, id string) (tagged, error)

// tagLookups maps the resource kinds of ECS ARNs to their lookups.
func (a *API) tagLookups() map[string]tagLookup {
	return map[string]tagLookup{
		"cluster":            a.taggedCluster,
		"container-instance": a.taggedInstance,
		"task":               a.taggedTask,
		"task-definition":    a.taggedTaskDefinition,
		"service":            a.taggedService,
		"capacity-provider":  refuseCapacityProviders,
	}
}

// lookupTagged parses an ECS ARN of this region and account and finds the
// resource it names.
func (a *API) lookupTagged(tx store.Tx, arn string) (tagged, error) {
	rest, ok := strings.CutPrefix(arn, a.arnPrefix())
	if !ok {
		return tagged{}, invalidParam("resourceArn %q is not an ECS ARN of this control plane: they start with %s.", arn, a.arnPrefix())
	}
	kind, id, _ := strings.Cut(rest, "/")
	lookups := a.tagLookups()
	lookup := lookups[kind]
	if lookup == nil {
		kinds := make([]string, 0, len(lookups))
		for k := range lookups {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		return tagged{}, invalidParam("resourceArn %q: tags can be set on %s resources, not on %q.", arn, strings.Join(kinds, ", "), kind)
	}
	return lookup(tx, id)
}

// clusterAndID splits "<cluster>/<id>", the form of the resource part of
// container instance, task and service ARNs, and resolves the cluster.
func (a *API) clusterAndID(tx store.Tx, kind, id string) (store.Cluster, string, error) {
	cluster, rest, ok := strings.Cut(id, "/")
	if !ok || cluster == "" || rest == "" || strings.Contains(rest, "/") {
		last := "<id>"
		if kind == "service" {
			last = "<name>"
		}
		return store.Cluster{}, "", invalidParam("resourceArn: a %s ARN ends in %s/<cluster>/%s, not %s/%s.", kind, kind, last, kind, id)
	}
	c, err := a.activeCluster(tx, cluster)
	return c, rest, err
}

func (a *API) taggedCluster(tx store.Tx, name string) (tagged, error) {
	c, err := a.activeCluster(tx, name)
	if err != nil {
		return tagged{}, err
	}
	return tagged{tags: c.Tags, save: func(tags []store.Tag) error {
		c.Tags = tags
		return putOrInternal(tx.PutCluster(c), "write cluster")
	}}, nil
}

func (a *API) taggedInstance(tx store.Tx, id string) (tagged, error) {
	c, ref, err := a.clusterAndID(tx, "container-instance", id)
	if err != nil {
		return tagged{}, err
	}
	ci, found, err := a.lookupInstance(tx, c.Name, ref)
	if err != nil || !found {
		return tagged{}, cmpErr(err, errNoResource)
	}
	return tagged{tags: ci.Tags, save: func(tags []store.Tag) error {
		ci.Tags = tags
		ci.UpdatedAt = a.now()
		return putOrInternal(tx.PutInstance(ci), "write container instance")
	}}, nil
}

func (a *API) taggedTask(tx store.Tx, id string) (tagged, error) {
	c, ref, err := a.clusterAndID(tx, "task", id)
	if err != nil {
		return tagged{}, err
	}
	t, found, err := a.lookupTask(tx, c.Name, ref)
	if err != nil || !found {
		return tagged{}, cmpErr(err, errNoResource)
	}
	return tagged{tags: t.Tags, save: func(tags []store.Tag) error {
		t.Tags = tags
		return putOrInternal(tx.PutTask(t), "write task")
	}}, nil
}

func (a *API) taggedTaskDefinition(tx store.Tx, id string) (tagged, error) {
	ref, ok := a.parseTaskDefRef(id)
	if !ok || ref.revision == 0 {
		return tagged{}, invalidParam("resourceArn: a task definition ARN ends in task-definition/<family>:<revision>, not task-definition/%s.", id)
	}
	td, found, err := a.lookupTaskDefinition(tx, id)
	if err != nil || !found {
		return tagged{}, cmpErr(err, errNoResource)
	}
	return tagged{tags: td.Tags, save: func(tags []store.Tag) error {
		td.Tags = tags
		return putOrInternal(tx.PutTaskDefinition(td), "write task definition")
	}}, nil
}

func (a *API) taggedService(tx store.Tx, id string) (tagged, error) {
	c, name, err := a.clusterAndID(tx, "service", id)
	if err != nil {
		return tagged{}, err
	}
	svc, found, err := a.lookupService(tx, c.Name, name)
	if err != nil || !found || svc.Status == store.ServiceInactive {
		return tagged{}, cmpErr(err, errNoResource)
	}
	// New tasks propagate the service's tags from now on (SERVICE);
	// running ones keep theirs, as in ECS.
	return tagged{tags: svc.Tags, save: func(tags []store.Tag) error {
		svc.Tags = tags
		return putOrInternal(tx.PutService(svc), "write service")
	}}, nil
}

func refuseCapacityProviders(store.Tx, string) (tagged, error) {
	return tagged{}, invalidParam("resourceArn names a capacity provider: this control plane has none; it runs tasks on the container instances registered with it.")
}

// cmpErr returns err, or fallback when err is nil.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

func putOrInternal(err error, what string) error {
	if err != nil {
		return internal(what, err)
	}
	return nil
}
