package ecsapi

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Task definition ARNs: arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>.

// Messages ECS uses for task definitions; kept verbatim.
const (
	msgTaskDefDescribe   = "Unable to describe task definition."
	msgTaskDefDeregister = "The specified task definition does not exist."
)

// logKeyTaskDefinition names a task definition ARN in the log.
const logKeyTaskDefinition = "taskDefinition"

var familyRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// taskDefinitionOps returns the task definition operations.
func (a *API) taskDefinitionOps() map[string]opFunc {
	return map[string]opFunc{
		"RegisterTaskDefinition":     a.registerTaskDefinition,
		"DeregisterTaskDefinition":   a.deregisterTaskDefinition,
		"DescribeTaskDefinition":     a.describeTaskDefinition,
		"ListTaskDefinitions":        a.listTaskDefinitions,
		"ListTaskDefinitionFamilies": a.listTaskDefinitionFamilies,
		"DeleteTaskDefinitions":      a.deleteTaskDefinitions,
	}
}

func (a *API) taskDefinitionARN(family string, revision int) string {
	return a.arnPrefix() + "task-definition/" + family + ":" + strconv.Itoa(revision)
}

// taskDefRef is a parsed task definition reference; revision 0 means "the
// latest ACTIVE revision".
type taskDefRef struct {
	family   string
	revision int
}

// parseTaskDefRef accepts "family", "family:revision" or the ARN (of this
// region and account) of a revision.
func (a *API) parseTaskDefRef(ref string) (taskDefRef, bool) {
	if strings.HasPrefix(ref, "arn:") {
		rest, ok := strings.CutPrefix(ref, a.arnPrefix()+"task-definition/")
		if !ok || !strings.Contains(rest, ":") {
			return taskDefRef{}, false
		}
		ref = rest
	}
	family, rev, hasRev := strings.Cut(ref, ":")
	if !familyRE.MatchString(family) {
		return taskDefRef{}, false
	}
	if !hasRev {
		return taskDefRef{family: family}, true
	}
	n, err := strconv.Atoi(rev)
	if err != nil || n < 1 {
		return taskDefRef{}, false
	}
	return taskDefRef{family: family, revision: n}, true
}

// lookupTaskDefinition finds the revision ref names (family, family:revision
// or ARN); a bare family means its latest ACTIVE revision. ok=false means
// there is no such revision; err is only for store failures. RunTask and
// StartTask use it to resolve their taskDefinition member.
func (a *API) lookupTaskDefinition(tx store.Tx, ref string) (td store.TaskDefinition, ok bool, err error) {
	r, valid := a.parseTaskDefRef(ref)
	if !valid {
		return td, false, nil
	}
	if r.revision > 0 {
		td, err = tx.TaskDefinition(r.family, r.revision)
		if errors.Is(err, store.ErrNotFound) {
			return td, false, nil
		}
		if err != nil {
			return td, false, internal("read task definition", err)
		}
		return td, true, nil
	}
	revs, err := tx.TaskDefinitions(r.family)
	if err != nil {
		return td, false, internal("list task definitions", err)
	}
	for i := len(revs) - 1; i >= 0; i-- {
		if revs[i].Status == store.StatusActive {
			return revs[i], true, nil
		}
	}
	return td, false, nil
}

// taskDefOut is a stored revision as the API sends it: the timestamps as
// epoch seconds (these fields shadow the embedded ones) and without tags,
// which ECS sends beside the task definition.
type taskDefOut struct {
	store.TaskDefinition
	RegisteredAt   *epochSeconds `json:"registeredAt,omitempty"`
	DeregisteredAt *epochSeconds `json:"deregisteredAt,omitempty"`
}

func taskDefView(td store.TaskDefinition) taskDefOut {
	out := taskDefOut{TaskDefinition: td}
	out.Tags = nil
	if !td.RegisteredAt.IsZero() {
		t := epochSeconds(td.RegisteredAt)
		out.RegisteredAt = &t
	}
	if !td.DeregisteredAt.IsZero() {
		t := epochSeconds(td.DeregisteredAt)
		out.DeregisteredAt = &t
	}
	return out
}

