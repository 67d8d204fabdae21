package genaibillingexporter

import (
	"context"
	"encoding/json"
	"time"
)

// metronomeMaxBatch is the most events one Metronome ingest request carries.
const metronomeMaxBatch = 100

// Metronome: /v1/ingest, an array of up to 100 events.

type metronome struct {
	httpBackend
	url string
}

func (b *metronome) maxBatch() int { return metronomeMaxBatch }

type metronomeEvent struct {
	TransactionID string            `json:"transaction_id"`
	CustomerID    string            `json:"customer_id"`
	EventType     string            `json:"event_type"`
	Timestamp     string            `json:"timestamp"`
	Properties    map[string]string `json:"properties"`
}

func (b *metronome) send(ctx context.Context, evs []*event) []outcome {
	batch := make([]metronomeEvent, len(evs))
	for i, e := range evs {
		// Property values as strings: Metronome parses numeric strings as
		// exact decimals, a JSON float could be rounded on the way.
		batch[i] = metronomeEvent{TransactionID: e.key, CustomerID: e.customer, EventType: e.meter,
			Timestamp: e.time.UTC().Format(time.RFC3339Nano), Properties: dataWithValue(e)}
	}
	buf, _ := json.Marshal(batch)
	out, resp := b.exchange(ctx, len(evs), b.url, "application/json", buf, nil, false)
	if out != nil {
		return out
	}
	return all(len(evs), outcome{fate: fateDelivered, status: resp.status})
}
