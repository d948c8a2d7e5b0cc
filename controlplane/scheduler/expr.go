package scheduler

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ErrInvalid is wrapped by every error about an invalid strategy,
// constraint or expression; the message names the field and the fix.
var ErrInvalid = errors.New("invalid placement")

// Limits ECS applies to RunTask.
const (
	MaxStrategies       = 5
	MaxConstraints      = 10
	maxExpressionLength = 2000
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks strategies and constraints as RunTask does.
func Validate(strategies []Strategy, constraints []Constraint) error {
	if len(strategies) > MaxStrategies {
		return invalid("placementStrategy can have at most %d items.", MaxStrategies)
	}
	for _, s := range strategies {
		switch s.Type {
		case StrategyRandom:
			if s.Field != "" {
				return invalid("placementStrategy: the random strategy takes no field.")
			}
		case StrategySpread:
			if s.Field != "instanceId" && s.Field != "host" {
				if _, ok := cutAttribute(s.Field); !ok {
					return invalid("placementStrategy: spread field must be instanceId, host or attribute:<name>, not %q.", s.Field)
				}
			}
		case StrategyBinpack:
			if s.Field != "cpu" && s.Field != "memory" {
				return invalid("placementStrategy: binpack field must be cpu or memory, not %q.", s.Field)
			}
		default:
			return invalid("placementStrategy type must be random, spread or binpack, not %q.", s.Type)
		}
	}
	if len(constraints) > MaxConstraints {
		return invalid("placementConstraints can have at most %d items.", MaxConstraints)
	}
	for _, c := range constraints {
		switch c.Type {
		case ConstraintDistinctInstance:
			if c.Expression != "" {
				return invalid("placementConstraints: distinctInstance takes no expression.")
			}
		case ConstraintMemberOf:
			if c.Expression == "" {
				return invalid("placementConstraints: memberOf needs an expression.")
			}
			if _, err := ParseExpression(c.Expression); err != nil {
				return err
			}
		default:
			return invalid("placementConstraints type must be distinctInstance or memberOf, not %q.", c.Type)
		}
	}
	return nil
}

func cutAttribute(field string) (string, bool) {
	name, ok := strings.CutPrefix(field, "attribute:")
	return name, ok && name != ""
}

// Expr is a parsed cluster query language expression.
type Expr interface {
	Match(Instance) bool
}

type orExpr []Expr
type andExpr []Expr

func (e orExpr) Match(i Instance) bool {
	return slices.ContainsFunc(e, func(x Expr) bool { return x.Match(i) })
}

func (e andExpr) Match(i Instance) bool {
	for _, x := range e {
		if !x.Match(i) {
			return false
		}
	}
	return true
}

// predicate compares one subject of an instance with values.
type predicate struct {
	subject string // attribute:<name>, ec2InstanceId or task:group
	op      string // canonical: ==, !=, exists, !exists, in, !in, =~, !~
	values  []string
	re      *regexp.Regexp
}

func (p *predicate) Match(inst Instance) bool {
	if p.subject == "task:group" {
		// True when the instance runs a task of a group the operator names.
		n := 0
		for _, v := range p.values {
			n += inst.Groups[v]
		}
		switch p.op {
		case "==", "in":
			return n > 0
		case "!=", "!in":
			return n == 0
		}
		return false
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

func (p *predicate) value(inst Instance) (string, bool) {
	if p.subject == "ec2InstanceId" {
		return inst.EC2InstanceID, inst.EC2InstanceID != ""
	}
	name, _ := cutAttribute(p.subject)
	v, ok := inst.Attributes[name]
	return v, ok
}

// Operators and their canonical spelling.
var operators = map[string]string{
	"==": "==", "equals": "==",
	"!=": "!=", "not_equals": "!=",
	"exists": "exists", "!exists": "!exists", "not_exists": "!exists",
	"in": "in", "!in": "!in", "not_in": "!in",
	"=~": "=~", "matches": "=~", "!~": "!~", "not_matches": "!~",
}

// ParseExpression parses the cluster query language subset this control
// plane supports: predicates on attribute:<name>, ec2InstanceId and
// task:group with ==, !=, exists, !exists, in [..], not_in [..], =~ and !~,
// combined with and, or and parentheses (and binds tighter).
func ParseExpression(s string) (Expr, error) {
	if len(s) > maxExpressionLength {
		return nil, invalid("placementConstraints expression is longer than %d characters.", maxExpressionLength)
	}
	toks, open := tokenize(s)
	if open != 0 {
		return nil, invalid("placementConstraints expression %q: the %c quote is not closed.", s, open)
	}
	p := &parser{toks: toks, src: s}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, p.fail("unexpected %q", p.toks[p.pos])
	}
	return e, nil
}

type parser struct {
	toks []string
	pos  int
	src  string
}

func (p *parser) fail(format string, args ...any) error {
	return invalid("placementConstraints expression %q: %s.", p.src, fmt.Sprintf(format, args...))
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	if t != "" {
		p.pos++
	}
	return t
}

func (p *parser) or() (Expr, error) {
	var terms orExpr
	for {
		t, err := p.and()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		if !strings.EqualFold(p.peek(), "or") {
			break
		}
		p.next()
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) and() (Expr, error) {
	var factors andExpr
	for {
		f, err := p.factor()
		if err != nil {
			return nil, err
		}
		factors = append(factors, f)
		if !strings.EqualFold(p.peek(), "and") {
			break
		}
		p.next()
	}
	if len(factors) == 1 {
		return factors[0], nil
	}
	return factors, nil
}

func (p *parser) factor() (Expr, error) {
	if p.peek() == "(" {
		p.next()
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, p.fail("missing )")
		}
		return e, nil
	}
	return p.predicate()
}

func (p *parser) predicate() (Expr, error) {
	subject := p.next()
	switch {
	case subject == "":
		return nil, p.fail("expected attribute:<name>, ec2InstanceId or task:group at the end")
	case subject == "ec2InstanceId" || subject == "task:group":
	default:
		if _, ok := cutAttribute(subject); !ok {
			return nil, p.fail("unsupported subject %q (use attribute:<name>, ec2InstanceId or task:group)", subject)
		}
	}
	rawOp := p.next()
	op, ok := operators[strings.ToLower(rawOp)]
	if !ok {
		return nil, p.fail("unsupported operator %q after %s", rawOp, subject)
	}
	pred := &predicate{subject: subject, op: op}
	switch op {
	case "exists", "!exists":
		if subject == "task:group" {
			return nil, p.fail("task:group takes ==, !=, in or not_in")
		}
		return pred, nil
	case "in", "!in":
		vals, err := p.list()
		if err != nil {
			return nil, err
		}
		pred.values = vals
	default:
		v := p.next()
		if v == "" || isPunct(v) {
			return nil, p.fail("missing value after %s %s", subject, rawOp)
		}
		pred.values = []string{v}
	}
	if op == "=~" || op == "!~" {
		if subject == "task:group" {
			return nil, p.fail("task:group takes ==, !=, in or not_in")
		}
		re, err := regexp.Compile("^(?:" + pred.values[0] + ")$")
		if err != nil {
			return nil, p.fail("bad pattern %q", pred.values[0])
		}
		pred.re = re
	}
	return pred, nil
}

func (p *parser) list() ([]string, error) {
	if p.next() != "[" {
		return nil, p.fail("in and not_in take a list: [a, b]")
	}
	var vals []string
	for {
		v := p.next()
		if v == "" || isPunct(v) {
			return nil, p.fail("bad list: want [a, b]")
		}
		vals = append(vals, v)
		switch p.next() {
		case ",":
			continue
		case "]":
			return vals, nil
		default:
			return nil, p.fail("bad list: want [a, b]")
		}
	}
}

func isPunct(t string) bool { return len(t) == 1 && strings.Contains("()[],", t) }

// tokenize splits at whitespace and around ( ) [ ] and commas. Values may
// be quoted with ' or " to hold those characters. open is the quote left
// open at the end, or 0: such a value would swallow the rest of the
// expression, so it must be refused rather than guessed at.
func tokenize(s string) (toks []string, open rune) {
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
				toks = append(toks, cur.String())
				cur.Reset()
				continue
			}
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			flush()
			quote = r
		case r == ' ' || r == '\t' || r == '\n':
			flush()
		case strings.ContainsRune("()[],", r):
			flush()
			toks = append(toks, string(r))
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks, quote
}
