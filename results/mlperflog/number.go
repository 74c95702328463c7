package mlperflog

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
)

// MaxMagnitude bounds a number read from a log: past it the value is an
// error, not a number to compute with.
const MaxMagnitude = 1e18

// decimalRE is a number as LoadGen prints it: decimal digits, an optional
// fraction and exponent. Go's own syntax (0x1p10, 6_603.3, Inf, NaN) is
// not a LoadGen number.
var decimalRE = regexp.MustCompile(`^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)

// ParseDecimal reads a number strictly: decimal notation only, finite,
// within ±MaxMagnitude.
func ParseDecimal(s string) (float64, error) {
	if len(s) > 64 || !decimalRE.MatchString(s) {
		return 0, fmt.Errorf("%q is not a number (LoadGen writes decimal notation)", abbreviate(s))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || math.Abs(v) > MaxMagnitude {
		return 0, fmt.Errorf("%s is beyond ±%g", abbreviate(s), MaxMagnitude)
	}
	return v, nil
}

// abbreviate shortens a long value for a message.
func abbreviate(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:24] + "…(" + strconv.Itoa(len(s)) + " characters)"
}
