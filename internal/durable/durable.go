// Package durable holds what makes appended files survive a power loss.
package durable

import "os"

// SyncDir fsyncs a directory, so that a file created or renamed in it is
// durable: lines synced into a file whose directory entry a power loss takes
// back are lost all the same.
func SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
