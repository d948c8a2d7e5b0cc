// Command wiregen turns an ECS websocket message model (an AWS "api-2.json"
// file: ACS or TCS) into the Go types of a wire package. It is run by
// `go generate ./acs/wire ./tcs/wire`; the options that differ between the
// two models are flags on each package's go:generate line.
//
// Mapping rules, chosen so that consumers rarely need nil checks:
//   - structure members are pointers (absence of a nested object is meaningful);
//   - "box"ed scalars (BoxedBoolean, NullableLong, ...) are pointers;
//   - members named by -pointer are pointers (HeartbeatMessage.healthy:
//     a missing value must not read as "unhealthy");
//   - a timestamp member has the Go type named after its shape (TCS:
//     Timestamp), which the wire package writes by hand: the AWS JSON protocol
//     sends epoch seconds, not encoding/json's RFC 3339. It is omitzero;
//   - every other scalar, list and map is a plain value with omitempty, except
//     the scalars of the shapes named by -always-send, which are always
//     written: in a stats set a minimum of 0 is a value, not an absence;
//   - string enums become named string types with one constant per value;
//   - shapes flagged "exception" also implement error;
//   - shapes named by -record-unknown get an UnknownMembers field, which their
//     hand-written UnmarshalJSON fills (see acs/wire/unknown.go);
//   - modelMembers lists every structure's members and which of them hold
//     structures, so that decoding can tell a member the model lacks.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
)

type shapeRef struct {
	Shape string `json:"shape"`
}

type shape struct {
	Type      string              `json:"type"`
	Members   map[string]shapeRef `json:"members"`
	Member    *shapeRef           `json:"member"`
	Key       *shapeRef           `json:"key"`
	Value     *shapeRef           `json:"value"`
	Enum      []string            `json:"enum"`
	Exception bool                `json:"exception"`
	Box       bool                `json:"box"`
	Sensitive bool                `json:"sensitive"`
	Required  []string            `json:"required"`
}

type model struct {
	Shapes map[string]*shape `json:"shapes"`
}

// options are the per-model choices, set by flags.
type options struct {
	pkg     string
	service string // "ACS" or "TCS", for comments
	// pointer lists "Shape.member" pairs that must be pointers although the
	// model gives them a plain scalar type.
	pointer set
	// recordUnknown lists the shapes whose decoding records the members, at
	// any depth, that the model does not know (ACS: a task must not run with
	// part of it silently dropped).
	recordUnknown set
	// alwaysSend lists the shapes whose scalar members carry no omitempty.
	alwaysSend set
}

// set is a comma-separated flag value.
type set map[string]bool

func (s set) String() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (s set) Set(v string) error {
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			s[item] = true
		}
	}
	return nil
}

// initialisms are the words spelled in capitals in Go field names.
var initialisms = map[string]string{
	"arn": "ARN", "id": "ID", "ip": "IP", "dns": "DNS", "ec2": "EC2", "ipv4": "IPv4",
	"ipv6": "IPv6", "mac": "MAC", "iam": "IAM", "cpu": "CPU", "pid": "PID", "ipc": "IPC",
	"efs": "EFS", "ebs": "EBS", "ecr": "ECR", "asm": "ASM", "url": "URL", "tcp": "TCP",
	"udp": "UDP", "gpu": "GPU", "ssm": "SSM", "appmesh": "AppMesh",
}

