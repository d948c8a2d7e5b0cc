package config

import (
	"encoding/json"
	"fmt"
)

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
