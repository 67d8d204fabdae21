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
