package sqlitestore

import (
	"database/sql/driver"
	"fmt"

	"github.com/cockroachdb/apd/v3"

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

// DecimalSum is the SQL aggregate genaimeter_decimal_sum(x): the exact sum
// of a column of decimal texts, as canonical decimal text, "0" over no
// values. NULL and empty values (an unpriced call's cost) are skipped; any
// other value that is not a decimal fails the statement. It is SQLite's SUM
// without the float: a migration rebuilding a money rollup from the records
// sums with it.
const DecimalSum = "genaimeter_decimal_sum"

func init() {
	if err := sqlite.RegisterDeterministicScalarFunction(DecimalAdd, 2, decimalAdd); err != nil {
		panic(err)
	}
	if err := sqlite.RegisterFunction(DecimalSum, &sqlite.FunctionImpl{NArgs: 1, Deterministic: true,
		MakeAggregate: func(sqlite.FunctionContext) (sqlite.AggregateFunction, error) { return &decimalSum{}, nil }}); err != nil {
		panic(err)
	}
}

// decimalSum is one evaluation of DecimalSum.
type decimalSum struct{ sum apd.Decimal }

func (s *decimalSum) Step(_ *sqlite.FunctionContext, args []driver.Value) error {
	var text string
	switch v := args[0].(type) {
	case nil:
		return nil
	case string:
		text = v
	case []byte:
		text = string(v)
	default:
		return fmt.Errorf("%s: want decimal text, got %T", DecimalSum, args[0])
	}
	if text == "" {
		return nil
	}
	x, err := money.Parse(text)
	if err != nil {
		return fmt.Errorf("%s: %w", DecimalSum, err)
	}
	if err := money.Add(&s.sum, &s.sum, &x); err != nil {
		return fmt.Errorf("%s: %w", DecimalSum, err)
	}
	return nil
}

func (s *decimalSum) WindowInverse(*sqlite.FunctionContext, []driver.Value) error {
	return fmt.Errorf("%s: not a window function", DecimalSum)
}

func (s *decimalSum) WindowValue(*sqlite.FunctionContext) (driver.Value, error) {
	return money.Format(&s.sum), nil
}

func (s *decimalSum) Final(*sqlite.FunctionContext) {}

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
