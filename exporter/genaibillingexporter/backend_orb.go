package genaibillingexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// orbMaxBatch is the most events one Orb ingest request carries.
const orbMaxBatch = 500

// Orb: /v1/ingest (debug mode reports duplicates and ingested keys).

type orb struct {
	httpBackend
	url string
}

func (b *orb) maxBatch() int { return orbMaxBatch }

type orbEvent struct {
	IdempotencyKey     string                 `json:"idempotency_key"`
	ExternalCustomerID string                 `json:"external_customer_id"`
	EventName          string                 `json:"event_name"`
	Timestamp          string                 `json:"timestamp"`
	Properties         map[string]json.Number `json:"properties"`
}

func (b *orb) send(ctx context.Context, evs []*event) []outcome {
	body := struct {
		Events []orbEvent `json:"events"`
	}{Events: make([]orbEvent, len(evs))}
	for i, e := range evs {
		// Orb aggregates numeric properties; a JSON number literal written
		// from the decimal text is exact on the wire.
		body.Events[i] = orbEvent{IdempotencyKey: e.key, ExternalCustomerID: e.customer, EventName: e.meter,
			Timestamp: e.time.UTC().Format(time.RFC3339Nano), Properties: map[string]json.Number{valueProperty: json.Number(e.valueText())}}
	}
	buf, _ := json.Marshal(&body)
	out, resp := b.exchange(ctx, len(evs), b.url, "application/json", buf, nil, false)
	if out != nil {
		return out
	}
	var r struct {
		ValidationFailed []struct {
			IdempotencyKey   string   `json:"idempotency_key"`
			ValidationErrors []string `json:"validation_errors"`
		} `json:"validation_failed"`
		Debug *struct {
			Duplicate []string `json:"duplicate"`
		} `json:"debug"`
	}
	if err := json.Unmarshal(resp.body, &r); err != nil {
		// The events are ingested (2xx) even if we cannot read the details.
		return all(len(evs), outcome{fate: fateDelivered, status: resp.status})
	}
	pos := make(map[string]int, len(evs))
	for i, e := range evs {
		pos[e.key] = i
	}
	out = all(len(evs), outcome{fate: fateDelivered, status: resp.status})
	if r.Debug != nil {
		for _, k := range r.Debug.Duplicate {
			if i, ok := pos[k]; ok {
				out[i] = outcome{fate: fateDuplicate, status: resp.status}
			}
		}
	}
	for _, f := range r.ValidationFailed {
		if i, ok := pos[f.IdempotencyKey]; ok {
			out[i] = outcome{fate: fatePermanent, status: resp.status, body: strings.Join(f.ValidationErrors, "; "), err: fmt.Errorf("validation failed")}
		}
	}
	return out
}
