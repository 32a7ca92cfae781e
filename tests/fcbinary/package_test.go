package fcbinary

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestPackageIsTheZipFCAccepts runs `make package` and checks the zip: the
// executable alone at its root, with its run bit, byte for byte the binary
// `make build` produces, and written outside the build folder, which
// `s deploy` uploads as the function's code.
func TestPackageIsTheZipFCAccepts(t *testing.T) {
	t.Parallel()
	target, dist := filepath.Join(t.TempDir(), "target"), filepath.Join(t.TempDir(), "dist")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-C", root, "--no-print-directory", "package", "TARGET="+target, "DIST="+dist)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make package: %v\n%s", err, out)
	}
	code, err := os.ReadDir(target)
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 1 || code[0].Name() != "main" {
		var names []string
		for _, e := range code {
			names = append(names, e.Name())
		}
		t.Errorf("the folder s deploy uploads holds %q, want only the executable \"main\"", names)
	}
	zr, err := zip.OpenReader(filepath.Join(dist, "function.zip"))
	if err != nil {
		t.Fatalf("open the zip: %v", err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "main" {
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		t.Fatalf("zip holds %q, want only the executable \"main\" at its root", names)
	}
	f := zr.File[0]
	if f.Mode()&0o111 == 0 {
		t.Errorf("main has mode %v in the zip: FC cannot run it without the run bit", f.Mode())
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the zipped main (%d bytes) differs from make build's (%d bytes)", len(got), len(want))
	}
}
