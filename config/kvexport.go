package config

// ReadSettingsFile reads a KEY=VALUE file with the syntax the agent accepts
// in /etc/ecs/ecs.config (comments, quotes, "export "), for ecs-init, which
// passes the file's settings to the agent it starts. A missing file gives
// an empty map unless mustExist; a malformed line is a *Error naming the
// file and line.
func ReadSettingsFile(path string, mustExist bool) (map[string]string, error) {
	src, err := readKVFile(path, mustExist)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(src))
	for k, e := range src {
		out[k] = e.value
	}
	return out, nil
}
