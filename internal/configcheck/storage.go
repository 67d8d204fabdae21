package configcheck

import (
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// StorageExtension checks at start that id names a started storage
// extension, naming key and id when not. The persistent queue of
// exporterhelper only says "no storage client extension found", which does
// not tell the operator which of the configuration's ids is wrong.
func StorageExtension(key string, id component.ID, host component.Host) error {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return fmt.Errorf("%s: extension %q not found: declare it under extensions and list it in service.extensions", key, id)
	}
	if _, ok := ext.(storage.Extension); !ok {
		return fmt.Errorf("%s: extension %q is not a storage extension", key, id)
	}
	return nil
}
