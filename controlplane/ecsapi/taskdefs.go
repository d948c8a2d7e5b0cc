package ecsapi

// taskDefinitionOps returns the task definition operations.
func (a *API) taskDefinitionOps() map[string]opFunc {
	return map[string]opFunc{}
}
