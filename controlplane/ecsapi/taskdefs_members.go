package ecsapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// What this control plane does with every member of a task definition
// (the ECS TaskDefinition shape, the members RegisterTaskDefinition takes,
// and the shapes nested in them). RegisterTaskDefinition walks the request
// against this table before it decodes it, so a member is never dropped
// without a word: one the table does not know, one ECS sets itself, and one
// this control plane refuses all fail with a ClientException naming the
// member. TestTaskDefMembersMatchModel keeps the table equal to the ECS
// model, so a member added to the model later fails the test until someone
// decides what to do with it.

// disposition is what happens to one member.
type disposition int

const (
	// actedOn: validated, stored, described, and sent to the agent, which
	// acts on it (some need a Docker API version the agent advertises).
	actedOn disposition = iota + 1
	// described: validated, stored and described; it changes nothing that
	// runs by itself (portMappings.name, used only by Service Connect).
	described
	// gated: stored, described and sent to the agent as it is, but
	// requiredAttributes makes the task need an attribute (or placement a
	// resource) that an agent has only when it implements the feature.
	gated
	// refused: RegisterTaskDefinition fails with a ClientException naming
	// the member and saying why.
	refused
	// outputOnly: set by ECS; refused in a request.
	outputOnly
)

// memberRule is the table entry of one member.
type memberRule struct {
	disp disposition
	// shape is the structure shape of the member's value ("X"), or of its
	// items ("[]X"), walked with its own table; "" when it holds none.
	shape string
	// why says, for a refused member, why and what to do instead.
	why string
}

var (
	act      = memberRule{disp: actedOn}
	describe = memberRule{disp: described}
	gate     = memberRule{disp: gated}
	out      = memberRule{disp: outputOnly}
)

func actOn(shape string) memberRule  { return memberRule{disp: actedOn, shape: shape} }
func gateOn(shape string) memberRule { return memberRule{disp: gated, shape: shape} }
func refuse(why string) memberRule   { return memberRule{disp: refused, why: why} }

