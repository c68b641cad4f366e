package configs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// A Class says what kind of mistake an [Error] reports, so that a caller can map classes to
// exit codes or group them.
type Class int

// The classes of config mistakes.
const (
	ClassSyntax     Class = iota + 1 // the file is not valid TOML
	ClassUnknownKey                  // a key or table the schema does not have
	ClassType                        // a value of the wrong TOML type
	ClassMissing                     // a required key is absent
	ClassValue                       // a value out of range or malformed: names, ports, MTU, durations, log settings, bootstrap nodes
	ClassKey                         // a public key that does not decode or is not a valid Ed25519 key
	ClassPrefix                      // a network prefix or route that is malformed, of the wrong family, not canonical or of a bad length
	ClassAddress                     // an address that is malformed, outside the network prefix or reserved
	ClassOverlap                     // members sharing an address, or routes overlapping each other or the network
	ClassDuplicate                   // members sharing a name or a public key
	ClassFile                        // a config, key or secret file that cannot be read or does not hold what it should
)

var classNames = [...]string{
	ClassSyntax:     "syntax",
	ClassUnknownKey: "unknown key",
	ClassType:       "wrong type",
	ClassMissing:    "missing key",
	ClassValue:      "bad value",
	ClassKey:        "bad public key",
	ClassPrefix:     "bad prefix",
	ClassAddress:    "bad address",
	ClassOverlap:    "overlap",
	ClassDuplicate:  "duplicate",
	ClassFile:       "unreadable file",
}

func (c Class) String() string {
	if c > 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// An Error is one problem in a config file, at a position in it.
type Error struct {
	File  string // the config file's name as given to Parse or Load
	Line  int    // 1-based; 0 when the problem has no place in the file (a missing table)
	Col   int    // 1-based, counting bytes; 0 with Line
	Key   string // dotted path of the key, such as "node.mtu" or "peer[1].routes[0]" (0-based indexes); "" for syntax errors
	Class Class
	Msg   string // what is wrong, lower case, without position or key
	Hint  string // how to fix it, a full sentence; may be empty
}

// Error returns "file:line:col: key: message", leaving out the parts that are empty. The
// hint is not included; see [ErrorList.Error].
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a config file, ordered by position (problems without
// one first). [Parse] and [Load] return one, never empty, as their error.
type ErrorList []*Error

// Error returns one line per problem, each followed by its hint on an indented line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
		if e.Hint != "" {
			b.WriteString("\n\thint: ")
			b.WriteString(e.Hint)
		}
	}
	return b.String()
}

// Unwrap returns the problems, for errors.As and errors.Is.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// sortErrors orders l by position, keeping the order of problems at the same place.
func sortErrors(l []*Error) {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}
