// Command package builds the .deb and .rpm packages into a directory
// (make package):
//
//	go run ./scripts/package -version 0.1.0 -bin bin -image-tar dist/ecs-agent-image.tar -out dist
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/open-ecs/ecs-agent/internal/pkgbuild"
)

func main() {
	var o pkgbuild.Options
	out := flag.String("out", "dist", "directory to write the packages to")
	flag.StringVar(&o.Version, "version", "", "package version (semantic)")
	flag.StringVar(&o.BinDir, "bin", "bin", "directory of the static binaries (make build)")
	flag.StringVar(&o.ImageTar, "image-tar", "", "docker save archive of the agent image (make image)")
	flag.StringVar(&o.Root, "root", ".", "the repository checkout")
	flag.StringVar(&o.Arch, "arch", "", "Go architecture of the binaries (default: this machine's)")
	flag.Parse()
	names, err := pkgbuild.Build(o, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, n := range names {
		fmt.Println(n)
	}
}
