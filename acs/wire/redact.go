package wire

import "log/slog"

// LogValue keeps the secret key and session token out of logs: slog calls it
// whenever credentials (or a struct holding them by value) are logged.
func (c IAMRoleCredentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("credentialsId", c.CredentialsID),
		slog.String("roleArn", c.RoleARN),
		slog.String("accessKeyId", c.AccessKeyID),
		slog.String("expiration", c.Expiration),
	)
}

// String redacts the secrets for fmt verbs (%v, %+v) as well.
func (c IAMRoleCredentials) String() string {
	return "IAMRoleCredentials{credentialsId:" + c.CredentialsID + " roleArn:" + c.RoleARN +
		" accessKeyId:" + c.AccessKeyID + " expiration:" + c.Expiration + " secrets:<redacted>}"
}
