package sqlitestore

import (
	"database/sql/driver"
	"fmt"

	"modernc.org/sqlite"

	"github.com/genaimeter/genaimeter/internal/money"
)

// DecimalAdd is the SQL function genaimeter_decimal_add(a, b): the exact sum
// of two decimal texts, as canonical decimal text (money.Format). The ledger
// keeps money as text because SQLite's own arithmetic is floating point;
// with this function a rollup adds a batch's amounts to the stored ones
// inside one upsert (SET cost_usd = genaimeter_decimal_add(cost_usd,
// excluded.cost_usd)) instead of reading the rows back to add them in Go. A
// value that is not a decimal fails the statement, and so the batch.
//
// It is registered for every SQLite connection this process opens; another
// program (the sqlite3 shell) reads the ledger fine but cannot run a
// statement that calls it.
const DecimalAdd = "genaimeter_decimal_add"

func init() {
	if err := sqlite.RegisterDeterministicScalarFunction(DecimalAdd, 2, decimalAdd); err != nil {
		panic(err)
	}
}

func decimalAdd(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	var sum [2]string
	for i, a := range args {
		switch v := a.(type) {
		case string:
			sum[i] = v
		case []byte:
			sum[i] = string(v)
		default:
			return nil, fmt.Errorf("%s: argument %d: want decimal text, got %T", DecimalAdd, i+1, a)
		}
	}
	x, err := money.Parse(sum[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DecimalAdd, err)
	}
	y, err := money.Parse(sum[1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DecimalAdd, err)
	}
	s, err := money.Sum(&x, &y)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DecimalAdd, err)
	}
	return money.Format(&s), nil
}
