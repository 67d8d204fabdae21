package hold // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/hold"

import (
	"context"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Storage keeps the held calls of acknowledged batches, so that they survive
// a restart or a crash. Its methods run under the holder's lock.
type Storage interface {
	// Load reads every call still stored: held when the collector stopped or
	// crashed, never let go and accepted since.
	Load(ctx context.Context) ([]Stored, error)
	// Persist stores the calls one batch leaves held, before the batch is
	// acknowledged, and returns their positions (one per call, in order).
	// On error nothing is stored: the batch is refused and sent again.
	Persist(ctx context.Context, calls []ptrace.Traces) ([]Position, error)
	// Release forgets calls let go and accepted by the next consumer. On
	// error they stay stored and are held again after the next start.
	Release(ctx context.Context, pos []Position) error
	Close(ctx context.Context) error
}

// Position locates a stored call; the zero Position is a call not stored.
type Position struct {
	Seq, Idx uint64
}

// Stored is a call read back from storage.
type Stored struct {
	Traces ptrace.Traces
	Pos    Position
}

// memoryStorage keeps nothing: held calls live in memory only. Shutdown lets
// them go; a crash loses them.
type memoryStorage struct{}

// Memory is the storage of held calls kept in memory only.
func Memory() Storage { return memoryStorage{} }

func (memoryStorage) Load(context.Context) ([]Stored, error) { return nil, nil }

func (memoryStorage) Persist(_ context.Context, calls []ptrace.Traces) ([]Position, error) {
	return make([]Position, len(calls)), nil
}

func (memoryStorage) Release(context.Context, []Position) error { return nil }
func (memoryStorage) Close(context.Context) error               { return nil }
