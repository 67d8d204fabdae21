//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml

// Package genaiusageserviceextension is the genai_usage_service extension:
// the usage service (package usageservice) beside the pipeline that writes
// the ledger it reads. It also provides the plans to the genai_ledger
// exporter (its `balances` setting names this extension), which keeps the
// balances in the ledger's own transaction.
package genaiusageserviceextension // import "github.com/genaimeter/genaimeter/extension/genaiusageserviceextension"
