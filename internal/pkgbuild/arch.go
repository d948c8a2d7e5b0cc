package pkgbuild

import "runtime"

// goarch is the architecture the binaries were built for: make build
// builds for the host. nfpm maps Go names to each format's own.
func goarch() string { return runtime.GOARCH }
