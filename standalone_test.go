package dmsexportlink

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRepoStandsAlone fails when a file points outside the repository (a
// sibling folder or a path of the machine it was written on), or a Go
// comment names a document under docs/ that does not exist: whoever clones
// the project has neither.
func TestRepoStandsAlone(t *testing.T) {
	outside := regexp.MustCompile(`\.\./` + `shared/|shared/` + `notes|/` + `work/`)
	docRef := regexp.MustCompile(`docs/[A-Za-z0-9_-]+\.(md|json|png)`)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Name() == ".git": // a directory, or in a worktree a file naming one
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir():
			switch d.Name() {
			case "target", "dist", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".png") || strings.HasSuffix(path, ".zip") {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(raw), "\n") {
			if m := outside.FindString(line); m != "" {
				t.Errorf("%s:%d points outside the repository (%q); put the facts in docs/ with their public sources", path, i+1, m)
			}
			if strings.HasSuffix(path, ".go") {
				for _, ref := range docRef.FindAllString(line, -1) {
					if _, err := os.Stat(ref); err != nil {
						t.Errorf("%s:%d names %s, which does not exist", path, i+1, ref)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
