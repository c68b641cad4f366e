package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// MaxConfigSize is the largest config file Load reads.
const MaxConfigSize = 1 << 20

// Load reads the config file at path and parses it with [Parse].
func Load(path string) (*Config, error) {
	data, _, err := readFile(path, MaxConfigSize)
	if err != nil {
		return nil, ErrorList{{File: path, Class: ClassFile, Msg: "cannot read config file: " + describeFileError(err),
			Hint: "pass the path of a readable config file; configs/examples has commented ones"}}
	}
	return Parse(path, data)
}

// Parse decodes and validates the config in data, reads the key and secret files it names
// (relative paths are relative to the directory of name), and derives what the config
// leaves out. name is the file's name in errors. On any problem it returns a nil Config and
// an [ErrorList] of every problem found, each with its position and a hint. Parse never
// panics, whatever data holds.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, readFile)
}

// readFunc reads a key or secret file of at most limit bytes and returns its permissions.
// Tests and the fuzz target replace the file system with one in memory.
type readFunc func(path string, limit int) ([]byte, fs.FileMode, error)

type decoder struct {
	file  string
	dir   string // relative paths in the config are relative to it
	pos   *positions
	read  readFunc
	errs  []*Error
	warns []*Error

	secretNamed bool // network.secret_file is present, valid or not
}

func parse(name string, data []byte, read readFunc) (*Config, error) {
	d := &decoder{file: name, dir: filepath.Dir(name), read: read}
	d.pos = indexPositions(data)
	if d.pos.limit != "" {
		p := d.pos.at(d.pos.limitAt)
		return nil, ErrorList{{File: name, Line: p.line, Col: p.col, Class: ClassSyntax, Msg: d.pos.limit,
			Hint: "no hyperlan config comes near this; is it the right file?"}}
	}
	root, err := decodeTOML(data)
	if err != nil {
		return nil, ErrorList{d.syntaxError(err, data)}
	}
	c := &Config{File: name}

	top := &table{d: d, m: root}
	node := top.sub("node", `[node] on a line of its own, then its keys`)
	network := top.sub("network", `[network] on a line of its own, then its keys`)
	dht := top.sub("dht", `[dht] on a line of its own, then its keys`)
	peers := top.tables("peer", `[[peer]] on a line of its own before each peer's keys`)
	log := top.sub("log", `[log] on a line of its own, then its keys`)
	top.finish()

	d.network(network, c)
	self := d.node(node, c)
	members := []*member{self}
	for _, t := range peers {
		members = append(members, d.peer(t))
	}
	d.dht(dht, c, members)
	d.log(log, c)
	d.members(c, members)

	if len(d.errs) > 0 {
		sortErrors(d.errs)
		return nil, ErrorList(d.errs)
	}
	sortErrors(d.warns)
	c.Warnings = d.warns
	return c, nil
}

// decodeTOML parses data into its generic form. The parser is not ours; should it panic on
// some input, that becomes a syntax error rather than a crash.
func decodeTOML(data []byte) (root map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("the TOML parser failed: %v", r)
		}
	}()
	_, err = toml.Decode(string(data), &root)
	return root, err
}

func (d *decoder) syntaxError(err error, data []byte) *Error {
	e := &Error{File: d.file, Class: ClassSyntax, Msg: err.Error(),
		Hint: "the file must be TOML (https://toml.io); configs/examples has commented configs"}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		e.Msg = pe.Message
		if u := strings.TrimSpace(pe.Usage); u != "" {
			e.Hint = u
		}
		// The parser's line is one too far for errors at a line's end; its byte offset is
		// exact.
		if start := pe.Position.Start; start >= 0 && start <= len(data) {
			p := d.pos.at(start)
			e.Line, e.Col = p.line, p.col
		}
	}
	return e
}

// errorf records a problem at p.
func (d *decoder) errorf(p position, key string, class Class, hint, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: p.line, Col: p.col, Key: key, Class: class,
		Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// valueError records a problem with the value of path.
func (d *decoder) valueError(path string, class Class, hint, format string, args ...any) {
	d.errorf(d.pos.value(path), path, class, hint, format, args...)
}

// warnf records a warning about the value of path: a problem that does not stop the node.
func (d *decoder) warnf(path string, class Class, hint, format string, args ...any) {
	p := d.pos.value(path)
	d.warns = append(d.warns, &Error{File: d.file, Line: p.line, Col: p.col, Key: path, Class: class,
		Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// missing records that the required key path is absent, at its table's header.
func (d *decoder) missing(path, hint string) {
	d.errorf(d.pos.key(pathParent(path)), path, ClassMissing, hint, "required key is missing")
}

func (d *decoder) typeError(path, want string, got any, example string) {
	d.valueError(path, ClassType, "write it like this: "+example, "want %s, found %s", want, tomlType(got))
}

// where describes the position of path for messages about two places ("line 12").
func (d *decoder) where(path string) string {
	p := d.pos.value(path)
	if p.line == 0 {
		return "this file"
	}
	return fmt.Sprintf("line %d", p.line)
}
