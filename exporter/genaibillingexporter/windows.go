package genaibillingexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/genaimeter/genaimeter/internal/money"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// windowStore remembers, for aggregation, which window event each call went
// into (key "id/<event id>:<meter>" → window key) and each window event with
// its value and whether it is settled (key "win/<window key>"). It makes
// aggregation exactly once per call whatever the batching and restarts:
//   - a call already in a window is never aggregated again: a replay of it
//     (a client retry, a queue redelivery after a crash, a held call let go
//     twice) sends its window again, with the same key and the same value,
//     while that window is not settled (the backend dedupes the key), and
//     nothing once it is;
//   - a window is written before it is sent, so a crash after the send and
//     before the acknowledgement cannot re-aggregate its calls under a new
//     key.
//
// With aggregation.storage (a storage extension, e.g. file_storage) it
// survives restarts; without one it lives in memory (exactly once within a
// run only; the start logs a warning).
type windowStore struct {
	id     *component.ID
	client storage.Client // nil: memory only

	mu  sync.Mutex
	mem map[string][]byte
}

// storedWindow is one window event as sent.
type storedWindow struct {
	Meter    string    `json:"meter"`
	Tenant   string    `json:"tenant"`
	Customer string    `json:"customer"`
	Time     time.Time `json:"time"`
	Value    string    `json:"value"`
	IDs      []string  `json:"ids"`
	// Settled: delivered, found duplicate or refused for good (dead-lettered).
	Settled bool `json:"settled,omitempty"`
}

const windowStorageName = "aggregation"

func openWindowStore(ctx context.Context, host component.Host, id *component.ID, self component.ID) (*windowStore, error) {
	s := &windowStore{id: id, mem: map[string][]byte{}}
	if id == nil {
		return s, nil
	}
	ext, ok := host.GetExtensions()[*id]
	if !ok {
		return nil, fmt.Errorf("aggregation.storage: extension %q not found", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("aggregation.storage: extension %q is not a storage extension", id)
	}
	c, err := se.GetClient(ctx, component.KindExporter, self, windowStorageName)
	if err != nil {
		return nil, fmt.Errorf("aggregation.storage: getting a client of %q: %w", id, err)
	}
	s.client = c
	return s, nil
}

func (s *windowStore) close(ctx context.Context) error {
	if s == nil || s.client == nil {
		return nil
	}
	err := s.client.Close(ctx)
	s.client = nil
	return err
}

func callKey(eventID, meter string) string { return "id/" + eventID + ":" + meter }
func windowRecKey(key string) string       { return "win/" + key }

func (s *windowStore) get(ctx context.Context, key string) ([]byte, error) {
	if s.client == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.mem[key], nil
	}
	b, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("aggregation.storage %q: read %s: %w", s.id, key, err)
	}
	return b, nil
}

func (s *windowStore) set(ctx context.Context, kv map[string][]byte) error {
	if len(kv) == 0 {
		return nil
	}
	if s.client == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		for k, v := range kv {
			s.mem[k] = v
		}
		return nil
	}
	ops := make([]*storage.Operation, 0, len(kv))
	for k, v := range kv {
		ops = append(ops, storage.SetOperation(k, v))
	}
	if err := s.client.Batch(ctx, ops...); err != nil {
		return fmt.Errorf("aggregation.storage %q: write %d entries: %w", s.id, len(ops), err)
	}
	return nil
}

// windowOf returns the window a call on a meter already went into, nil if none.
func (s *windowStore) windowOf(ctx context.Context, eventID, meter string) (string, *storedWindow, error) {
	key, err := s.get(ctx, callKey(eventID, meter))
	if err != nil || key == nil {
		return "", nil, err
	}
	raw, err := s.get(ctx, windowRecKey(string(key)))
	if err != nil {
		return "", nil, err
	}
	if raw == nil {
		return "", nil, fmt.Errorf("aggregation.storage %q: window %s of %s is missing", s.id, key, eventID)
	}
	var w storedWindow
	if err := json.Unmarshal(raw, &w); err != nil {
		return "", nil, fmt.Errorf("aggregation.storage %q: window %s: %w", s.id, key, err)
	}
	return string(key), &w, nil
}

// remember writes new windows and the calls they contain, before they are sent.
func (s *windowStore) remember(ctx context.Context, evs []*event) error {
	kv := map[string][]byte{}
	for _, ev := range evs {
		b, err := json.Marshal(storedWindow{Meter: ev.meter, Tenant: ev.tenant, Customer: ev.customer, Time: ev.time,
			Value: ev.valueText(), IDs: ev.ids})
		if err != nil {
			return err
		}
		kv[windowRecKey(ev.key)] = b
		for _, id := range ev.ids {
			kv[callKey(id, ev.meter)] = []byte(ev.key)
		}
	}
	return s.set(ctx, kv)
}

// settle marks windows as settled: a replay of their calls sends nothing.
func (s *windowStore) settle(ctx context.Context, evs []*event) error {
	kv := map[string][]byte{}
	for _, ev := range evs {
		b, err := json.Marshal(storedWindow{Meter: ev.meter, Tenant: ev.tenant, Customer: ev.customer, Time: ev.time,
			Value: ev.valueText(), IDs: ev.ids, Settled: true})
		if err != nil {
			return err
		}
		kv[windowRecKey(ev.key)] = b
	}
	return s.set(ctx, kv)
}

// eventOf rebuilds the event of a stored window.
func (w *storedWindow) event(key string) (*event, error) {
	ev := &event{key: key, meter: w.Meter, tenant: w.Tenant, customer: w.Customer, time: w.Time, ids: w.IDs}
	v, err := money.Parse(w.Value)
	if err != nil {
		return nil, fmt.Errorf("stored window %s: value %q is not a decimal", key, w.Value)
	}
	ev.value = v
	ev.props = map[string]string{"records": fmt.Sprint(len(w.IDs))}
	return ev, nil
}
