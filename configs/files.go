package configs

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// maxKeyFileSize bounds what is read of a key or secret file: one holds 64 hex digits.
const maxKeyFileSize = 4096

var (
	errIsDir      = errors.New("is a directory")
	errNotRegular = errors.New("not a regular file")
	errTooLarge   = errors.New("file too large")
)

// readFile reads a regular file of at most limit bytes. It looks at the file before opening
// it, so that a FIFO or a device named by mistake is refused rather than read.
func readFile(path string, limit int) ([]byte, fs.FileMode, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if fi.IsDir() {
		return nil, fi.Mode(), errIsDir
	}
	if !fi.Mode().IsRegular() {
		return nil, fi.Mode(), errNotRegular
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, 0, err
	}
	if len(b) > limit {
		return nil, 0, errTooLarge
	}
	return b, fi.Mode(), nil
}

// describeFileError says in a few words why a file could not be read.
func describeFileError(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, errIsDir), errors.Is(err, errNotRegular), errors.Is(err, errTooLarge):
		return err.Error()
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is in the message already
	}
	return err.Error()
}

// path resolves the file name s of the key at path against the config's directory.
func (d *decoder) path(path, s string) (string, bool) {
	if strings.TrimSpace(s) == "" {
		d.valueError(path, ClassValue, "give the name of a file, relative to the config file's directory or absolute", "empty file name")
		return "", false
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(d.dir, s)
	}
	return s, true
}

// hexFile reads a key or secret file: 32 bytes as 64 hex digits, blanks around them allowed.
// what names the file in messages ("key file"); hint says how to make one.
func (d *decoder) hexFile(path, file, what, hint string) ([32]byte, bool) {
	var out [32]byte
	b, mode, err := d.read(file, maxKeyFileSize)
	if err != nil {
		h := hint
		if errors.Is(err, fs.ErrPermission) {
			h = "the " + what + " must be readable by the user running hyperlan (usually root)"
		}
		d.valueError(path, ClassFile, h, "%s %s: %s", what, file, describeFileError(err))
		return out, false
	}
	s := strings.TrimSpace(string(b))
	if len(s) != 2*len(out) {
		d.valueError(path, ClassFile, hint, "%s %s: want 64 hex digits, found %d bytes", what, file, len(s))
		return out, false
	}
	if _, err := hex.Decode(out[:], []byte(s)); err != nil {
		d.valueError(path, ClassFile, hint, "%s %s: want 64 hex digits: %v", what, file, err)
		return out, false
	}
	if perm := mode.Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		p := d.pos.value(path)
		d.warns = append(d.warns, &Error{File: d.file, Line: p.line, Col: p.col, Key: path, Class: ClassFile,
			Msg:  fmt.Sprintf("%s %s can be read by other users (mode %04o)", what, file, perm),
			Hint: fmt.Sprintf("run 'chmod 600 %s'", file)})
	}
	return out, true
}

func keyFileHint(file string) string {
	return fmt.Sprintf("a key file holds this machine's 32-byte seed as 64 hex digits; make one with 'hyperlan keygen --out %s'", file)
}

func secretFileHint(file string) string {
	return fmt.Sprintf("a secret file holds 32 random bytes as 64 hex digits, the same on every member; make one with 'hyperlan secret --out %s' and copy it to the others", file)
}
