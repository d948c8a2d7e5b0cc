package logging

// Field names used in structured log records. Using these constants (rather
// than string literals at each call site) keeps the names stable, so operators
// can filter and aggregate logs across components.
const (
	KeyError             = "error"
	KeyCluster           = "cluster"
	KeyContainerInstance = "containerInstanceArn"
	// KeyInstanceARN is an alias of KeyContainerInstance.
	KeyInstanceARN   = KeyContainerInstance
	KeyInstanceID    = "ec2InstanceId"
	KeyTask          = "task"
	KeyTaskFamily    = "family"
	KeyContainer     = "container"
	KeyDockerID      = "dockerId"
	KeyImage         = "image"
	KeyEndpoint      = "endpoint"
	KeyURL           = "url"
	KeyAddr          = "addr"
	KeyAttempt       = "attempt"
	KeyBackoff       = "backoff"
	KeyDuration      = "duration"
	KeyKey           = "key"
	KeyValue         = "value"
	KeySource        = "source"
	KeyRegion        = "region"
	KeyComponent     = "component"
	KeyStatus        = "status"
	KeyKnownStatus   = "knownStatus"
	KeyDesired       = "desiredStatus"
	KeyReason        = "reason"
	KeyExitCode      = "exitCode"
	KeyMessageType   = "messageType"
	KeyMessageID     = "messageId"
	KeySeqNum        = "seqNum"
	KeyRequestID     = "requestId"
	KeyStatusCode    = "statusCode"
	KeyMethod        = "method"
	KeyPath          = "path"
	KeyFile          = "file"
	KeyCount         = "count"
	KeyLimit         = "limit"
	KeyVersion       = "version"
	KeyDockerVersion = "dockerVersion"
	// KeyResendRoles logs an ACS handshake's sendCredentials flag: a key
	// holding "credentials" would be redacted, and the flag is no secret.
	KeyResendRoles = "resendRoles"
	KeyPID         = "pid"
	// KeyCallerTask is the task a request to the task metadata endpoint
	// came from, when its source address tells.
	KeyCallerTask = "callerTask"
	KeyRoleType   = "roleType"
	KeyRoleARN    = "roleArn"
	KeyExpiration = "expiration"
	// KeyAccessKeyID names the access key that signed a request; never
	// log its secret.
	KeyAccessKeyID = "accessKeyId"
	KeyResource    = "resource"
	KeyLimitBytes  = "limitBytes"
)
