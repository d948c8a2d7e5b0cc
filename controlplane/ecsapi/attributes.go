package ecsapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Custom attributes are set with PutAttributes on container instances,
// next to the ones the agent registers and ECS derives. They take part in
// placement (memberOf, requiresAttributes, spread) and in
// ListContainerInstances' filter like any other, and a re-registration of
// the instance keeps them: it only replaces the attributes it sends.
const (
	// maxAttributesPerCall is ECS's limit on PutAttributes and
	// DeleteAttributes.
	maxAttributesPerCall = 10
	// maxCustomAttributes is ECS's limit of custom attributes per resource.
	maxCustomAttributes = 10
	targetTypeInstance  = "container-instance"

	CodeAttributeLimitExceeded = "AttributeLimitExceededException"
	CodeTargetNotFound         = "TargetNotFoundException"
)

// reservedAttributePrefixes start the names of the attributes the agent
// reports and ECS derives (ecs.os-type, ecs.capability.*,
// com.amazonaws.ecs.capability.*). They describe what an instance can do,
// so PutAttributes and DeleteAttributes leave them alone: a forged
// capability would place tasks where they cannot run.
var reservedAttributePrefixes = []string{"ecs.", "com.amazonaws.ecs."}

func customAttribute(name string) bool {
	return !slices.ContainsFunc(reservedAttributePrefixes, func(p string) bool { return strings.HasPrefix(name, p) })
}

// attributeOps returns the attribute operations.
func (a *API) attributeOps() map[string]opFunc {
	return map[string]opFunc{
		"PutAttributes":    a.putAttributes,
		"ListAttributes":   a.listAttributes,
		"DeleteAttributes": a.deleteAttributes,
	}
}

type attributesInput struct {
	Cluster    string            `json:"cluster"`
	Attributes []store.Attribute `json:"attributes"`
}

// validate checks the attributes of a PutAttributes or DeleteAttributes
// request before the store is read.
func (in attributesInput) validate() error {
	if len(in.Attributes) == 0 {
		return invalidParam("attributes can not be empty.")
	}
	if len(in.Attributes) > maxAttributesPerCall {
		return invalidParam("attributes has %d entries; at most %d are allowed in one call.", len(in.Attributes), maxAttributesPerCall)
	}
	for i, attr := range in.Attributes {
		if err := validateAttribute(attr); err != nil {
			var e *Error
			if errors.As(err, &e) {
				return invalidParam("attributes[%d]: %s", i, e.Message)
			}
			return err
		}
		if !customAttribute(attr.Name) {
			return invalidParam("attributes[%d].name %q: names starting with %s are the agent's and ECS's own; choose another name.",
				i, attr.Name, strings.Join(reservedAttributePrefixes, " or "))
		}
		if attr.TargetID == "" {
			return invalidParam("attributes[%d].targetId can not be blank: name the container instance by its ID or ARN.", i)
		}
		if !strings.HasPrefix(attr.TargetID, "arn:") && attr.TargetType == "" {
			return invalidParam("attributes[%d].targetType must be %s when targetId is a short ID (%s).", i, targetTypeInstance, attr.TargetID)
		}
	}
	return nil
}

// attributeTargets resolves each attribute's target, in request order, to
// the container instance it names in cluster; an instance named twice is
// the same value, so changes add up.
type attributeTargets struct {
	byID  map[string]*store.ContainerInstance
	order []string // instance IDs, first named first
}

func (a *API) resolveTargets(tx store.Tx, cluster string, attrs []store.Attribute) (attributeTargets, []string, error) {
	ts := attributeTargets{byID: map[string]*store.ContainerInstance{}}
	ids := make([]string, len(attrs)) // the instance of each attribute
	for i, attr := range attrs {
		ci, found, err := a.lookupInstance(tx, cluster, attr.TargetID)
		if err != nil {
			return ts, nil, err
		}
		if !found {
			return ts, nil, clientErr(CodeTargetNotFound, "Could not find container instance %s in cluster %s (attributes[%d].targetId).", attr.TargetID, cluster, i)
		}
		if ci.Status == store.StatusInactive {
			return ts, nil, clientErr(CodeTargetNotFound, "Container instance %s is INACTIVE (deregistered) (attributes[%d].targetId).", ci.ARN, i)
		}
		if _, seen := ts.byID[ci.ID]; !seen {
			ts.byID[ci.ID] = &ci
			ts.order = append(ts.order, ci.ID)
		}
		ids[i] = ci.ID
	}
	return ts, ids, nil
}

// write stores every instance whose attributes changed, each one version on.
func (a *API) writeTargets(tx store.Tx, ts attributeTargets) error {
	now := a.now()
	for _, id := range ts.order {
		ci := ts.byID[id]
		ci.Version++
		ci.UpdatedAt = now
		if err := tx.PutInstance(*ci); err != nil {
			return internal("write container instance", err)
		}
	}
	return nil
}

// answered is an attribute as PutAttributes and DeleteAttributes answer
// with it: its target by type and full ARN.
func answered(attr store.Attribute, ci *store.ContainerInstance) store.Attribute {
	return store.Attribute{Name: attr.Name, Value: attr.Value, TargetType: targetTypeInstance, TargetID: ci.ARN}
}

