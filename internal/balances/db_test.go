package balances

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestToSQLite(t *testing.T) {
	assert.Equal(t, "SELECT a, b FROM t WHERE x = ? AND y IN (?, ?)", toSQLite("SELECT a::text, b::numeric FROM t WHERE x = $1 AND y IN ($2, $3)"))
	// Out of order or repeated: numbered, still correct.
	assert.Equal(t, "SELECT ?2, ?1, ?1", toSQLite("SELECT $2, $1, $1"))
}

// TestChunkSizes: rows are split into whole chunks, then powers of two, so a
// table has at most log2(max)+1 distinct statement texts whatever the batch.
func TestChunkSizes(t *testing.T) {
	assert.Empty(t, chunkSizes(0, 8))
	assert.Equal(t, []int{1}, chunkSizes(1, 8))
	assert.Equal(t, []int{4, 2, 1}, chunkSizes(7, 8))
	assert.Equal(t, []int{8, 8, 4, 1}, chunkSizes(21, 8))
	assert.Equal(t, 1024, maxRows(15)) // 15,360 parameters; 2,048 rows would pass maxParams
	assert.Equal(t, 4096, maxRows(6))
	seen := map[int]bool{}
	for n := range 3000 {
		sum := 0
		for _, k := range chunkSizes(n, 512) {
			seen[k] = true
			sum += k
		}
		assert.Equal(t, n, sum)
	}
	assert.Len(t, seen, 10) // 512, 256, ..., 1
}