// taskDefMembers is the table. "TaskDefinition" covers the members of both
// the TaskDefinition shape and RegisterTaskDefinition's request: tags is
// request-only; the output-only ones are the rest of TaskDefinition's.
var taskDefMembers = map[string]map[string]memberRule{
	"TaskDefinition": {
		"family": act, "networkMode": act, "cpu": act, "memory": act, "pidMode": act, "ipcMode": act,
		"requiresCompatibilities": act,
		"tags":                    actOn("[]Tag"),
		"containerDefinitions":    actOn("[]ContainerDefinition"),
		"volumes":                 actOn("[]Volume"),
		"placementConstraints":    actOn("[]TaskDefinitionPlacementConstraint"),
		"runtimePlatform":         actOn("RuntimePlatform"),
		// The control plane issues both roles' credentials (controlplane/roles)
		// and the agent serves the task role's to the containers; the task
		// role needs com.amazonaws.ecs.capability.task-iam-role(-network-host).
		// What uses the execution role (awslogs, ECR pulls, secrets, env
		// files) is gated by its own attributes.
		"taskRoleArn":           act,
		"executionRoleArn":      act,
		"proxyConfiguration":    refuse("proxyConfiguration (App Mesh) needs networkMode awsvpc, which this control plane does not support; remove it."),
		"inferenceAccelerators": refuse("inferenceAccelerators (Elastic Inference) are not supported by this control plane; remove them."),
		"ephemeralStorage":      refuse("ephemeralStorage applies to Fargate tasks only, which this control plane does not run; remove it."),
		"taskDefinitionArn":     out, "revision": out, "status": out, "requiresAttributes": out, "compatibilities": out,
		"registeredAt": out, "deregisteredAt": out, "registeredBy": out,
	},
	"ContainerDefinition": {
		"name": act, "image": act, "cpu": act, "memory": act, "memoryReservation": act, "links": act,
		"essential": act, "entryPoint": act, "command": act, "startTimeout": act, "stopTimeout": act,
		"hostname": act, "user": act, "workingDirectory": act, "disableNetworking": act, "privileged": act,
		"readonlyRootFilesystem": act, "dnsServers": act, "dnsSearchDomains": act, "dockerSecurityOptions": act,
		"interactive": act, "pseudoTerminal": act, "dockerLabels": act,
		"portMappings":     actOn("[]PortMapping"),
		"restartPolicy":    actOn("ContainerRestartPolicy"),
		"environment":      actOn("[]KeyValuePair"),
		"mountPoints":      actOn("[]MountPoint"),
		"volumesFrom":      actOn("[]VolumeFrom"),
		"linuxParameters":  actOn("LinuxParameters"),
		"dependsOn":        actOn("[]ContainerDependency"),
		"extraHosts":       actOn("[]HostEntry"),
		"ulimits":          actOn("[]Ulimit"),
		"logConfiguration": actOn("LogConfiguration"),
		"healthCheck":      actOn("HealthCheck"),
		"systemControls":   actOn("[]SystemControl"),
		// GPUs gate through placement (RESOURCE:GPU); InferenceAccelerator
		// is refused by validation with inferenceAccelerators.
		"resourceRequirements":  gateOn("[]ResourceRequirement"),
		"repositoryCredentials": gateOn("RepositoryCredentials"),
		"secrets":               gateOn("[]Secret"),
		"environmentFiles":      gateOn("[]EnvironmentFile"),
		"firelensConfiguration": gateOn("FirelensConfiguration"),
		"credentialSpecs":       gate,
	},
	"PortMapping": {
		"containerPort": act, "hostPort": act, "protocol": act, "containerPortRange": act,
		"name": describe, "appProtocol": describe,
	},
	"ContainerRestartPolicy": {"enabled": act, "ignoredExitCodes": act, "restartAttemptPeriod": act},
	"KeyValuePair":           {"name": act, "value": act},
	"MountPoint":             {"sourceVolume": act, "containerPath": act, "readOnly": act},
	"VolumeFrom":             {"sourceContainer": act, "readOnly": act},
	"LinuxParameters": {
		"capabilities": actOn("KernelCapabilities"), "devices": actOn("[]Device"), "tmpfs": actOn("[]Tmpfs"),
		"initProcessEnabled": act, "sharedMemorySize": act, "maxSwap": act, "swappiness": act,
	},
	"KernelCapabilities":  {"add": act, "drop": act},
	"Device":              {"hostPath": act, "containerPath": act, "permissions": act},
	"Tmpfs":               {"containerPath": act, "size": act, "mountOptions": act},
	"ContainerDependency": {"containerName": act, "condition": act},
	"HostEntry":           {"hostname": act, "ipAddress": act},
	"Ulimit":              {"name": act, "softLimit": act, "hardLimit": act},
	"LogConfiguration": {
		"logDriver": act, "options": act,
		"secretOptions": gateOn("[]Secret"),
	},
	"HealthCheck":           {"command": act, "interval": act, "timeout": act, "retries": act, "startPeriod": act},
	"SystemControl":         {"namespace": act, "value": act},
	"ResourceRequirement":   {"type": gate, "value": gate},
	"RepositoryCredentials": {"credentialsParameter": gate},
	"Secret":                {"name": gate, "valueFrom": gate},
	"EnvironmentFile":       {"type": gate, "value": gate},
	"FirelensConfiguration": {"type": gate, "options": gate},
	"Volume": {
		"name": act, "host": actOn("HostVolumeProperties"), "dockerVolumeConfiguration": actOn("DockerVolumeConfiguration"),
		"efsVolumeConfiguration":                  gateOn("EFSVolumeConfiguration"),
		"fsxWindowsFileServerVolumeConfiguration": gateOn("FSxWindowsFileServerVolumeConfiguration"),
		"configuredAtLaunch": refuse("configuredAtLaunch (an EBS volume configured by RunTask) is not supported by this control plane; " +
			"use a host or dockerVolumeConfiguration volume."),
	},
	"HostVolumeProperties":      {"sourcePath": act},
	"DockerVolumeConfiguration": {"scope": act, "autoprovision": act, "driver": act, "driverOpts": act, "labels": act},
	"EFSVolumeConfiguration": {
		"fileSystemId": gate, "rootDirectory": gate, "transitEncryption": gate, "transitEncryptionPort": gate,
		"authorizationConfig": gateOn("EFSAuthorizationConfig"),
	},
	"EFSAuthorizationConfig": {"accessPointId": gate, "iam": gate},
	"FSxWindowsFileServerVolumeConfiguration": {
		"fileSystemId": gate, "rootDirectory": gate,
		"authorizationConfig": gateOn("FSxWindowsFileServerAuthorizationConfig"),
	},
	"FSxWindowsFileServerAuthorizationConfig": {"credentialsParameter": gate, "domain": gate},
	"TaskDefinitionPlacementConstraint":       {"type": act, "expression": act},
	"RuntimePlatform":                         {"cpuArchitecture": act, "operatingSystemFamily": act},
	"Tag":                                     {"key": act, "value": act},
}

// checkRequestMembers walks a RegisterTaskDefinition request against
// taskDefMembers. Malformed JSON is left to the typed decode, which says
// what is wrong with it.
func checkRequestMembers(body []byte) error {
	return walkMembers(body, "TaskDefinition", "")
}

func walkMembers(raw []byte, ref, path string) error {
	if shape, ok := strings.CutPrefix(ref, "[]"); ok {
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil
		}
		for i, item := range items {
			if err := walkMembers(item, shape, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	table := taskDefMembers[ref]
	for _, k := range keys {
		p := k
		if path != "" {
			p = path + "." + k
		}
		rule, ok := lookupMember(table, k)
		switch {
		case !ok:
			return clientErr(CodeClientException, "%s is not a member this control plane knows, so it refuses the request rather than drop it; "+
				"check the spelling against the ECS API, or remove it.", p)
		case rule.disp == outputOnly:
			return clientErr(CodeClientException, "%s is set by ECS and cannot be registered; remove it from the request.", p)
		case rule.disp == refused && !emptyJSON(obj[k]):
			return clientErr(CodeClientException, "%s: %s", p, rule.why)
		}
		if rule.shape != "" {
			if err := walkMembers(obj[k], rule.shape, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// lookupMember finds the rule of key as encoding/json matches struct
// fields: the exact name, else one that differs only in case.
func lookupMember(table map[string]memberRule, key string) (memberRule, bool) {
	if r, ok := table[key]; ok {
		return r, true
	}
	for name, r := range table {
		if strings.EqualFold(name, key) {
			return r, true
		}
	}
	return memberRule{}, false
}

// emptyJSON reports whether raw sets nothing: null, false, 0, "", [] or {}.
func emptyJSON(raw json.RawMessage) bool {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return false
	}
	switch b.String() {
	case "null", "false", "0", `""`, "[]", "{}":
		return true
	}
	return false
}
