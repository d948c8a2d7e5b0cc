package scheduler

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/open-ecs/ecs-agent/internal/fuzzbound"
)

// exprBound is what parsing one expression may allocate. The tokens and
// the tree take a few times the expression's length; a pattern (=~) is
// compiled by regexp, whose program for the longest expression accepted
// (2000 characters, repeats of up to 1000) stays under a few MiB. Real
// expressions, such as the ones ECS documents, need under 10 KiB.
var exprBound = fuzzbound.Bound{Fixed: 256 << 10, PerByte: 2 << 10}

// FuzzParseExpression feeds cluster query language expressions, which
// RunTask takes from the user, to ParseExpression. An expression is refused
// with ErrInvalid, or it parses into a tree that means the same on every
// instance when it is put in parentheses, or joined with itself by "and"
// or "or".
func FuzzParseExpression(f *testing.F) {
	f.Fuzz(func(t *testing.T, expr string) {
		var e Expr
		var err error
		fuzzbound.Check(t, exprBound, len(expr), func() { e, err = ParseExpression(expr) })
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "placementConstraints") {
				t.Fatalf("%q: error %v does not wrap ErrInvalid naming placementConstraints", expr, err)
			}
			return
		}
		instances := instancesFor(expr)
		for _, variant := range []string{"(" + expr + ")", expr + " and " + expr, expr + " or " + expr} {
			if len(variant) > maxExpressionLength {
				continue
			}
			v, err := ParseExpression(variant)
			if err != nil {
				t.Fatalf("%q parses, but %q does not: %v", expr, variant, err)
			}
			for _, inst := range instances {
				if e.Match(inst) != v.Match(inst) {
					t.Fatalf("%q and %q disagree on %+v", expr, variant, inst)
				}
			}
		}
	})
}

// instancesFor returns instances that make the expression's predicates
// both true and false: each of the expression's first distinct words
// becomes an attribute name and value, an instance ID and a task group of
// one of them.
func instancesFor(expr string) []Instance {
	words := []string{""}
	toks, _ := tokenize(expr)
	for _, tok := range toks {
		if len(words) < 16 && !slices.Contains(words, tok.text) {
			words = append(words, tok.text)
		}
	}
	out := []Instance{{}}
	for _, w := range words {
		name, _ := strings.CutPrefix(w, "attribute:")
		inst := Instance{EC2InstanceID: w, Attributes: map[string]string{}, Groups: map[string]int{w: 1}}
		for _, v := range words {
			inst.Attributes[name] = v
			out = append(out, cloneInstance(inst))
		}
	}
	return out
}
