//go:build !race

package results

const raceBuild = false