func main() {
	opts := options{pointer: set{}, recordUnknown: set{}, alwaysSend: set{}}
	in := flag.String("model", "", "the api-2.json model file (required)")
	out := flag.String("out", "types_gen.go", "output Go file")
	flag.StringVar(&opts.pkg, "pkg", "wire", "package name")
	flag.StringVar(&opts.service, "service", "", "the protocol's name for comments: ACS or TCS (required)")
	flag.Var(opts.pointer, "pointer", "comma-separated Shape.member pairs to make pointers")
	flag.Var(opts.recordUnknown, "record-unknown", "comma-separated shapes whose decoding records unknown members")
	flag.Var(opts.alwaysSend, "always-send", "comma-separated shapes whose scalar members are never omitted")
	flag.Parse()
	if *in == "" {
		log.Fatal("-model is required: the path of the api-2.json model")
	}
	if opts.service == "" {
		log.Fatal("-service is required: ACS or TCS")
	}

	raw, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	var m model
	if err := json.Unmarshal(raw, &m); err != nil {
		log.Fatalf("parse %s: %v", *in, err)
	}
	src, err := generate(&m, opts, filepath.Base(*in)) // the base name keeps the output independent of where the model lives
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

func generate(m *model, opts options, source string) ([]byte, error) {
	names := make([]string, 0, len(m.Shapes))
	for n := range m.Shapes {
		names = append(names, n)
	}
	sort.Strings(names)

	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by internal/wiregen from %s; DO NOT EDIT.\n\n", source)
	fmt.Fprintf(&b, "package %s\n\n", opts.pkg)

	var structs, exceptions []string
	for _, n := range names {
		s := m.Shapes[n]
		switch {
		case s.Type == "string" && len(s.Enum) > 0:
			writeEnum(&b, opts, n, s)
		case s.Type == "structure":
			structs = append(structs, n)
			if s.Exception {
				exceptions = append(exceptions, n)
			}
			if err := writeStruct(&b, m, opts, n, s); err != nil {
				return nil, err
			}
		}
	}

	if len(opts.recordUnknown) > 0 {
		writeMembers(&b, m, structs) // only the unknown-member walk reads it
	}
	b.WriteString("// newShape maps every structure shape name to a constructor of its Go type.\n")
	b.WriteString("var newShape = map[string]func() Message{\n")
	for _, n := range structs {
		fmt.Fprintf(&b, "\t%q: func() Message { return new(%s) },\n", n, n)
	}
	b.WriteString("}\n\n")
	b.WriteString("// exceptionShapes lists the shapes the model flags as exceptions.\n")
	b.WriteString("var exceptionShapes = map[string]func(message string) Exception{\n")
	for _, n := range exceptions {
		fmt.Fprintf(&b, "\t%q: func(message string) Exception { return &%s{Message: message} },\n", n, n)
	}
	b.WriteString("}\n")

	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("format generated code: %w\n%s", err, b.Bytes())
	}
	return src, nil
}

func writeEnum(b *bytes.Buffer, opts options, name string, s *shape) {
	fmt.Fprintf(b, "// %s is the %s enum %s.\ntype %s string\n\n", name, opts.service, name, name)
	b.WriteString("// Values of " + name + ".\nconst (\n")
	for _, v := range s.Enum {
		fmt.Fprintf(b, "\t%s%s %s = %q\n", name, exportWord(v), name, v)
	}
	b.WriteString(")\n\n")
}

func writeStruct(b *bytes.Buffer, m *model, opts options, name string, s *shape) error {
	members := make([]string, 0, len(s.Members))
	for mn := range s.Members {
		members = append(members, mn)
	}
	sort.Strings(members)

	fmt.Fprintf(b, "// %s is the %s shape %s.\ntype %s struct {\n", name, opts.service, name, name)
	for _, mn := range members {
		typ, err := goType(m, s.Members[mn].Shape)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", name, mn, err)
		}
		target := m.Shapes[s.Members[mn].Shape]
		if target.Type == "structure" || opts.pointer[name+"."+mn] ||
			(target.Box && target.Type != "list" && target.Type != "map") {
			typ = "*" + typ
		}
		omit := ",omitempty"
		switch {
		case target.Type == "timestamp":
			omit = ",omitzero" // omitempty never omits a struct
		case opts.alwaysSend[name] && isScalar(target) && !strings.HasPrefix(typ, "*"):
			omit = ""
		}
		comment := ""
		if target.Sensitive {
			comment = " // sensitive: never log"
		}
		fmt.Fprintf(b, "\t%s %s `json:\"%s%s\"`%s\n", fieldName(mn), typ, mn, omit, comment)
	}
	if opts.recordUnknown[name] {
		b.WriteString("\n\t// UnknownMembers lists, as paths such as \"containers[0].gpuIds\", the\n")
		b.WriteString("\t// members of the decoded JSON that the model does not have. Never sent.\n")
		b.WriteString("\tUnknownMembers []string `json:\"-\"`\n")
	}
	b.WriteString("}\n\n")
	fmt.Fprintf(b, "// ShapeName returns %q, the envelope type of this shape.\n", name)
	fmt.Fprintf(b, "func (%s) ShapeName() string { return %q }\n\n", name, name)
	if s.Exception {
		fmt.Fprintf(b, "// Error implements error.\nfunc (e *%s) Error() string { return %q + \": \" + e.Message }\n\n", name, name)
		fmt.Fprintf(b, "// ErrorCode returns the exception name, as used in unframed handshake errors.\nfunc (e *%s) ErrorCode() string { return %q }\n\n", name, name)
	}
	return nil
}

