package scheduler

import (
	"errors"
	"fmt"
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
type notExpr struct{ Expr }

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

func (e notExpr) Match(i Instance) bool { return !e.Expr.Match(i) }

// ParseExpression parses a memberOf placement constraint's expression (see
// ParseFilter for the language); errors name placementConstraints.
func ParseExpression(s string) (Expr, error) {
	return parse("placementConstraints expression", s)
}

// ParseFilter parses a ListContainerInstances filter; errors name filter.
//
// The language is ECS's cluster query language: predicates
//
//	subject operator [argument]
//
// on the subjects attribute:<name>, ec2InstanceId, agentConnected,
// agentVersion, registeredAt, runningTasksCount and task:group (the
// operators each takes are in subjects), combined with and (&&), or (||),
// not (!) and parentheses; not binds tightest, then and, then or. in and
// not_in take a list, [a, b]. Arguments may be quoted with ' or " to hold
// spaces, brackets, commas or words the language reserves.
func ParseFilter(s string) (Expr, error) {
	return parse("filter", s)
}

func parse(field, s string) (Expr, error) {
	if len(s) > maxExpressionLength {
		return nil, invalid("%s is longer than %d characters.", field, maxExpressionLength)
	}
	toks, ok := tokenize(s)
	p := &parser{toks: toks, src: s, field: field}
	if !ok {
		return nil, p.fail("a quote is not closed")
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, p.fail("unexpected %q", p.toks[p.pos].text)
	}
	return e, nil
}

// token is a word, an operator symbol or a bracket; quoted is true for a
// quoted argument, which is never taken for a keyword or a bracket.
type token struct {
	text   string
	quoted bool
}

type parser struct {
	toks  []token
	pos   int
	src   string
	field string
}

func (p *parser) fail(format string, args ...any) error {
	return invalid("%s %q: %s.", p.field, p.src, fmt.Sprintf(format, args...))
}

func (p *parser) atEnd() bool { return p.pos >= len(p.toks) }

// is reports whether the next token is the unquoted word w (any case).
func (p *parser) is(words ...string) bool {
	if p.atEnd() || p.toks[p.pos].quoted {
		return false
	}
	return slices.ContainsFunc(words, func(w string) bool { return strings.EqualFold(p.toks[p.pos].text, w) })
}

func (p *parser) next() (token, bool) {
	if p.atEnd() {
		return token{}, false
	}
	p.pos++
	return p.toks[p.pos-1], true
}

func (p *parser) or() (Expr, error) {
	var terms orExpr
	for {
		t, err := p.and()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		if !p.is("or", "||") {
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
		if !p.is("and", "&&") {
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
	switch {
	case p.is("not", "!"):
		p.next()
		e, err := p.factor()
		if err != nil {
			return nil, err
		}
		return notExpr{e}, nil
	case p.is("("):
		p.next()
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.is(")") {
			return nil, p.fail("missing )")
		}
		p.next()
		return e, nil
	}
	return p.predicate()
}

// value reads one argument: a quoted token or a word that is not a bracket.
func (p *parser) value() (string, bool) {
	if p.atEnd() || (!p.toks[p.pos].quoted && isPunct(p.toks[p.pos].text)) {
		return "", false
	}
	t, _ := p.next()
	return t.text, true
}

func (p *parser) list() ([]string, error) {
	if !p.is("[") {
		return nil, p.fail("in and not_in take a list: [a, b]")
	}
	p.next()
	var vals []string
	for {
		v, ok := p.value()
		if !ok {
			return nil, p.fail("bad list: want [a, b]")
		}
		vals = append(vals, v)
		switch {
		case p.is(","):
			p.next()
		case p.is("]"):
			p.next()
			return vals, nil
		default:
			return nil, p.fail("bad list: want [a, b]")
		}
	}
}

func isPunct(t string) bool { return len(t) == 1 && strings.Contains("()[],", t) }

// symbols are the operators written with symbols, split out of a word even
// without spaces around them ("runningTasksCount>0"); longest first.
var symbols = []string{"==", "!=", ">=", "<=", "=~", "!~", "&&", "||", ">", "<"}

// tokenize splits at whitespace, around ( ) [ ] and commas, and around the
// symbol operators. Arguments may be quoted with ' or " to hold those;
// ok=false means a quote is not closed.
func tokenize(s string) (toks []token, ok bool) {
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, splitSymbols(cur.String())...)
			cur.Reset()
		}
	}
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
				toks = append(toks, token{text: cur.String(), quoted: true})
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
			toks = append(toks, token{text: string(r)})
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks, quote == 0
}

// splitSymbols splits a word around the symbol operators it contains. A
// word that is a whole operator keeps it; "!exists" and "!in" are words.
func splitSymbols(w string) []token {
	var out []token
	start := 0
	for i := 0; i < len(w); {
		sym := ""
		for _, s := range symbols {
			if strings.HasPrefix(w[i:], s) {
				sym = s
				break
			}
		}
		if sym == "" {
			i++
			continue
		}
		if i > start {
			out = append(out, token{text: w[start:i]})
		}
		out = append(out, token{text: sym})
		i += len(sym)
		start = i
	}
	if start < len(w) {
		out = append(out, token{text: w[start:]})
	}
	return out
}
