package ecsapi

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// Limits of the ECS Attribute shape (API reference, Attribute).
const maxAttributeLength = 128

var (
	attributeNameRE  = regexp.MustCompile(`^[A-Za-z0-9\-_/\\.]+$`)
	attributeValueRE = regexp.MustCompile(`^[A-Za-z0-9\-_.@/\\: ]+$`)
)

// validateAttribute applies ECS's rules for an attribute's name and value.
func validateAttribute(attr store.Attribute) error {
	switch {
	case attr.Name == "":
		return invalidParam("Attribute name can not be blank.")
	case len(attr.Name) > maxAttributeLength:
		return invalidParam("Attribute name %s... has %d characters; at most %d are allowed.", attr.Name[:40], len(attr.Name), maxAttributeLength)
	case !attributeNameRE.MatchString(attr.Name):
		return invalidParam("Attribute name %q is invalid: use letters, numbers, hyphens, underscores, slashes, back slashes and periods.", attr.Name)
	case attr.TargetType != "" && attr.TargetType != "container-instance":
		return invalidParam("Invalid attribute targetType: %s", attr.TargetType)
	case attr.Value == nil:
		return nil
	}
	v := *attr.Value
	switch {
	case v == "" || len(v) > maxAttributeLength:
		return invalidParam("The value of attribute %s has %d characters; it must have 1 to %d.", attr.Name, len(v), maxAttributeLength)
	case !attributeValueRE.MatchString(v) || strings.HasPrefix(v, " ") || strings.HasSuffix(v, " "):
		return invalidParam("The value of attribute %s is invalid: use letters, numbers, hyphens, underscores, periods, at signs, "+
			"slashes, back slashes, colons and spaces, and no space at either end.", attr.Name)
	}
	return nil
}

// Resource types ECS knows (API reference, Resource).
var resourceTypes = map[string]bool{"INTEGER": true, "LONG": true, "DOUBLE": true, "STRINGSET": true}

// wantType is the type the scheduler reads the well-known resources as.
var wantType = map[string]string{"CPU": "INTEGER", "MEMORY": "INTEGER", "PORTS": "STRINGSET", "PORTS_UDP": "STRINGSET"}

// validateResources refuses what would be stored as nonsense capacity:
// blank or repeated names, unknown types, negative amounts, the well-known
// resources in another type than the scheduler reads, and ports that are
// not port numbers.
func validateResources(resources []store.Resource) error {
	seen := map[string]bool{}
	for i, r := range resources {
		field := "totalResources[" + strconv.Itoa(i) + "]"
		switch {
		case r.Name == "":
			return invalidParam("%s: the resource name can not be blank.", field)
		case seen[r.Name]:
			return invalidParam("%s: resource %s is listed more than once; give each resource once.", field, r.Name)
		case !resourceTypes[r.Type]:
			return invalidParam("%s: resource %s has type %q; use INTEGER, LONG, DOUBLE or STRINGSET.", field, r.Name, r.Type)
		case wantType[r.Name] != "" && r.Type != wantType[r.Name]:
			return invalidParam("%s: resource %s must have type %s, not %s.", field, r.Name, wantType[r.Name], r.Type)
		case r.IntegerValue < 0 || r.LongValue < 0 || r.DoubleValue < 0:
			return invalidParam("%s: resource %s can not be negative.", field, r.Name)
		}
		seen[r.Name] = true
		if r.Name == "PORTS" || r.Name == "PORTS_UDP" {
			for _, p := range r.StringSetValue {
				if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 || strconv.Itoa(n) != p {
					return invalidParam("%s: resource %s lists %q, which is not a port number (0-65535).", field, r.Name, p)
				}
			}
		}
	}
	return nil
}

// Client tokens: up to 64 ASCII characters in the range 33-126 (API
// reference, RunTask clientToken).
const maxClientTokenLength = 64

func validateClientToken(token string) error {
	if len(token) > maxClientTokenLength {
		return invalidParam("clientToken has %d characters; at most %d are allowed.", len(token), maxClientTokenLength)
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c < 33 || c > 126 {
			return invalidParam("clientToken may only contain ASCII characters 33 to 126 (no spaces or control characters).")
		}
	}
	return nil
}
