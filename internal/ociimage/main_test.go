package ociimage

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// What the test binaries are stamped with and the images dated at.
const (
	testVersion  = "v9.8.7-test"
	testCommit   = "0123456789abcdef0123456789abcdef01234567"
	testPlatform = "linux/amd64"
)

var testMeta = Metadata{Version: testVersion, Commit: testCommit, Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}

// testBinaries are the three real binaries, built once for linux/amd64
// exactly as hack/images builds them (so `make images` and this test share
// the build cache), by image name.
var testBinaries = map[string]Binary{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ociimage-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		built, err := GoBuild(context.Background(), "../..", testPlatform, dir, VersionLDFlags(testVersion, testCommit), Images...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "building the binaries for the images:", err)
			return 1
		}
		for i, b := range built {
			testBinaries[Images[i].Name] = b
		}
		return m.Run()
	}()
	os.Exit(code)
}

var (
	builtOnce    sync.Once
	builtIndexes map[string]v1.ImageIndex
	builtErr     error
)

// testIndexes are the three images built once from testBinaries, by name.
func testIndexes(t *testing.T) map[string]v1.ImageIndex {
	t.Helper()
	builtOnce.Do(func() {
		builtIndexes = map[string]v1.ImageIndex{}
		for _, img := range Images {
			idx, err := Build(img, testMeta, []Binary{testBinaries[img.Name]})
			if err != nil {
				builtErr = err
				return
			}
			builtIndexes[img.Name] = idx
		}
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	return builtIndexes
}
