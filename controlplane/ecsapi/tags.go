package ecsapi

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Tag rules of ECS (API reference, Tag and TagResource): at most 50 tags
// per resource, not counting the aws: ones, which only ECS sets; keys of
// 1 to 128 and values of up to 256 Unicode characters, of letters, numbers,
// spaces and + - = . _ : / @; each key once.
const (
	maxTags           = 50
	maxTagKeyLength   = 128
	maxTagValueLength = 256
	reservedTagPrefix = "aws:"
)

// Codes of the tagging operations.
const CodeResourceNotFound = "ResourceNotFoundException"

var tagTextRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func reservedTag(s string) bool {
	return len(s) >= len(reservedTagPrefix) && strings.EqualFold(s[:len(reservedTagPrefix)], reservedTagPrefix)
}

// validateTags checks the tags a request sets (its "tags" member): ECS's
// limits, each key once, and no aws: prefix, which is ECS's own.
func validateTags(tags []store.Tag) error {
	if len(tags) > maxTags {
		return invalidParam("Tags can have at most %d entries; tags has %d.", maxTags, len(tags))
	}
	seen := map[string]bool{}
	for i, t := range tags {
		if err := validateTag(i, t); err != nil {
			return err
		}
		if seen[t.Key] {
			return invalidParam("tags[%d]: the key %q is given twice; each key can have only one value.", i, t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

func validateTag(i int, t store.Tag) error {
	switch n := utf8.RuneCountInString(t.Key); {
	case n == 0:
		return invalidParam("tags[%d].key can not be blank.", i)
	case n > maxTagKeyLength:
		return invalidParam("tags[%d].key has %d characters; at most %d are allowed.", i, n, maxTagKeyLength)
	}
	if n := utf8.RuneCountInString(t.Value); n > maxTagValueLength {
		return invalidParam("tags[%d].value (key %q) has %d characters; at most %d are allowed.", i, t.Key, n, maxTagValueLength)
	}
	if !tagTextRE.MatchString(t.Key) || !tagTextRE.MatchString(t.Value) {
		return invalidParam("tags[%d] (key %q): keys and values may contain only letters, numbers, spaces and + - = . _ : / @.", i, t.Key)
	}
	if reservedTag(t.Key) || reservedTag(t.Value) {
		return invalidParam("tags[%d] (key %q): the aws: prefix is reserved for tags AWS sets; use another key and value.", i, t.Key)
	}
	return nil
}

// mergeTags sets each of update's tags on base, replacing a tag with the
// same key, and refuses a result with more than maxTags tags of the user's.
func mergeTags(base, update []store.Tag) ([]store.Tag, error) {
	out := mergeByKey(base, update, tagKey)
	if n := countUserTags(out); n > maxTags {
		return nil, invalidParam("The resource would have %d tags; at most %d are allowed (aws: tags do not count). Remove some with UntagResource first.", n, maxTags)
	}
	return out, nil
}

// tagOps returns the tagging operations.
func (a *API) tagOps() map[string]opFunc {
	return map[string]opFunc{
		"TagResource":         a.tagResource,
		"UntagResource":       a.untagResource,
		"ListTagsForResource": a.listTagsForResource,
	}
}

type tagResourceInput struct {
	ResourceArn string      `json:"resourceArn"`
	Tags        []store.Tag `json:"tags"`
}

// tagResource adds or replaces tags; the resource's other tags stay.
func (a *API) tagResource(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in tagResourceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ResourceArn == "" {
		return nil, invalidParam("resourceArn can not be blank.")
	}
	if len(in.Tags) == 0 {
		return nil, invalidParam("tags can not be empty: give at least one tag.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	err := a.changeTags(in.ResourceArn, func(tags []store.Tag) ([]store.Tag, error) {
		return mergeTags(tags, in.Tags)
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("resource tagged", logging.KeyResource, in.ResourceArn, logging.KeyCount, len(in.Tags))
	return struct{}{}, nil
}

type untagResourceInput struct {
	ResourceArn string   `json:"resourceArn"`
	TagKeys     []string `json:"tagKeys"`
}

// untagResource removes the tags with the given keys; keys the resource
// does not have are no error.
func (a *API) untagResource(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in untagResourceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ResourceArn == "" {
		return nil, invalidParam("resourceArn can not be blank.")
	}
	if len(in.TagKeys) == 0 {
		return nil, invalidParam("tagKeys can not be empty: give the keys of the tags to remove.")
	}
	for i, k := range in.TagKeys {
		if k == "" || utf8.RuneCountInString(k) > maxTagKeyLength {
			return nil, invalidParam("tagKeys[%d] must have 1 to %d characters.", i, maxTagKeyLength)
		}
		if reservedTag(k) {
			return nil, invalidParam("tagKeys[%d] %q: tags with the aws: prefix are set by AWS and can not be removed.", i, k)
		}
	}
	err := a.changeTags(in.ResourceArn, func(tags []store.Tag) ([]store.Tag, error) {
		return slices.DeleteFunc(slices.Clone(tags), func(t store.Tag) bool { return slices.Contains(in.TagKeys, t.Key) }), nil
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("resource untagged", logging.KeyResource, in.ResourceArn, logging.KeyCount, len(in.TagKeys))
	return struct{}{}, nil
}

// changeTags finds the resource arn names and writes it back with the tags
// change returns, in one transaction. A missing resource is
// ResourceNotFoundException (a missing cluster ClusterNotFoundException).
func (a *API) changeTags(arn string, change func([]store.Tag) ([]store.Tag, error)) error {
	return a.update(func(tx store.Tx) error {
		r, err := a.lookupTagged(tx, arn)
		if errors.Is(err, errNoResource) {
			return clientErr(CodeResourceNotFound, "The specified resource was not found: %s.", arn)
		}
		if err != nil {
			return err
		}
		tags, err := change(r.tags)
		if err != nil {
			return err
		}
		if len(tags) == 0 {
			tags = nil
		}
		return r.save(tags)
	})
}

type listTagsInput struct {
	ResourceArn string `json:"resourceArn"`
}

// listTagsForResource answers with the resource's tags, aws: ones
// included. A missing resource is InvalidParameterException here: the
// model gives this operation no ResourceNotFoundException.
func (a *API) listTagsForResource(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in listTagsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ResourceArn == "" {
		return nil, invalidParam("resourceArn can not be blank.")
	}
	var tags []store.Tag
	err := a.o.Store.View(func(tx store.Tx) error {
		r, err := a.lookupTagged(tx, in.ResourceArn)
		if errors.Is(err, errNoResource) {
			return invalidParam("The specified resource was not found: %s.", in.ResourceArn)
		}
		tags = r.tags
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"tags": tagsOrEmpty(tags)}, nil
}
