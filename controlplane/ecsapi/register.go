package ecsapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

type registerInput struct {
	Cluster                           string                 `json:"cluster"`
	InstanceIdentityDocument          string                 `json:"instanceIdentityDocument"`
	InstanceIdentityDocumentSignature string                 `json:"instanceIdentityDocumentSignature"`
	TotalResources                    []store.Resource       `json:"totalResources"`
	VersionInfo                       *store.VersionInfo     `json:"versionInfo"`
	ContainerInstanceArn              string                 `json:"containerInstanceArn"`
	Attributes                        []store.Attribute      `json:"attributes"`
	PlatformDevices                   []store.PlatformDevice `json:"platformDevices"`
	Tags                              []store.Tag            `json:"tags"`
	ClientToken                       string                 `json:"clientToken"`
}

// identityDocument holds the members of the EC2 instance identity document
// that ECS turns into instance data.
type identityDocument struct {
	InstanceID       string `json:"instanceId"`
	AvailabilityZone string `json:"availabilityZone"`
	InstanceType     string `json:"instanceType"`
	ImageID          string `json:"imageId"`
}

func (in *registerInput) validate() (identityDocument, error) {
	var doc identityDocument
	// Off EC2 (no IMDS) the agent sends an empty document; that is fine.
	if in.InstanceIdentityDocument != "" {
		if err := json.Unmarshal([]byte(in.InstanceIdentityDocument), &doc); err != nil {
			return doc, invalidParam("instanceIdentityDocument is not a valid instance identity document.")
		}
	}
	for _, attr := range in.Attributes {
		if err := validateAttribute(attr); err != nil {
			return doc, err
		}
	}
	if err := validateResources(in.TotalResources); err != nil {
		return doc, err
	}
	if err := validateClientToken(in.ClientToken); err != nil {
		return doc, err
	}
	for _, dev := range in.PlatformDevices {
		if dev.ID == "" || (dev.Type != "GPU" && dev.Type != "NEURON_DEVICE") {
			return doc, invalidParam("platformDevices need an id and a type of GPU or NEURON_DEVICE.")
		}
	}
	return doc, validateTags(in.Tags)
}

// derivedAttributes are the attributes ECS adds from the identity document.
func derivedAttributes(doc identityDocument) []store.Attribute {
	var out []store.Attribute
	add := func(name, value string) {
		if value != "" {
			out = append(out, store.Attribute{Name: name, Value: &value})
		}
	}
	add("ecs.availability-zone", doc.AvailabilityZone)
	add("ecs.instance-type", doc.InstanceType)
	add("ecs.ami-id", doc.ImageID)
	return out
}

// mergeByKey overlays update on base: an item replaces the one with the
// same key, or is appended. Re-registration only sends some attributes
// (custom ones go on the first registration only), so the others must
// survive it; tags merge the same way.
func mergeByKey[T any](base, update []T, key func(T) string) []T {
	out := append([]T(nil), base...)
	for _, u := range update {
		i := slices.IndexFunc(out, func(o T) bool { return key(o) == key(u) })
		if i >= 0 {
			out[i] = u
		} else {
			out = append(out, u)
		}
	}
	return out
}

func attributeName(a store.Attribute) string { return a.Name }

func tagKey(t store.Tag) string { return t.Key }