// writeMembers emits modelMembers: for every structure shape, its members,
// each mapped to what its value holds when that includes structures ("X",
// "[]X" or "map:X" for the structure shape X), else "".
func writeMembers(b *bytes.Buffer, m *model, structs []string) {
	b.WriteString("// modelMembers maps every structure shape to its members; a member's value\n")
	b.WriteString("// names the structure shape it holds (\"X\", \"[]X\" or \"map:X\"), or is \"\".\n")
	b.WriteString("var modelMembers = map[string]map[string]string{\n")
	for _, n := range structs {
		s := m.Shapes[n]
		members := make([]string, 0, len(s.Members))
		for mn := range s.Members {
			members = append(members, mn)
		}
		sort.Strings(members)
		fmt.Fprintf(b, "\t%q: {", n)
		for i, mn := range members {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(b, "%q: %q", mn, structRef(m, s.Members[mn].Shape))
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n\n")
}

// isScalar reports whether a shape is a number, boolean or string.
func isScalar(s *shape) bool {
	switch s.Type {
	case "integer", "long", "double", "boolean", "string":
		return true
	}
	return false
}

// structRef describes the structures a value of shape ref holds.
func structRef(m *model, ref string) string {
	s := m.Shapes[ref]
	switch {
	case s == nil:
		return ""
	case s.Type == "structure":
		return ref
	case s.Type == "list" && s.Member != nil:
		if inner := structRef(m, s.Member.Shape); inner != "" {
			return "[]" + inner
		}
	case s.Type == "map" && s.Value != nil:
		if inner := structRef(m, s.Value.Shape); inner != "" {
			return "map:" + inner
		}
	}
	return ""
}

func goType(m *model, ref string) (string, error) {
	s, ok := m.Shapes[ref]
	if !ok {
		return "", fmt.Errorf("unknown shape %q", ref)
	}
	switch s.Type {
	case "string":
		if len(s.Enum) > 0 {
			return ref, nil
		}
		return "string", nil
	case "boolean":
		return "bool", nil
	case "integer":
		return "int", nil
	case "long":
		return "int64", nil
	case "double":
		return "float64", nil
	case "timestamp":
		return ref, nil // written by hand in the wire package
	case "structure":
		return ref, nil
	case "list":
		elem, err := goType(m, s.Member.Shape)
		if err != nil {
			return "", err
		}
		return "[]" + elem, nil
	case "map":
		k, err := goType(m, s.Key.Shape)
		if err != nil {
			return "", err
		}
		v, err := goType(m, s.Value.Shape)
		if err != nil {
			return "", err
		}
		return "map[" + k + "]" + v, nil
	}
	return "", fmt.Errorf("shape %q: unsupported type %q", ref, s.Type)
}

// fieldName turns a camelCase member name into an exported Go name with
// initialisms in capitals: "containerInstanceArn" -> "ContainerInstanceARN".
func fieldName(member string) string {
	var words []string
	start := 0
	rs := []rune(member)
	for i := 1; i < len(rs); i++ {
		if unicode.IsUpper(rs[i]) && !unicode.IsUpper(rs[i-1]) {
			words = append(words, string(rs[start:i]))
			start = i
		}
	}
	words = append(words, string(rs[start:]))
	var out strings.Builder
	for _, w := range words {
		out.WriteString(exportWord(w))
	}
	return out.String()
}

// exportWord capitalises one word, using the initialism table when it applies.
// Enum values such as "ISOLATED_PARTITION" or "elastic-inference" become
// "IsolatedPartition" and "ElasticInference".
func exportWord(w string) string {
	if up, ok := initialisms[strings.ToLower(w)]; ok {
		return up
	}
	parts := strings.FieldsFunc(w, func(r rune) bool { return r == '_' || r == '-' || r == '.' })
	var out strings.Builder
	for _, p := range parts {
		if up, ok := initialisms[strings.ToLower(p)]; ok {
			out.WriteString(up)
			continue
		}
		if strings.ToUpper(p) == p {
			p = strings.ToLower(p)
		}
		rs := []rune(p)
		rs[0] = unicode.ToUpper(rs[0])
		out.WriteString(string(rs))
	}
	return out.String()
}