func tagsOrEmpty(tags []store.Tag) []store.Tag {
	if tags == nil {
		return []store.Tag{}
	}
	return tags
}

// registerTaskDefinitionInput is the request: the task definition members a
// client may set, plus tags.
type registerTaskDefinitionInput struct {
	Family                  string                      `json:"family"`
	TaskRoleARN             string                      `json:"taskRoleArn"`
	ExecutionRoleARN        string                      `json:"executionRoleArn"`
	NetworkMode             string                      `json:"networkMode"`
	ContainerDefinitions    []store.ContainerDefinition `json:"containerDefinitions"`
	Volumes                 []store.Volume              `json:"volumes"`
	PlacementConstraints    []store.PlacementConstraint `json:"placementConstraints"`
	RequiresCompatibilities []string                    `json:"requiresCompatibilities"`
	RuntimePlatform         *store.RuntimePlatform      `json:"runtimePlatform"`
	CPU                     string                      `json:"cpu"`
	Memory                  string                      `json:"memory"`
	Tags                    []store.Tag                 `json:"tags"`
	PIDMode                 string                      `json:"pidMode"`
	IPCMode                 string                      `json:"ipcMode"`
}

func (in registerTaskDefinitionInput) taskDefinition() store.TaskDefinition {
	return store.TaskDefinition{
		Family:                  in.Family,
		TaskRoleARN:             in.TaskRoleARN,
		ExecutionRoleARN:        in.ExecutionRoleARN,
		NetworkMode:             in.NetworkMode,
		ContainerDefinitions:    in.ContainerDefinitions,
		Volumes:                 in.Volumes,
		PlacementConstraints:    in.PlacementConstraints,
		RequiresCompatibilities: in.RequiresCompatibilities,
		RuntimePlatform:         in.RuntimePlatform,
		CPU:                     in.CPU,
		Memory:                  in.Memory,
		Tags:                    in.Tags,
		PIDMode:                 in.PIDMode,
		IPCMode:                 in.IPCMode,
	}
}

