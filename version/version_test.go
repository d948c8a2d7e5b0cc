package version

import "testing"

func TestStringShape(t *testing.T) {
	oldHash, oldDirty := GitHash, Dirty
	t.Cleanup(func() { GitHash, Dirty = oldHash, oldDirty })

	GitHash, Dirty = "a8b3e7d3", "false"
	if got, want := String(), Name+" - v"+Version+" (a8b3e7d3)"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	Dirty = "true"
	if got, want := String(), Name+" - v"+Version+" (*a8b3e7d3)"; got != want {
		t.Fatalf("dirty String() = %q, want %q", got, want)
	}
}
