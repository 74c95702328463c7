package kserve

import (
	"testing"

	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }
