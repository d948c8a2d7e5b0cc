package config

import "time"

// DefaultTaskMetadataAddr is where the task metadata endpoint listens, and
// where ecs-init's rules send 169.254.170.2:80.
const DefaultTaskMetadataAddr = "127.0.0.1:51679"

// Durations that the table uses both as defaults and as bounds.
const (
	defaultCleanupWait = 3 * time.Hour
)

// identitySettings: who the agent is and whom it talks to.
var identitySettings = []setting{
	{key: "ECS_CLUSTER", fields: []string{"Cluster"}, def: "default", supported: true,
		codec: stringOf(func(c *Config) *string { return &c.Cluster }),
		help:  "Cluster to register the container instance in. Only the `default` cluster is created when it does not exist; any other cluster must be created first (`aws ecs create-cluster`), or the agent stops with exit code 5."},
	{key: "AWS_DEFAULT_REGION", aliases: []string{"AWS_REGION"}, fields: []string{"AWSRegion"}, defDoc: "from instance metadata", supported: true,
		codec: stringOf(func(c *Config) *string { return &c.AWSRegion }),
		help:  "Region of the ECS backend. Required when instance metadata cannot provide it. AWS_REGION is accepted too; AWS_DEFAULT_REGION wins."},
	{key: "ECS_BACKEND_HOST", fields: []string{"APIEndpoint"}, defDoc: "the SDK's `ecs.<region>.amazonaws.com`", supported: true,
		codec: endpointOf(func(c *Config) *string { return &c.APIEndpoint }),
		help:  "ECS API endpoint, e.g. a local control plane at http://127.0.0.1:51677. https:// is added when no scheme is given."},
	{key: "DOCKER_HOST", fields: []string{"DockerEndpoint"}, def: "unix:///var/run/docker.sock", supported: true,
		codec: dockerHostOf(func(c *Config) *string { return &c.DockerEndpoint }),
		help:  "Docker Engine API endpoint."},
	{key: "ECS_DATADIR", fields: []string{"DataDir"}, def: "/data/", supported: true,
		codec: stringOf(func(c *Config) *string { return &c.DataDir }),
		help:  "Directory of the agent's state (agent.db)."},
	{key: "ECS_CHECKPOINT", fields: []string{"Checkpoint"}, def: "false", defDoc: "true when ECS_DATADIR is set, else false", supported: true,
		codec: boolOf(func(c *Config) *bool { return &c.Checkpoint }),
		help:  "Persist state across restarts. Without it a new container instance is registered on every start."},
	{key: "ECS_HOST_DATA_DIR", fields: []string{"DataDirOnHost"}, def: "/var/lib/ecs",
		codec: stringOf(func(c *Config) *string { return &c.DataDirOnHost }), supported: true,
		help: "Host directory whose data/ subdirectory is ECS_DATADIR when the agent runs in a container (ecs-init sets it); container metadata files are bind-mounted from there. When it is not set explicitly, ECS_DATADIR itself is taken to be a host path (the agent runs on the host)."},
	{key: "ECS_INTROSPECTION_ADDR", fields: []string{"IntrospectionAddr"}, def: "127.0.0.1:51678", supported: true,
		codec: hostPortOf(func(c *Config) *string { return &c.IntrospectionAddr }),
		help:  "Listen address of the introspection API (this agent's own setting; the Amazon agent always listens on port 51678)."},
	{key: "ECS_TASK_METADATA_ADDR", fields: []string{"TaskMetadataAddr"}, def: DefaultTaskMetadataAddr, supported: true,
		codec: hostPortOf(func(c *Config) *string { return &c.TaskMetadataAddr }),
		help: "Listen address of the task metadata and credentials endpoint (this agent's own setting; the Amazon agent always listens on 127.0.0.1:51679). " +
			"Bridge-mode tasks reach it at 169.254.170.2 only through ecs-init's rules, which forward to port 51679; on another address only host-mode tasks reach it, at that address."},
	{key: "ECS_AGENT_HEALTHCHECK_HOST", fields: []string{"AgentHealthcheckHost"}, def: "localhost", supported: true,
		codec: stringOf(func(c *Config) *string { return &c.AgentHealthcheckHost }),
		help:  "Host that `ecs-agent -healthcheck` queries."},
	{key: "ECS_AGENT_CONFIG_FILE_PATH", def: "/etc/ecs_container_agent/config.json", supported: true,
		codec: stringOf(func(c *Config) *string { return &c.AgentConfigFilePath }),
		help:  "JSON configuration file; its keys are Config field names. A missing file is not an error."},
	{key: "ECS_EXTERNAL", fields: []string{"External"}, def: "false",
		codec: boolOf(func(c *Config) *bool { return &c.External }),
		help:  "ECS Anywhere mode: no instance identity document; AWS_DEFAULT_REGION becomes mandatory; the instance advertises `ecs.capability.external`, so only tasks run with launch type EXTERNAL are placed on it."},
	{key: "ECS_ALTERNATE_CREDENTIAL_PROFILE", fields: []string{"AlternateCredentialProfile"}, def: "default",
		codec: stringOf(func(c *Config) *string { return &c.AlternateCredentialProfile }),
		help:  "Profile to use in the rotating credentials file."},
}