// registerContainerInstance registers a new instance, or re-registers an
// existing one when the request names its ARN, repeats the clientToken that
// registered it, or comes from an EC2 instance that already has a live
// registration in the cluster: the ARN stays, the resources, version info
// and attributes are updated.
//
// A new instance belongs to the access key that registered it; only that
// key (or an admin key) may re-register it. An instance registered before
// owners were recorded is claimed by the first key that re-registers it.
func (a *API) registerContainerInstance(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var in registerInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	doc, err := in.validate()
	if err != nil {
		return nil, err
	}
	principal := principalOf(ctx)

	var ci store.ContainerInstance
	reregistered, claimed := false, false
	err = a.update(func(tx store.Tx) error {
		reregistered, claimed = false, false
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		existing, found, err := a.findRegistration(tx, c.Name, in, doc.InstanceID)
		if err != nil {
			return err
		}
		// A new or ownerless instance needs the operation; an owned one its owner.
		var inst *authz.Instance
		if found && existing.Owner != "" {
			inst = &authz.Instance{ARN: existing.ARN, Owner: existing.Owner}
		}
		if err := principal.Authorize(opRegister, inst); err != nil {
			return err
		}
		now := a.now()
		if found {
			if existing.Owner == "" {
				existing.Owner, claimed = principal.AccessKeyID, true
			}
			ci, reregistered = existing, true
			ci.Version++
		} else {
			id := newInstanceID()
			ci = store.ContainerInstance{
				ID:           id,
				Cluster:      c.Name,
				ARN:          a.instanceARN(c.Name, id),
				Status:       store.StatusActive,
				Version:      1,
				Owner:        principal.AccessKeyID,
				RegisteredAt: now,
			}
		}
		if doc.InstanceID != "" {
			ci.EC2InstanceID = doc.InstanceID
		}
		if in.VersionInfo != nil {
			ci.VersionInfo = *in.VersionInfo
		}
		if in.TotalResources != nil {
			ci.RegisteredResources = in.TotalResources
		}
		if in.PlatformDevices != nil {
			ci.PlatformDevices = in.PlatformDevices
		}
		ci.Attributes = mergeByKey(mergeByKey(ci.Attributes, derivedAttributes(doc), attributeName), in.Attributes, attributeName)
		ci.Tags = mergeByKey(ci.Tags, in.Tags, tagKey)
		ci.UpdatedAt = now
		if err := tx.PutInstance(ci); err != nil {
			return internal("write container instance", err)
		}
		return a.recordRegistrationToken(tx, c.Name, in.ClientToken, ci.ARN)
	})
	if err != nil {
		return nil, err
	}
	msg := "container instance registered"
	if reregistered {
		msg = "container instance re-registered"
	}
	a.log.Info(msg, logging.KeyContainerInstance, ci.ARN, logging.KeyAccessKeyID, principal.AccessKeyID)
	if claimed {
		a.log.Warn("container instance had no recorded owner; it now belongs to the key that re-registered it",
			logging.KeyContainerInstance, ci.ARN, logging.KeyAccessKeyID, principal.AccessKeyID)
	}
	return map[string]any{"containerInstance": instanceView(ci, true)}, nil
}

// findRegistration finds the registration a request refers to: by ARN when
// given (which must exist and be live), else the live instance its
// clientToken registered, else by EC2 instance ID among the cluster's live
// instances.
func (a *API) findRegistration(tx store.Tx, cluster string, in registerInput, ec2InstanceID string) (store.ContainerInstance, bool, error) {
	if arn := in.ContainerInstanceArn; arn != "" {
		ref, ok := a.parseInstanceRef(arn)
		if !ok || (ref.isARN && ref.cluster != cluster) {
			return store.ContainerInstance{}, false, clientErr(CodeClientException, "Container instance %s not found.", arn)
		}
		ci, err := tx.Instance(cluster, ref.id)
		if errors.Is(err, store.ErrNotFound) {
			return ci, false, clientErr(CodeClientException, "Container instance %s not found.", ref.id)
		}
		if err != nil {
			return ci, false, internal("read container instance", err)
		}
		if ci.Status == store.StatusInactive {
			return ci, false, clientErr(CodeClientException, "Container instance %s is inactive.", ref.id)
		}
		return ci, true, nil
	}
	if ci, found, err := a.tokenRegistration(tx, cluster, in.ClientToken); found || err != nil {
		return ci, found, err
	}
	if ec2InstanceID == "" {
		return store.ContainerInstance{}, false, nil
	}
	instances, err := tx.Instances(cluster)
	if err != nil {
		return store.ContainerInstance{}, false, internal("list container instances", err)
	}
	for _, ci := range instances {
		if ci.EC2InstanceID == ec2InstanceID && ci.Status != store.StatusInactive {
			return ci, true, nil
		}
	}
	return store.ContainerInstance{}, false, nil
}
