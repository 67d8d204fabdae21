package genaibillingexporter

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/filemap"
)

// openCustomers loads the tenant → customer id file (internal/filemap:
// reloaded on change, atomic swap, last good map kept when an edit does not
// parse, so a bad edit never sends records under wrong or no ids). A missing
// or malformed file fails Start: a billing exporter without its customer map
// must not look healthy.
func openCustomers(cfg CustomersConfig, logger *zap.Logger) (*filemap.Map, error) {
	m, err := filemap.Start(cfg.File, filemap.Options{
		Interval: cfg.ReloadInterval,
		OnReload: func(n int) {
			logger.Info("Customer map reloaded", zap.String("path", cfg.File), zap.Int("tenants", n))
		},
		OnError: func(err error) {
			logger.Warn("Customer map file changed but cannot be loaded; keeping the last good map",
				zap.String("path", cfg.File), zap.Error(err))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("customers.file: %w", err)
	}
	return m, nil
}