// putAttributes sets custom attributes on container instances: a new name
// is added, an existing one gets the new value.
func (a *API) putAttributes(_ context.Context, _ *http.Request, body []byte) (any, error) {
	return a.changeAttributes(body, "attribute set", func(_ int, attr store.Attribute, ci *store.ContainerInstance) error {
		set := store.Attribute{Name: attr.Name, Value: attr.Value}
		ci.Attributes = mergeByKey(ci.Attributes, []store.Attribute{set}, attributeName)
		return nil
	}, checkCustomAttributeLimit)
}

// checkCustomAttributeLimit refuses a change that leaves an instance with
// more custom attributes than ECS allows.
func checkCustomAttributeLimit(ts attributeTargets) error {
	for _, id := range ts.order {
		ci := ts.byID[id]
		n := 0
		for _, attr := range ci.Attributes {
			if customAttribute(attr.Name) {
				n++
			}
		}
		if n > maxCustomAttributes {
			return clientErr(CodeAttributeLimitExceeded, "Container instance %s would have %d custom attributes; at most %d are allowed. Remove some with DeleteAttributes first.",
				ci.ARN, n, maxCustomAttributes)
		}
	}
	return nil
}

// deleteAttributes removes custom attributes from container instances. A
// value, when given, must be the attribute's: it names what is deleted. An
// attribute the instance does not have is no error.
func (a *API) deleteAttributes(_ context.Context, _ *http.Request, body []byte) (any, error) {
	return a.changeAttributes(body, "attribute deleted", func(i int, attr store.Attribute, ci *store.ContainerInstance) error {
		j := slices.IndexFunc(ci.Attributes, func(x store.Attribute) bool { return x.Name == attr.Name })
		if j >= 0 && attr.Value != nil && ptrValue(ci.Attributes[j].Value) != *attr.Value {
			return invalidParam("attributes[%d]: container instance %s has %s = %q, not %q; leave value out to delete the attribute by name.",
				i, ci.ARN, attr.Name, ptrValue(ci.Attributes[j].Value), *attr.Value)
		}
		if j >= 0 {
			ci.Attributes = slices.Delete(ci.Attributes, j, j+1)
		}
		return nil
	}, nil)
}

// changeAttributes is PutAttributes and DeleteAttributes: it applies
// change to each requested attribute's instance, then check (if any) to
// all of them, writes them in one transaction and answers with the
// attributes, logging each as what.
func (a *API) changeAttributes(body []byte, what string, change func(int, store.Attribute, *store.ContainerInstance) error,
	check func(attributeTargets) error) (any, error) {
	var in attributesInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	out := make([]store.Attribute, 0, len(in.Attributes))
	err := a.update(func(tx store.Tx) error {
		out = out[:0]
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		ts, ids, err := a.resolveTargets(tx, c.Name, in.Attributes)
		if err != nil {
			return err
		}
		for i, attr := range in.Attributes {
			ci := ts.byID[ids[i]]
			if err := change(i, attr, ci); err != nil {
				return err
			}
			out = append(out, answered(attr, ci))
		}
		if check != nil {
			if err := check(ts); err != nil {
				return err
			}
		}
		return a.writeTargets(tx, ts)
	})
	if err != nil {
		return nil, err
	}
	for _, attr := range out {
		a.log.Info(what, logging.KeyContainerInstance, attr.TargetID, logging.KeyKey, attr.Name)
	}
	return map[string]any{"attributes": out}, nil
}

type listAttributesInput struct {
	Cluster        string  `json:"cluster"`
	TargetType     string  `json:"targetType"`
	AttributeName  string  `json:"attributeName"`
	AttributeValue *string `json:"attributeValue"`
	listInput
}

// listAttributes lists the attributes of the cluster's registered (not
// INACTIVE) container instances, every kind, one entry per attribute and
// instance, by instance and name.
func (a *API) listAttributes(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in listAttributesInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.TargetType != targetTypeInstance {
		return nil, invalidParam("targetType must be %s, not %q.", targetTypeInstance, in.TargetType)
	}
	if in.AttributeValue != nil && in.AttributeName == "" {
		return nil, invalidParam("attributeValue needs attributeName: name the attribute whose value to match.")
	}
	var keys []string
	byKey := map[string]store.Attribute{}
	err := a.o.Store.View(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		instances, err := tx.Instances(c.Name)
		if err != nil {
			return internal("list container instances", err)
		}
		for _, ci := range instances {
			if ci.Status == store.StatusInactive {
				continue
			}
			for _, attr := range ci.Attributes {
				if (in.AttributeName != "" && attr.Name != in.AttributeName) ||
					(in.AttributeValue != nil && (attr.Value == nil || *attr.Value != *in.AttributeValue)) {
					continue
				}
				// Instance IDs have one length, so these keys sort by
				// instance, then name.
				key := ci.ID + "/" + attr.Name
				keys = append(keys, key)
				byKey[key] = answered(attr, &ci)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(keys)
	page, next, err := paginate(keys, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	attrs := make([]store.Attribute, 0, len(page))
	for _, k := range page {
		attrs = append(attrs, byKey[k])
	}
	out := map[string]any{"attributes": attrs}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}
