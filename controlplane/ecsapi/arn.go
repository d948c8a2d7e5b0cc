package ecsapi

import (
	"regexp"
	"strings"

	"github.com/google/uuid"
)

// ECS ARNs:
//
//	arn:aws:ecs:<region>:<account>:cluster/<name>
//	arn:aws:ecs:<region>:<account>:container-instance/<cluster>/<32 hex>

var clusterNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

func (a *API) arnPrefix() string {
	return "arn:aws:ecs:" + a.o.Region + ":" + a.o.AccountID + ":"
}

func (a *API) clusterARN(name string) string {
	return a.arnPrefix() + "cluster/" + name
}

func (a *API) instanceARN(cluster, id string) string {
	return a.arnPrefix() + "container-instance/" + cluster + "/" + id
}

// newInstanceID returns the 32-hex-digit ID of a new container instance.
func newInstanceID() string {
	return strings.ReplaceAll(uuid.NewString(), "-", "")
}

// clusterName turns a request's cluster (name, ARN or "") into a name. An
// ARN of another region or account, or a malformed name, yields ok=false:
// such a cluster cannot exist here.
func (a *API) clusterName(ref string) (string, bool) {
	if ref == "" {
		return defaultClusterName, true
	}
	if strings.HasPrefix(ref, "arn:") {
		name, ok := strings.CutPrefix(ref, a.arnPrefix()+"cluster/")
		if !ok {
			return "", false
		}
		ref = name
	}
	return ref, clusterNameRE.MatchString(ref)
}

// instanceRef is a parsed container instance reference.
type instanceRef struct {
	id      string
	cluster string // from the ARN; "" when given as a bare ID
	isARN   bool
}

// parseInstanceRef accepts an ID or an ARN of this region and account.
func (a *API) parseInstanceRef(ref string) (instanceRef, bool) {
	if !strings.HasPrefix(ref, "arn:") {
		return instanceRef{id: ref}, ref != "" && !strings.Contains(ref, "/")
	}
	rest, ok := strings.CutPrefix(ref, a.arnPrefix()+"container-instance/")
	if !ok {
		return instanceRef{}, false
	}
	cluster, id, hasCluster := strings.Cut(rest, "/")
	if !hasCluster || cluster == "" || id == "" {
		// The old ARN format without the cluster is never issued here.
		return instanceRef{}, false
	}
	return instanceRef{id: id, cluster: cluster, isARN: true}, true
}