// loggingSettings: the agent's own log.
var loggingSettings = []setting{
	{key: "ECS_LOGLEVEL", fields: []string{"LogLevel"}, def: "info", supported: true,
		codec: enumOf(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error", "crit"),
		help:  "Minimum level logged."},
	{key: "ECS_LOGLEVEL_ON_INSTANCE", fields: []string{"LogLevelOnInstance"}, defDoc: "same as ECS_LOGLEVEL",
		codec: enumOf(func(c *Config) *string { return &c.LogLevelOnInstance }, "debug", "info", "warn", "error", "crit", "none"),
		help:  "Level of the on-instance log file when a Docker log driver also receives the logs."},
	{key: "ECS_LOGFILE", fields: []string{"LogFile"}, defDoc: "none (stderr only)", supported: true,
		codec: stringOf(func(c *Config) *string { return &c.LogFile }),
		help:  "Also write the log to this file, rolled as set below."},
	{key: "ECS_LOG_ROLLOVER_TYPE", fields: []string{"LogRolloverType"}, def: "size", supported: true,
		codec: enumOf(func(c *Config) *string { return &c.LogRolloverType }, "size", "hourly"),
		help:  "Roll the log file by size or every hour."},
	{key: "ECS_LOG_MAX_FILE_SIZE_MB", fields: []string{"LogMaxFileSizeMB"}, def: "5", supported: true,
		codec: positiveFloatOf(func(c *Config) *float64 { return &c.LogMaxFileSizeMB }, "a positive number of MiB"),
		help:  "Size at which the log file rolls (size rollover)."},
	{key: "ECS_LOG_MAX_ROLL_COUNT", fields: []string{"LogMaxRollCount"}, def: "24", supported: true,
		codec: intOf(func(c *Config) *int { return &c.LogMaxRollCount }, 1, 100000),
		help:  "Rolled log files kept."},
	{key: "ECS_LOG_OUTPUT_FORMAT", fields: []string{"LogOutputFormat"}, def: "logfmt", supported: true,
		codec: enumOf(func(c *Config) *string { return &c.LogOutputFormat }, "logfmt", "json"),
		help:  "Log line format."},
	{key: "ECS_AUDIT_LOGFILE", fields: []string{"CredentialsAuditLogFile"}, def: "/log/audit.log", supported: true,
		codec: stringOf(func(c *Config) *string { return &c.CredentialsAuditLogFile }),
		help:  "Audit log of task credential requests: one line per request, never a secret. Opened only when task IAM roles are enabled."},
	{key: "ECS_AUDIT_LOGFILE_DISABLED", fields: []string{"CredentialsAuditLogDisabled"}, def: "false", supported: true,
		codec: boolOf(func(c *Config) *bool { return &c.CredentialsAuditLogDisabled }),
		help:  "Disable the credentials audit log."},
}

// resourceSettings: what the instance registers with and advertises.
var resourceSettings = []setting{
	{key: "ECS_RESERVED_PORTS", fields: []string{"ReservedPorts"}, def: "[22,2375,2376,51678,51679]", defDoc: "[22,2375,2376,51678,51679] (+51680 with ECS_ENABLE_PROMETHEUS_METRICS)", supported: true,
		codec: portsOf(func(c *Config) *[]uint16 { return &c.ReservedPorts }),
		help:  "TCP host ports tasks may not use; registered as the PORTS resource."},
	{key: "ECS_RESERVED_PORTS_UDP", fields: []string{"ReservedPortsUDP"}, def: "[]", supported: true,
		codec: portsOf(func(c *Config) *[]uint16 { return &c.ReservedPortsUDP }),
		help:  "UDP host ports tasks may not use; registered as PORTS_UDP."},
	{key: "ECS_RESERVED_MEMORY", fields: []string{"ReservedMemory"}, def: "0", supported: true,
		codec: uint16Of(func(c *Config) *uint16 { return &c.ReservedMemory }, "an integer number of MiB between 0 and 65535"),
		help:  "MiB of memory kept back from tasks (subtracted from the registered MEMORY)."},
	{key: "ECS_INSTANCE_ATTRIBUTES", fields: []string{"InstanceAttributes"}, supported: true,
		codec: mapOf(func(c *Config) *map[string]string { return &c.InstanceAttributes }),
		help:  "Custom attributes, sent on first registration only."},
	{key: "ECS_CONTAINER_INSTANCE_TAGS", fields: []string{"ContainerInstanceTags"}, supported: true,
		codec: mapOf(func(c *Config) *map[string]string { return &c.ContainerInstanceTags }),
		help:  "Tags of the container instance, sent at registration."},
	{key: "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM", fields: []string{"ContainerInstancePropagateTagsFrom"}, def: "none",
		codec: enumOf(func(c *Config) *string { return &c.ContainerInstancePropagateTagsFrom }, "none", "ec2_instance"),
		help:  "Also register the EC2 instance's tags (local tags win)."},
	{key: "ECS_AVAILABLE_LOGGING_DRIVERS", fields: []string{"AvailableLoggingDrivers"}, def: `["json-file","none"]`, supported: true,
		codec: stringListOf(func(c *Config) *[]string { return &c.AvailableLoggingDrivers },
			"json-file", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "logentries", "sumologic", "none", "awsfirelens"),
		help: "Docker log drivers advertised as capabilities."},
	{key: "ECS_DYNAMIC_HOST_PORT_RANGE", fields: []string{"DynamicHostPortRange"}, defDoc: "the kernel's ip_local_port_range, else 49153-65535", supported: true,
		codec: portRangeOf(func(c *Config) *string { return &c.DynamicHostPortRange }),
		help:  "Host ports the agent picks from for hostPort 0."},
	{key: "ECS_INSTANCE_IP_COMPATIBILITY", fields: []string{"InstanceIPCompatibility"}, defDoc: "detected from the default routes",
		codec: enumOf(func(c *Config) *string { return &c.InstanceIPCompatibility }, "ipv4", "ipv6"),
		help:  "IP families the instance supports."},
	{key: "ECS_EXCLUDE_IPV6_PORTBINDING", fields: []string{"ShouldExcludeIPv6PortBinding"}, def: "true",
		codec: boolOf(func(c *Config) *bool { return &c.ShouldExcludeIPv6PortBinding }),
		help:  "Drop :: port bindings from the state changes sent to ECS."},
	{key: "ECS_WARM_POOLS_CHECK", fields: []string{"WarmPoolsSupport"}, def: "false",
		codec: boolOf(func(c *Config) *bool { return &c.WarmPoolsSupport }),
		help:  "Wait for the Auto Scaling lifecycle state InService before registering."},
	{key: "ECS_ENABLE_SPOT_INSTANCE_DRAINING", fields: []string{"SpotInstanceDrainingEnabled"}, def: "false",
		codec: boolOf(func(c *Config) *bool { return &c.SpotInstanceDrainingEnabled }),
		help:  "Set the instance to DRAINING when a spot interruption notice arrives."},
}
