package ecsapi

import (
	"encoding/base64"
	"sort"
)

const (
	defaultMaxResults = 100
	maxMaxResults     = 100
)

// paginate returns the page of sorted keys after the one named by token, and
// the token for the next page ("" on the last). The token is the last key
// returned, so a page stays correct when items are added or removed between
// calls.
func paginate(keys []string, token string, maxResults *int) ([]string, string, error) {
	limit := defaultMaxResults
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > maxMaxResults {
			return nil, "", invalidParam("maxResults must be between 1 and %d.", maxMaxResults)
		}
		limit = *maxResults
	}
	start := 0
	if token != "" {
		last, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(last) == 0 {
			return nil, "", invalidParam("Invalid nextToken.")
		}
		start = sort.SearchStrings(keys, string(last))
		if start < len(keys) && keys[start] == string(last) {
			start++
		}
	}
	end := min(start+limit, len(keys))
	page := keys[start:end]
	if end < len(keys) {
		return page, base64.RawURLEncoding.EncodeToString([]byte(keys[end-1])), nil
	}
	return page, "", nil
}

// listInput holds the paging members every List* operation takes.
type listInput struct {
	NextToken  string `json:"nextToken"`
	MaxResults *int   `json:"maxResults"`
}

// listPage answers a List* operation: the page of sorted keys that in asks
// for, each turned into an ARN by arn, under member, with nextToken when more
// pages follow.
func listPage(keys []string, in listInput, member string, arn func(key string) string) (map[string]any, error) {
	page, next, err := paginate(keys, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	arns := make([]string, 0, len(page))
	for _, k := range page {
		arns = append(arns, arn(k))
	}
	out := map[string]any{member: arns}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}
