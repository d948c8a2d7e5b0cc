package agent

import (
	"runtime"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/open-ecs/ecs-agent/engine/dockerapi"
)

// Attribute names the agent sends (reference §4).
const (
	attrOSType           = "ecs.os-type"
	attrOSFamily         = "ecs.os-family"
	attrCPUArchitecture  = "ecs.cpu-architecture"
	attrAvailabilityZone = "ecs.availability-zone" // returned by the backend, never sent

	capabilityPrefixLegacy = "com.amazonaws.ecs.capability."
)

// dockerRemoteAPIVersions are the docker-remote-api capabilities the
// incumbent advertises: 1.17 to 1.32, except 1.26, 1.27 and 1.31.
var dockerRemoteAPIVersions = []string{
	"1.17", "1.18", "1.19", "1.20", "1.21", "1.22", "1.23", "1.24", "1.25",
	"1.28", "1.29", "1.30", "1.32",
}

// cpuArchitecture maps GOARCH to the names ECS uses.
func cpuArchitecture(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "386":
		return "i386"
	default:
		return goarch // arm64 and the rest are spelled the same
	}
}

// registrationAttributes lists what this agent really supports today: the
// OS attributes and the Docker API versions the engine accepts. Capabilities
// that depend on the task engine (logging drivers, privileged, task IAM
// roles, ECR) are added with the engine, not promised before. custom
// (ECS_INSTANCE_ATTRIBUTES) is included only on first registration, as the
// incumbent does; pass nil on re-registration.
func registrationAttributes(docker dockerapi.VersionInfo, custom map[string]string) []ecstypes.Attribute {
	attrs := []ecstypes.Attribute{
		{Name: aws.String(attrOSType), Value: aws.String("linux")},
		{Name: aws.String(attrOSFamily), Value: aws.String("LINUX")},
		{Name: aws.String(attrCPUArchitecture), Value: aws.String(cpuArchitecture(runtime.GOARCH))},
	}
	for _, v := range dockerRemoteAPIVersions {
		if docker.Supports(v) {
			attrs = append(attrs, ecstypes.Attribute{Name: aws.String(capabilityPrefixLegacy + "docker-remote-api." + v)})
		}
	}
	names := make([]string, 0, len(custom))
	for k := range custom {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		attrs = append(attrs, ecstypes.Attribute{Name: aws.String(k), Value: aws.String(custom[k])})
	}
	return attrs
}

// missingAttributes returns the sent attributes that the backend did not
// echo back with the same value. An empty returned list means the backend
// does not echo attributes, which is not a mismatch.
func missingAttributes(sent, returned []ecstypes.Attribute) []string {
	if len(returned) == 0 {
		return nil
	}
	have := make(map[string]string, len(returned))
	for _, a := range returned {
		have[aws.ToString(a.Name)] = aws.ToString(a.Value)
	}
	var missing []string
	for _, a := range sent {
		name := aws.ToString(a.Name)
		if v, ok := have[name]; !ok || v != aws.ToString(a.Value) {
			missing = append(missing, name)
		}
	}
	return missing
}

// attributeValue returns the value of the named attribute, or "".
func attributeValue(attrs []ecstypes.Attribute, name string) string {
	for _, a := range attrs {
		if aws.ToString(a.Name) == name {
			return aws.ToString(a.Value)
		}
	}
	return ""
}
