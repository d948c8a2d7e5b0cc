package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The subjects beyond attributes, the negation and the symbol spellings of
// ECS's cluster query language, on one instance.
func TestQueryLanguage(t *testing.T) {
	i := inst("a", func(i *Instance) {
		i.EC2InstanceID = "i-0abc"
		i.Attributes = map[string]string{"stack": "prod", "ecs.instance-type": "t2.micro"}
		i.Groups = map[string]int{"service:web": 1}
		i.AgentVersion = "1.80.0"
		i.RegisteredAt = time.Date(2024, 5, 17, 10, 30, 0, 0, time.UTC)
		i.RunningTasks = 2
	})
	for expr, want := range map[string]bool{
		"agentConnected == true":                                true,
		"agentConnected == false":                               false,
		"agentConnected != false":                               true,
		"agentConnected in [false]":                             false,
		"agentConnected =~ t.*":                                 true,
		"agentVersion == 1.80.0":                                true,
		"agentVersion == 1.80":                                  true,
		"agentVersion > 1.9.0":                                  true, // numerically, not as text
		"agentVersion >= 1.80.1":                                false,
		"agentVersion less_than 2":                              true,
		"agentVersion <= 1.80.0":                                true,
		"registeredAt == 2024-05-17":                            true,
		"registeredAt > 2024-05-16":                             true,
		"registeredAt > 2024-05-17":                             false, // the whole day is equal
		"registeredAt < 2024-05-18":                             true,
		"registeredAt >= 2024-05-17T10:30:00Z":                  true,
		"registeredAt > 2024-05-17T10:30:00+00:00":              false,
		"registeredAt < 2024-05-17T12:30:00+02:00":              false, // 10:30 UTC
		"registeredAt <= 2024-05-17T10:29:59":                   false,
		"runningTasksCount == 2":                                true,
		"runningTasksCount > 1":                                 true,
		"runningTasksCount < 2":                                 false,
		"runningTasksCount != 0":                                true,
		"not attribute:stack == prod":                           false,
		"not(task:group == database)":                           true,
		"!(attribute:stack == prod)":                            false,
		"attribute:stack==prod && runningTasksCount>1":          true,
		"attribute:stack == dev || ec2InstanceId == i-0abc":     true,
		"not attribute:stack == dev and not attribute:x exists": true,
		"ec2InstanceId in ['i-1', \"i-0abc\"]":                  true,
		"attribute:stack == 'and'":                              false, // a quoted keyword is a value
		"attribute:stack !exists or attribute:stack !in [dev]":  true,
	} {
		t.Run(expr, func(t *testing.T) {
			e, err := ParseFilter(expr)
			require.NoError(t, err)
			assert.Equal(t, want, e.Match(i))
		})
	}
}

// An instance without a reported agent version or registration time
// compares with nothing: only != holds.
func TestQueryLanguageMissingFacts(t *testing.T) {
	i := inst("a")
	for expr, want := range map[string]bool{
		"agentVersion == 1.0.0":      false,
		"agentVersion != 1.0.0":      true,
		"agentVersion < 99":          false,
		"registeredAt > 2000-01-01":  false,
		"registeredAt != 2000-01-01": true,
		"runningTasksCount == 0":     true,
	} {
		e, err := ParseFilter(expr)
		require.NoError(t, err, expr)
		assert.Equal(t, want, e.Match(i), expr)
	}
}

// Each refusal names the field, the expression and what is allowed.
func TestQueryLanguageErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"agentConnected == yes":        "agentConnected is true or false",
		"agentConnected > true":        "agentConnected takes ==, !=, in, not_in, =~ or !~, not >",
		"agentVersion =~ 1.*":          "agentVersion takes ==, !=, >, >=, < or <=",
		"agentVersion > latest":        "a version such as 1.80.0",
		"registeredAt > yesterday":     "registeredAt compares with a date",
		"runningTasksCount > -1":       "a whole number",
		"runningTasksCount exists":     "runningTasksCount takes",
		"attribute:a > 1":              "attribute:a takes ==, !=, exists, !exists, in, not_in, =~ or !~, not >",
		"task:group =~ x":              "task:group takes ==, !=, in or not_in",
		"cpu == 1":                     "unsupported subject \"cpu\"",
		"attribute:a == 'x":            "a quote is not closed",
		"attribute:a":                  "missing operator after attribute:a",
		"not":                          "expected attribute:<name>",
		"attribute:a == x and not (":   "expected attribute:<name>",
		"(attribute:a exists":          "missing )",
		"attribute:a == x attribute:b": "unexpected \"attribute:b\"",
	} {
		t.Run(expr, func(t *testing.T) {
			_, err := ParseFilter(expr)
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), "filter \""+expr+"\": ")
			assert.Contains(t, err.Error(), want)
		})
	}
	// The same parser names placementConstraints for memberOf.
	_, err := ParseExpression("cpu == 1")
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), `placementConstraints expression "cpu == 1": unsupported subject`)
}

// A memberOf constraint can use every subject: runningTasksCount keeps a
// task off a busy instance.
func TestMemberOfWithRunningTasksCount(t *testing.T) {
	busy := inst("busy", func(i *Instance) { i.RunningTasks = 3 })
	idle := inst("idle")
	res, err := Place([]Instance{busy, idle}, Request{
		Count: 1, Need: need(10, 10),
		Constraints: []Constraint{{Type: ConstraintMemberOf, Expression: "runningTasksCount == 0"}},
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"idle"}, res.Placements)
}