func (a *API) registerTaskDefinition(_ context.Context, _ *http.Request, body []byte) (any, error) {
	if err := checkTaskDefinitionSize(body); err != nil {
		return nil, err
	}
	if err := checkRequestMembers(body); err != nil {
		return nil, err
	}
	var in registerTaskDefinitionInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	td := in.taskDefinition()
	if err := validateTaskDefinition(td); err != nil {
		return nil, err
	}
	if err := validateTags(td.Tags); err != nil {
		return nil, err
	}
	normalizeTaskDefinition(&td)
	td.Status = store.StatusActive
	td.Compatibilities = []string{"EXTERNAL", "EC2"}
	td.RequiresAttributes = requiredAttributes(td)
	td.RegisteredAt = a.now()

	err := a.update(func(tx store.Tx) error {
		// Numbers of deleted revisions are never given again, as in ECS.
		last, err := tx.LastTaskDefinitionRevision(td.Family)
		if err != nil {
			return internal("read task definition revisions", err)
		}
		td.Revision = last + 1
		td.ARN = a.taskDefinitionARN(td.Family, td.Revision)
		if err := tx.PutTaskDefinition(td); err != nil {
			return internal("write task definition", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("task definition registered", logKeyTaskDefinition, td.ARN)
	return map[string]any{"taskDefinition": taskDefView(td), "tags": tagsOrEmpty(td.Tags)}, nil
}

// Health check defaults of ECS, in seconds.
const (
	healthDefaultInterval = 30
	healthDefaultTimeout  = 5
	healthDefaultRetries  = 3
)

// normalizeTaskDefinition turns absent lists into empty ones, which ECS
// sends as [] rather than leaving them out, and fills in ECS defaults.
func normalizeTaskDefinition(td *store.TaskDefinition) {
	td.Volumes = nonNil(td.Volumes)
	td.PlacementConstraints = nonNil(td.PlacementConstraints)
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		c.PortMappings = nonNil(c.PortMappings)
		c.Environment = nonNil(c.Environment)
		c.MountPoints = nonNil(c.MountPoints)
		c.VolumesFrom = nonNil(c.VolumesFrom)
		// ECS answers with its defaults filled in, so what is described is
		// what runs.
		if c.Essential == nil {
			c.Essential = ptrTo(true)
		}
		if hc := c.HealthCheck; hc != nil {
			hc.Interval = cmp.Or(hc.Interval, ptrTo(healthDefaultInterval))
			hc.Timeout = cmp.Or(hc.Timeout, ptrTo(healthDefaultTimeout))
			hc.Retries = cmp.Or(hc.Retries, ptrTo(healthDefaultRetries))
			hc.StartPeriod = cmp.Or(hc.StartPeriod, ptrTo(0))
		}
		for j := range c.PortMappings {
			pm := &c.PortMappings[j]
			if pm.Protocol == "" {
				pm.Protocol = "tcp"
			}
			// In host mode the host port is the container port; ECS
			// fills it in so that what is described is what runs.
			if td.NetworkMode == store.NetworkModeHost && pm.HostPort == nil && pm.ContainerPort != nil {
				hp := *pm.ContainerPort
				pm.HostPort = &hp
			}
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type taskDefinitionRefInput struct {
	TaskDefinition string   `json:"taskDefinition"`
	Include        []string `json:"include"`
}

func (a *API) deregisterTaskDefinition(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in taskDefinitionRefInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.TaskDefinition == "" {
		return nil, invalidParam("taskDefinition can not be blank.")
	}
	ref, ok := a.parseTaskDefRef(in.TaskDefinition)
	if !ok {
		return nil, invalidParam("taskDefinition %q is not a family:revision or a task definition ARN.", in.TaskDefinition)
	}
	if ref.revision == 0 {
		return nil, invalidParam("taskDefinition must name a revision (family:revision or its ARN), not only the family %q.", ref.family)
	}
	var td store.TaskDefinition
	err := a.update(func(tx store.Tx) error {
		var err error
		td, err = tx.TaskDefinition(ref.family, ref.revision)
		if errors.Is(err, store.ErrNotFound) {
			return clientErr(CodeClientException, msgTaskDefDeregister)
		}
		if err != nil {
			return internal("read task definition", err)
		}
		// Deregistering twice is harmless, and so is deregistering a
		// revision being deleted: the revision stays as it was.
		if td.Status != store.StatusActive {
			return nil
		}
		td.Status = store.StatusInactive
		td.DeregisteredAt = a.now()
		if err := tx.PutTaskDefinition(td); err != nil {
			return internal("write task definition", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("task definition deregistered", logKeyTaskDefinition, td.ARN, logging.KeyStatus, td.Status)
	return map[string]any{"taskDefinition": taskDefView(td)}, nil
}

func (a *API) describeTaskDefinition(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in taskDefinitionRefInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.TaskDefinition == "" {
		return nil, invalidParam("taskDefinition can not be blank.")
	}
	for _, inc := range in.Include {
		if inc != "TAGS" {
			return nil, invalidParam("Invalid include value: %s (only TAGS).", inc)
		}
	}
	var td store.TaskDefinition
	err := a.o.Store.View(func(tx store.Tx) error {
		var found bool
		var err error
		td, found, err = a.lookupTaskDefinition(tx, in.TaskDefinition)
		if err != nil {
			return err
		}
		if !found {
			return clientErr(CodeClientException, msgTaskDefDescribe)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string]any{"taskDefinition": taskDefView(td)}
	if slices.Contains(in.Include, "TAGS") {
		out["tags"] = tagsOrEmpty(td.Tags)
	}
	return out, nil
}

type listTaskDefinitionsInput struct {
	listInput
	FamilyPrefix string `json:"familyPrefix"`
	Status       string `json:"status"`
	Sort         string `json:"sort"`
}

// taskDefListKey sorts revisions by family, then numerically by revision:
// the NUL separator sorts below every family character, so "a" comes
// before "a-b", and the fixed-width number puts 10 after 9.
func taskDefListKey(family string, revision int) string {
	return family + "\x00" + strconv.Itoa(1_000_000_000+revision)
}

func (a *API) listTaskDefinitions(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in listTaskDefinitionsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Status == "" {
		in.Status = store.StatusActive
	}
	if !slices.Contains([]string{store.StatusActive, store.StatusInactive, store.TaskDefinitionDeleteInProgress}, in.Status) {
		return nil, invalidParam("status must be ACTIVE, INACTIVE or DELETE_IN_PROGRESS, not %q.", in.Status)
	}
	if in.Sort == "" {
		in.Sort = "ASC"
	}
	if in.Sort != "ASC" && in.Sort != "DESC" {
		return nil, invalidParam("sort must be ASC or DESC, not %q.", in.Sort)
	}
	var keys []string
	err := a.o.Store.View(func(tx store.Tx) error {
		all, err := tx.TaskDefinitions("")
		if err != nil {
			return internal("list task definitions", err)
		}
		for _, td := range all {
			// Despite its name, ECS matches familyPrefix as the whole family.
			if td.Status == in.Status && (in.FamilyPrefix == "" || td.Family == in.FamilyPrefix) {
				keys = append(keys, taskDefListKey(td.Family, td.Revision))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(keys)
	if in.Sort == "DESC" {
		// The paging token is found by binary search over ascending keys;
		// inverting each key keeps that order for the descending list.
		for i, k := range keys {
			keys[i] = invertKey(k)
		}
		slices.Sort(keys)
	}
	return listPage(keys, in.listInput, "taskDefinitionArns", func(k string) string {
		if in.Sort == "DESC" {
			k = invertKey(k)
		}
		family, rev, _ := strings.Cut(k, "\x00")
		n, _ := strconv.Atoi(rev)
		return a.taskDefinitionARN(family, n-1_000_000_000)
	})
}

// invertKey maps each byte b to 255-b, reversing the order of keys of which
// none is a prefix of another (every key ends in ten digits after a colon,
// and families never contain a colon). It is its own inverse.
func invertKey(k string) string {
	b := []byte(k)
	for i := range b {
		b[i] = 255 - b[i]
	}
	return string(b)
}

type listTaskDefinitionFamiliesInput struct {
	listInput
	FamilyPrefix string `json:"familyPrefix"`
	Status       string `json:"status"`
}

// listTaskDefinitionFamilies lists families with an ACTIVE revision
// (status ACTIVE), families with none (INACTIVE), or all (ALL, the default,
// as in ECS).
func (a *API) listTaskDefinitionFamilies(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in listTaskDefinitionFamiliesInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Status == "" {
		in.Status = "ALL"
	}
	if !slices.Contains([]string{store.StatusActive, store.StatusInactive, "ALL"}, in.Status) {
		return nil, invalidParam("status must be ACTIVE, INACTIVE or ALL, not %q.", in.Status)
	}
	active := map[string]bool{}
	err := a.o.Store.View(func(tx store.Tx) error {
		all, err := tx.TaskDefinitions("")
		if err != nil {
			return internal("list task definitions", err)
		}
		for _, td := range all {
			if strings.HasPrefix(td.Family, in.FamilyPrefix) {
				active[td.Family] = active[td.Family] || td.Status == store.StatusActive
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var families []string
	for family, isActive := range active {
		if in.Status == "ALL" || isActive == (in.Status == store.StatusActive) {
			families = append(families, family)
		}
	}
	slices.Sort(families)
	return listPage(families, in.listInput, "families", func(k string) string { return k })
}
