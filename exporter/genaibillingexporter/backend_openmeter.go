package genaibillingexporter

import (
	"context"
	"encoding/json"
	"time"
)

// openMeterMaxBatch is the most events one OpenMeter request carries.
const openMeterMaxBatch = 100

// OpenMeter: CloudEvents batch.

type openMeter struct {
	httpBackend
	url    string
	source string
}

func (b *openMeter) maxBatch() int { return openMeterMaxBatch }

type cloudEvent struct {
	SpecVersion string            `json:"specversion"`
	ID          string            `json:"id"`
	Source      string            `json:"source"`
	Type        string            `json:"type"`
	Subject     string            `json:"subject"`
	Time        string            `json:"time"`
	Data        map[string]string `json:"data"`
}

func (b *openMeter) send(ctx context.Context, evs []*event) []outcome {
	batch := make([]cloudEvent, len(evs))
	for i, e := range evs {
		batch[i] = cloudEvent{SpecVersion: "1.0", ID: e.key, Source: b.source, Type: e.meter, Subject: e.customer,
			Time: e.time.UTC().Format(time.RFC3339Nano), Data: dataWithValue(e)}
	}
	buf, _ := json.Marshal(batch)
	out, resp := b.exchange(ctx, len(evs), b.url, "application/cloudevents-batch+json", buf, nil, false)
	if out != nil {
		return out
	}
	return all(len(evs), outcome{fate: fateDelivered, status: resp.status})
}
