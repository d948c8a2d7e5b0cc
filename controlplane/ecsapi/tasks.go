package ecsapi

// taskOps returns the task operations (RunTask, StartTask, StopTask,
// DescribeTasks, ListTasks and the agent's state-change submissions).
func (a *API) taskOps() map[string]opFunc {
	return map[string]opFunc{}
}
