package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/hyperlan/hyperlan/dht"
)

// A key file holds the 32-byte seed of an Ed25519 key pair as 64 lower-case hex digits and a
// newline, nothing else; the key pair derives from the seed as the reference's
// keyPair(seed) does. Whoever reads the file can sign as the key, so keygen creates it with
// mode 0600 and the commands that read it warn when others may read it too.

// keyFileHint says where key files come from.
const keyFileHint = "a key file holds a seed in hex; make one with 'hyperlan dht keygen --out FILE'"

// requireKeyFile checks that --key-file was given (a usage error otherwise).
func requireKeyFile(path string) error {
	if path == "" {
		return usageErrorf("--key-file is required").hintf("%s", keyFileHint)
	}
	return nil
}

// readKeyFile reads the key pair in the key file at path. Problems with the file are runtime
// failures (exit 1) named after the file; a file that others may read still works, with a
// hint on stderr.
func readKeyFile(c *cli, path string) (dht.KeyPair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return dht.KeyPair{}, keyFileError(path, err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != dht.SeedSize {
		return dht.KeyPair{}, failf("key file %s: not a key file: want 64 hex digits (a 32-byte seed) and a newline", path).
			hintf("%s", keyFileHint)
	}
	kp, err := dht.NewKeyPair(seed)
	if err != nil {
		return dht.KeyPair{}, failf("key file %s: %v", path, err)
	}
	if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" {
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			fmt.Fprintf(c.stderr, "hyperlan: hint: key file %s can be read by other users (mode %04o); run 'chmod 600 %s'\n", path, perm, path)
		}
	}
	return kp, nil
}

func keyFileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is in our message already
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return failf("key file %s: no such file", path).hintf("make one with 'hyperlan dht keygen --out %s'", path)
	case errors.Is(err, fs.ErrPermission):
		return failf("key file %s: permission denied", path).hintf("the key file must be readable by the user running hyperlan")
	}
	return failf("key file %s: %v", path, err)
}

// writeKeyFile writes kp's seed to a new key file at path with mode 0600. It refuses to
// replace an existing file unless force; a forced write replaces the file in one rename,
// so the old key is never half overwritten.
func writeKeyFile(path string, kp dht.KeyPair, force bool) error {
	return writeSecretFile(path, "key file", "the key pair it holds is then lost", kp.Seed(), force)
}

// writeSecretFile writes secret as 64 hex digits and a newline to a new file at path with
// mode 0600, as writeKeyFile does. what names the file in errors ("key file"); lost says
// what a forced replacement loses, for the hint when the file exists.
func writeSecretFile(path, what, lost string, secret []byte, force bool) error {
	data := []byte(hex.EncodeToString(secret) + "\n")
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return failf("%s %s already exists", what, path).
				hintf("pass --force to replace it; %s", lost)
		}
		if err != nil {
			return writeKeyError(what, path, err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			os.Remove(path)
			return writeKeyError(what, path, err)
		}
		if err := f.Close(); err != nil {
			os.Remove(path)
			return writeKeyError(what, path, err)
		}
		return nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return failf("%s %s: is a directory", what, path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hyperlan-key-*") // mode 0600
	if err != nil {
		return writeKeyError(what, path, err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return writeKeyError(what, path, err)
	}
	return nil
}

func writeKeyError(what, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return failf("cannot write %s %s: %v", what, path, err)
}
