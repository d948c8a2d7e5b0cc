// Command mkseed writes one seed of a fuzz target's corpus in Go's corpus
// file format ("go test fuzz v1" and one Go literal per argument), from
// real inputs: files for []byte and string arguments, literals for the
// rest. The arguments are given in the order of the target's parameters.
//
//	go run ./internal/fuzzbound/mkseed -o acs/wire/testdata/fuzz/FuzzDecode/heartbeat \
//	    -bytes frame.json
//	go run ./internal/fuzzbound/mkseed -o config/testdata/fuzz/FuzzLoad/minimal \
//	    -bytes ecs.config -bytes config.json -string-value ''
//
// Flags, repeatable, in argument order: -bytes FILE, -string FILE,
// -bytes-value TEXT, -string-value TEXT, -int N (int), -uint8 N, -bool B.
// "-" as FILE reads standard input.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// args collects the literals in the order the flags were given.
type args []string

func (a *args) add(format func(string) (string, error)) func(string) error {
	return func(v string) error {
		lit, err := format(v)
		if err != nil {
			return err
		}
		*a = append(*a, lit)
		return nil
	}
}

func readFile(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

func main() {
	var lits args
	out := flag.String("o", "", "the seed file to write, testdata/fuzz/FuzzXxx/<name> in the target's package")
	flag.Func("bytes", "a []byte argument: the content of FILE", lits.add(func(f string) (string, error) {
		b, err := readFile(f)
		return fmt.Sprintf("[]byte(%s)", strconv.Quote(string(b))), err
	}))
	flag.Func("string", "a string argument: the content of FILE", lits.add(func(f string) (string, error) {
		b, err := readFile(f)
		return fmt.Sprintf("string(%s)", strconv.Quote(string(b))), err
	}))
	flag.Func("bytes-value", "a []byte argument given inline", lits.add(func(v string) (string, error) {
		return fmt.Sprintf("[]byte(%s)", strconv.Quote(v)), nil
	}))
	flag.Func("string-value", "a string argument given inline", lits.add(func(v string) (string, error) {
		return fmt.Sprintf("string(%s)", strconv.Quote(v)), nil
	}))
	flag.Func("int", "an int argument", lits.add(func(v string) (string, error) {
		n, err := strconv.Atoi(v)
		return fmt.Sprintf("int(%d)", n), err
	}))
	flag.Func("uint8", "a uint8 argument", lits.add(func(v string) (string, error) {
		n, err := strconv.ParseUint(v, 10, 8)
		return fmt.Sprintf("uint8(%d)", n), err
	}))
	flag.Func("bool", "a bool argument", lits.add(func(v string) (string, error) {
		b, err := strconv.ParseBool(v)
		return fmt.Sprintf("bool(%t)", b), err
	}))
	flag.Parse()
	if *out == "" || len(lits) == 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: mkseed -o testdata/fuzz/FuzzXxx/name (-bytes FILE | -string FILE | -int N | ...)...")
		os.Exit(2)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "mkseed:", err)
		os.Exit(1)
	}
	body := "go test fuzz v1\n" + strings.Join(lits, "\n") + "\n"
	if err := os.WriteFile(*out, []byte(body), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "mkseed:", err)
		os.Exit(1)
	}
}
