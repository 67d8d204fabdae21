//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml

// Package genaialertsreceiver is the genai_alerts receiver: it turns the
// alerts of the ledger that a genai_usage_service extension serves into log
// records on a logs pipeline, so that any exporter can route them (a Slack or
// PagerDuty webhook, a logs backend). Each alert is emitted once: the
// receiver claims it from the ledger's log outbox, and marks it emitted once
// the pipeline took it; an alert the pipeline refused is claimed again after
// its lease (at least once if the collector dies in between: the
// genaimeter.alert.id attribute is the dedupe key).
package genaialertsreceiver // import "github.com/genaimeter/genaimeter/receiver/genaialertsreceiver"
