package scheduler

import (
	"cmp"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Operators and their canonical spelling.
var operators = map[string]string{
	"==": "==", "equals": "==",
	"!=": "!=", "not_equals": "!=",
	">": ">", "greater_than": ">",
	">=": ">=", "greater_than_equal": ">=",
	"<": "<", "less_than": "<",
	"<=": "<=", "less_than_equal": "<=",
	"exists": "exists", "!exists": "!exists", "not_exists": "!exists",
	"in": "in", "!in": "!in", "not_in": "!in",
	"=~": "=~", "matches": "=~", "!~": "!~", "not_matches": "!~",
}

// subject is one kind of thing a predicate tests, and the operators ECS's
// cluster query language gives it.
type subject struct {
	ops []string // canonical operators, in the order error messages list them
	// spelled is how the operators are listed in messages.
	spelled string
}

var (
	stringOps = subject{
		ops:     []string{"==", "!=", "exists", "!exists", "in", "!in", "=~", "!~"},
		spelled: "==, !=, exists, !exists, in, not_in, =~ or !~",
	}
	connectedOps = subject{
		ops:     []string{"==", "!=", "in", "!in", "=~", "!~"},
		spelled: "==, !=, in, not_in, =~ or !~",
	}
	orderedOps = subject{
		ops:     []string{"==", "!=", ">", ">=", "<", "<="},
		spelled: "==, !=, >, >=, < or <=",
	}
	groupOps = subject{
		ops:     []string{"==", "!=", "in", "!in"},
		spelled: "==, !=, in or not_in",
	}
)

// Subjects other than attribute:<name>.
const (
	subjectEC2InstanceID  = "ec2InstanceId"
	subjectAgentConnected = "agentConnected"
	subjectAgentVersion   = "agentVersion"
	subjectRegisteredAt   = "registeredAt"
	subjectRunningTasks   = "runningTasksCount"
	subjectTaskGroup      = "task:group"
)

var subjects = map[string]subject{
	subjectEC2InstanceID:  stringOps,
	subjectAgentConnected: connectedOps,
	subjectAgentVersion:   orderedOps,
	subjectRegisteredAt:   orderedOps,
	subjectRunningTasks:   orderedOps,
	subjectTaskGroup:      groupOps,
}

const subjectList = "attribute:<name>, ec2InstanceId, agentConnected, agentVersion, registeredAt, runningTasksCount or task:group"

// predicate compares one subject of an instance with its argument.
type predicate struct {
	subject string // a key of subjects, or attribute:<name>
	op      string // canonical operator
	values  []string
	re      *regexp.Regexp
	// The argument, parsed, of the ordered subjects.
	version []int     // agentVersion
	from    time.Time // registeredAt: the argument denotes [from, to)
	to      time.Time
	count   int // runningTasksCount
}

func (p *parser) predicate() (Expr, error) {
	tok, ok := p.next()
	if !ok || tok.quoted || isPunct(tok.text) {
		return nil, p.fail("expected %s", subjectList)
	}
	name := tok.text
	subj, known := subjects[name]
	if _, isAttr := cutAttribute(name); isAttr {
		subj, known = stringOps, true
	}
	if !known {
		return nil, p.fail("unsupported subject %q (use %s)", name, subjectList)
	}
	opTok, ok := p.next()
	if !ok {
		return nil, p.fail("missing operator after %s", name)
	}
	op, ok := operators[strings.ToLower(opTok.text)]
	if !ok || opTok.quoted {
		return nil, p.fail("unsupported operator %q after %s", opTok.text, name)
	}
	if !slices.Contains(subj.ops, op) {
		return nil, p.fail("%s takes %s, not %s", name, subj.spelled, opTok.text)
	}
	pred := &predicate{subject: name, op: op}
	switch op {
	case "exists", "!exists":
		return pred, nil
	case "in", "!in":
		vals, err := p.list()
		if err != nil {
			return nil, err
		}
		pred.values = vals
	default:
		v, ok := p.value()
		if !ok {
			return nil, p.fail("missing value after %s %s", name, opTok.text)
		}
		pred.values = []string{v}
	}
	return pred, p.parseArgument(pred)
}

// parseArgument checks and parses pred's values for its subject.
func (p *parser) parseArgument(pred *predicate) error {
	arg := pred.values[0]
	switch {
	case pred.op == "=~" || pred.op == "!~":
		// ECS anchors patterns as Java's String.matches does.
		re, err := regexp.Compile("^(?:" + arg + ")$")
		if err != nil {
			return p.fail("bad pattern %q", arg)
		}
		pred.re = re
	case pred.subject == subjectAgentConnected:
		for _, v := range pred.values {
			if v != "true" && v != "false" {
				return p.fail("agentConnected is true or false, not %q", v)
			}
		}
	case pred.subject == subjectAgentVersion:
		v, ok := parseVersion(arg)
		if !ok {
			return p.fail("agentVersion compares with a version such as 1.80.0, not %q", arg)
		}
		pred.version = v
	case pred.subject == subjectRegisteredAt:
		from, to, ok := parseDate(arg)
		if !ok {
			return p.fail("registeredAt compares with a date: 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28 (UTC) or 2018-06-18, not %q", arg)
		}
		pred.from, pred.to = from, to
	case pred.subject == subjectRunningTasks:
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 {
			return p.fail("runningTasksCount compares with a whole number, not %q", arg)
		}
		pred.count = n
	}
	return nil
}

func (p *predicate) Match(inst Instance) bool {
	switch p.subject {
	case subjectTaskGroup:
		// True when the instance runs a task of a group the operator names.
		n := 0
		for _, v := range p.values {
			n += inst.Groups[v]
		}
		if p.op == "==" || p.op == "in" {
			return n > 0
		}
		return n == 0
	case subjectAgentVersion:
		v, ok := parseVersion(inst.AgentVersion)
		if !ok {
			// An instance that reported no version compares with nothing.
			return p.op == "!="
		}
		return ordered(p.op, compareVersions(v, p.version))
	case subjectRegisteredAt:
		if inst.RegisteredAt.IsZero() {
			return p.op == "!="
		}
		c := 0
		switch {
		case inst.RegisteredAt.Before(p.from):
			c = -1
		case !inst.RegisteredAt.Before(p.to):
			c = 1
		}
		return ordered(p.op, c)
	case subjectRunningTasks:
		return ordered(p.op, cmp.Compare(inst.RunningTasks, p.count))
	}
	value, present := p.value(inst)
	switch p.op {
	case "exists":
		return present
	case "!exists":
		return !present
	case "==", "in":
		return present && slices.Contains(p.values, value)
	case "!=", "!in":
		return !present || !slices.Contains(p.values, value)
	case "=~":
		return present && p.re.MatchString(value)
	case "!~":
		return !present || !p.re.MatchString(value)
	}
	return false
}

// value is the string subjects' value on inst.
func (p *predicate) value(inst Instance) (string, bool) {
	switch p.subject {
	case subjectEC2InstanceID:
		return inst.EC2InstanceID, inst.EC2InstanceID != ""
	case subjectAgentConnected:
		return strconv.FormatBool(inst.AgentConnected), true
	}
	name, _ := cutAttribute(p.subject)
	v, ok := inst.Attributes[name]
	return v, ok
}

// ordered applies an ordering operator to a comparison's result.
func ordered(op string, c int) bool {
	switch op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	}
	return false
}

// parseVersion reads a dotted version of numbers (1.80.0); a suffix after
// a hyphen or plus (1.80.0-rc1) is ignored.
func parseVersion(s string) ([]int, bool) {
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	out := make([]int, 0, len(parts))
	for _, part := range parts {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// compareVersions orders versions part by part; a missing part is 0, so
// 1.80 equals 1.80.0.
func compareVersions(a, b []int) int {
	for i := range max(len(a), len(b)) {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return 0
}

// parseDate reads a registeredAt argument as the span of time it names: a
// second for a time of day, a day (UTC) for a date. An instance registered
// within the span is equal to the argument, before it less, after it more.
func parseDate(s string) (from, to time.Time, ok bool) {
	for _, f := range []struct {
		layout string
		span   time.Duration
	}{
		{time.RFC3339, time.Second},
		{"2006-01-02T15:04:05", time.Second},
		{time.DateOnly, 24 * time.Hour},
	} {
		if t, err := time.Parse(f.layout, s); err == nil {
			return t, t.Add(f.span), true
		}
	}
	return time.Time{}, time.Time{}, false
}
