package money

import (
	"math/big"
	"strconv"
	"testing"

	"github.com/cockroachdb/apd/v3"
)

// TestSumMillionRecords sums a million record costs as the ledger stores
// them (canonical text, parsed back) and checks the total against integer
// arithmetic: not one unit of the smallest exponent may be lost. The costs
// mix exponents (0.01755, 0.000308333…, 1.2) like real records do.
func TestSumMillionRecords(t *testing.T) {
	const n = 1_000_000
	const scale = 12            // every cost below has at most 12 decimals
	var perExp [scale + 1]int64 // sums of coefficients by exponent: no overflow for 1e6 × 1e10
	ds := make([]apd.Decimal, n)
	ptrs := make([]*apd.Decimal, n)
	for i := 0; i < n; i++ {
		// i-dependent amounts with 3 to 12 decimals.
		units := int64(i%9973)*1_000_003 + int64(i%7)*17
		exp := -(3 + i%10)
		var d apd.Decimal
		d.SetFinite(units, int32(exp))
		// Round-trip through the record's text form.
		parsed, err := Parse(Format(&d))
		if err != nil {
			t.Fatal(err)
		}
		ds[i] = parsed
		ptrs[i] = &ds[i]
		perExp[-exp] += units
	}
	want := new(big.Int)
	for e, u := range perExp {
		v := big.NewInt(u)
		v.Mul(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale-e)), nil))
		want.Add(want, v)
	}
	got, err := Sum(ptrs...)
	if err != nil {
		t.Fatal(err)
	}
	wantText := want.String()
	for len(wantText) <= scale {
		wantText = "0" + wantText
	}
	wantDec := MustParse(wantText[:len(wantText)-scale] + "." + wantText[len(wantText)-scale:])
	if !Equal(&got, &wantDec) {
		t.Fatalf("sum %s, want %s", Format(&got), Format(&wantDec))
	}
	if Format(&got) != Format(&wantDec) {
		t.Fatalf("format %s vs %s", Format(&got), Format(&wantDec))
	}
	t.Logf("sum of %d records: %s (%s digits)", n, Format(&got), strconv.Itoa(len(Format(&got))))
}

func BenchmarkSum(b *testing.B) {
	xs := make([]*apd.Decimal, 1000)
	for i := range xs {
		d := MustParse("0.0" + strconv.Itoa(17550+i))
		xs[i] = &d
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Sum(xs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(xs))/b.Elapsed().Seconds(), "records/s")
}
